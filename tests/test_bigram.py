from __future__ import annotations

import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F

from charlm import lectures
from charlm.bigram import (
    CountingNgram,
    NeuralBigram,
    ProbabilityTable,
    count_pairs,
    handwritten_nll,
    pair_table,
    running_float32_nll,
)
from charlm.data import build_dataset
from charlm.train import TrainConfig, evaluate, sgd_step, train


def test_counts_by_hand(tiny_vocab):
    X, Y = build_dataset(["ava", "ava", "mia"], tiny_vocab, block_size=1)
    m = CountingNgram(len(tiny_vocab), smoothing=0.0).fit(X, Y)
    s = tiny_vocab.stoi
    assert m.counts[0, s["a"]] == 2 and m.counts[0, s["m"]] == 1
    assert m.counts[s["a"], 0] == 3 and m.counts[s["a"], s["v"]] == 2
    assert m.counts.sum() == len(Y)
    # P(v | a) = 2 / 5 without smoothing
    assert m.probs[s["a"], s["v"]].item() == pytest.approx(2 / 5)


def test_smoothing_adds_pseudo_counts(tiny_vocab):
    X, Y = build_dataset(["ava"], tiny_vocab, block_size=1)
    V = len(tiny_vocab)
    m = CountingNgram(V, smoothing=1.0).fit(X, Y)
    s = tiny_vocab.stoi
    # row 'a' saw 'v' once and '.' once: (1 + 1) / (2 + V)
    assert m.probs[s["a"], s["v"]].item() == pytest.approx(2 / (2 + V))
    assert torch.allclose(m.probs.sum(dim=1), torch.ones(V))


def test_unseen_pair_without_smoothing_is_impossible(tiny_vocab):
    X, Y = build_dataset(["ava"], tiny_vocab, block_size=1)
    m = CountingNgram(len(tiny_vocab), smoothing=0.0).fit(X, Y)
    Xq, Yq = build_dataset(["mia"], tiny_vocab, block_size=1)
    assert math.isinf(evaluate(m, Xq, Yq))


def test_unfitted_model_is_uniform(tiny_vocab):
    V = len(tiny_vocab)
    m = CountingNgram(V, block_size=2, smoothing=0.0)  # even without smoothing
    X, Y = build_dataset(["emma"], tiny_vocab, block_size=2)
    assert evaluate(m, X, Y) == pytest.approx(math.log(V))


def test_trigram_counts_pairs_of_characters(tiny_vocab):
    # the exercise's trigram: P(next | two previous) by hand
    X, Y = build_dataset(["ava", "avi"], tiny_vocab, block_size=2)
    m = CountingNgram(len(tiny_vocab), block_size=2, smoothing=0.0).fit(X, Y)
    s = tiny_vocab.stoi
    ctx = torch.tensor([[s["a"], s["v"]]])
    p = torch.softmax(m(ctx), dim=1)[0]
    assert p[s["a"]].item() == pytest.approx(0.5) and p[s["i"]].item() == pytest.approx(0.5)


def test_model_contract_shapes(tiny_vocab):
    V = len(tiny_vocab)
    idx = torch.zeros(5, 3, dtype=torch.long)
    for model in (
        CountingNgram(V, block_size=2),
        NeuralBigram(V, generator=torch.Generator().manual_seed(0)),
    ):
        assert model(idx).shape == (5, V)


def test_bad_counting_arguments():
    with pytest.raises(ValueError, match="block_size"):
        CountingNgram(27, block_size=0)
    with pytest.raises(ValueError, match="smoothing"):
        CountingNgram(27, smoothing=-1)
    with pytest.raises(ValueError, match="smoothing"):
        CountingNgram(27, smoothing=float("nan"))


def test_neural_bigram_is_row_lookup():
    m = NeuralBigram(7, generator=torch.Generator().manual_seed(1))
    idx = torch.tensor([[3], [0], [6]])
    assert torch.equal(m(idx), m.weight[idx[:, 0]])


def test_neural_bigram_uses_the_generator():
    a = NeuralBigram(5, generator=torch.Generator().manual_seed(7)).weight
    b = torch.randn((5, 5), generator=torch.Generator().manual_seed(7))
    assert torch.equal(a.detach(), b)


def test_neural_bigram_converges_to_the_counts(tiny_words, tiny_vocab):
    # counting without smoothing is the maximum-likelihood bigram: gradient descent can
    # approach its NLL from above, never beat it
    X, Y = build_dataset(tiny_words, tiny_vocab, block_size=1)
    V = len(tiny_vocab)
    best = evaluate(CountingNgram(V, smoothing=0.0).fit(X, Y), X, Y)
    m = NeuralBigram(V, generator=torch.Generator().manual_seed(0))
    start = evaluate(m, X, Y)
    train(m, X, Y, TrainConfig(steps=2000, batch_size=None, lr=20.0))
    end = evaluate(m, X, Y)
    assert best - 1e-5 <= end < best + 0.02 < start


def test_l2_pulls_towards_uniform(tiny_words, tiny_vocab):
    X, Y = build_dataset(tiny_words, tiny_vocab, block_size=1)
    V = len(tiny_vocab)
    norms = []
    for l2 in (0.0, 1.0):
        m = NeuralBigram(V, generator=torch.Generator().manual_seed(0))
        train(m, X, Y, TrainConfig(steps=300, batch_size=None, lr=10.0),
              step=partial(sgd_step, l2=l2))  # fmt: skip
        norms.append(m.weight.detach().pow(2).mean().item())
    assert norms[1] < norms[0]


# --- the full dataset ---------------------------------------------------------------


@pytest.fixture(scope="module")
def all_bigrams(names, vocab):
    return build_dataset(names, vocab, block_size=1)


def test_counting_nll_matches_the_lecture(names, vocab, all_bigrams):
    X, Y = all_bigrams
    m = CountingNgram(len(vocab), smoothing=1.0).fit(X, Y)
    # the lecture's float32 running sum, digit for digit
    assert round(running_float32_nll(m, X, Y), 4) == lectures.PART1_NLL_LOOP
    # the exactly rounded mean is slightly higher; float64 agrees with evaluate's float32
    exact = -m.probs.double()[X[:, 0], Y].log().mean().item()
    assert evaluate(m, X, Y) == pytest.approx(exact, abs=1e-6)
    assert round(exact, 4) == 2.4546


def test_neural_bigram_lecture_recipe(vocab, all_bigrams):
    X, Y = all_bigrams
    counting = evaluate(CountingNgram(len(vocab)).fit(X, Y), X, Y)
    m = NeuralBigram(len(vocab), generator=torch.Generator().manual_seed(lectures.SEED))
    init = evaluate(m, X, Y)
    result = train(m, X, Y, TrainConfig(steps=100, batch_size=None, lr=50.0),
                   step=partial(sgd_step, l2=0.01))  # fmt: skip
    final = evaluate(m, X, Y)
    assert counting < final < 2.48  # approaches the counts (the lecture: ~2.48)
    assert result.losses[0] == pytest.approx(init)  # history[k] is the loss before step k
    assert all(b < a for a, b in zip(result.losses, result.losses[1:]))  # full batch: monotone


def test_pairs_counted_in_a_dict():
    pairs = count_pairs(["emma", "ava"], start="<S>", end="<E>")
    assert pairs["<S>", "e"] == 1 and pairs["m", "m"] == 1 and pairs["a", "<E>"] == 2
    assert sum(pairs.values()) == len("emma") + 1 + len("ava") + 1
    assert count_pairs(["ab"]) == {(".", "a"): 1, ("a", "b"): 1, ("b", "."): 1}


def test_the_dict_and_the_counting_model_agree(tiny_words, tiny_vocab):
    X, Y = build_dataset(tiny_words, tiny_vocab, block_size=1)
    counted = CountingNgram(len(tiny_vocab)).fit(X, Y).counts
    assert torch.equal(pair_table(count_pairs(tiny_words), tiny_vocab.itos), counted)


def test_separate_markers_leave_a_row_and_a_column_empty(tiny_words, tiny_vocab):
    tokens = ["<S>", *tiny_vocab.itos[1:], "<E>"]
    N = pair_table(count_pairs(tiny_words, "<S>", "<E>"), tokens)
    assert N[:, 0].sum() == 0 and N[-1].sum() == 0
    assert N[0].sum() == len(tiny_words) == N[:, -1].sum()
    with pytest.raises(KeyError):
        pair_table(count_pairs(["ab"]), ["a", "b"])  # "." is not among the tokens


def test_probability_table_uses_its_rows(tiny_words, tiny_vocab):
    X, Y = build_dataset(tiny_words, tiny_vocab, block_size=1)
    counting = CountingNgram(len(tiny_vocab)).fit(X, Y)
    table = ProbabilityTable(counting.probs)
    assert torch.equal(table(X), counting(X))
    assert evaluate(table, X, Y) == pytest.approx(evaluate(counting, X, Y))


def test_a_wrongly_normalised_table_is_not_a_distribution(tiny_words, tiny_vocab):
    """Chapter 1's broadcasting trap: without keepdim the columns are divided instead."""
    X, Y = build_dataset(tiny_words, tiny_vocab, block_size=1)
    N = CountingNgram(len(tiny_vocab)).fit(X, Y).counts + 1
    right, wrong = N / N.sum(1, keepdim=True), N / N.sum(1)
    assert torch.allclose(right.sum(1), torch.ones(len(tiny_vocab)))
    assert not torch.allclose(wrong.sum(1), torch.ones(len(tiny_vocab)))
    assert torch.allclose(wrong, N / N.sum(1).view(1, -1))
    # on whole words the two tables give the same sum of log-probabilities
    nll = [-t[X[:, 0], Y].log().mean() for t in (right, wrong)]
    assert nll[0].item() == pytest.approx(nll[1].item(), abs=1e-5)


def test_handwritten_nll_is_cross_entropy():
    logits = torch.randn((16, 27), generator=torch.Generator().manual_seed(0))
    targets = torch.randint(0, 27, (16,), generator=torch.Generator().manual_seed(1))
    expected = F.cross_entropy(logits, targets)
    assert torch.allclose(handwritten_nll(logits, targets), expected, atol=1e-6)
    assert torch.allclose(handwritten_nll(logits, targets, subtract_max=True), expected, atol=1e-6)


def test_subtracting_the_max_keeps_exp_from_overflowing():
    big = torch.tensor([[-100.0, -3.0, 0.0, 100.0]])
    target = torch.tensor([3])
    assert handwritten_nll(big, target).isnan()
    stable = handwritten_nll(big, target, subtract_max=True)
    assert torch.isfinite(stable) and torch.allclose(stable, F.cross_entropy(big, target))
