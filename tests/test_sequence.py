"""Models that predict at every position (charlm.sequence, Chapter 7): left-aligned windows,
the forward after the last character, its chunking, the targets after every prefix and
the loss over them.

A window padded on the left is read as the word is written, from one start token on
(``left_align``), so the number of padding tokens never changes a prediction. The
references below rebuild each row's prefix from the word itself, one row at a time.

Tolerances: float32. Where the reference runs the same tensors (an unchunked forward on
windows without padding) it is compared exactly; where it runs other shapes (chunks, one
row at a time, shorter sequences) the matrix products may round differently, so it is
compared at atol 1e-6 / rtol 1e-5. A model that is not a SequenceModel must get exactly
``F.cross_entropy(model(X), Y)``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from charlm import sequence
from charlm.data import build_dataset
from charlm.models import MLPConfig
from charlm.recurrent import RecurrentConfig
from charlm.sequence import (
    IGNORE,
    SequenceModel,
    aligned_targets,
    left_align,
    length_groups,
    next_char_loss,
    next_chars,
    whole_words,
)
from charlm.train import evaluate
from charlm.transformer import TransformerConfig

ATOL, RTOL = 1e-6, 1e-5

BUILDERS = {
    "rnn": lambda V, T, g: RecurrentConfig("rnn", V, T, n_embd=16, n_hidden=32).build(g),
    "gru": lambda V, T, g: RecurrentConfig("gru", V, T, n_embd=16, n_hidden=32).build(g),
    "transformer": lambda V, T, g: TransformerConfig(V, T, n_layer=2, n_head=2, n_embd=16).build(g),
}


def close(a, b):
    return torch.allclose(a, b, atol=ATOL, rtol=RTOL)


def _build(kind: str, vocab_size: int = 27, block_size: int = 8) -> SequenceModel:
    return BUILDERS[kind](vocab_size, block_size, torch.Generator().manual_seed(0))


def _rows(words, vocab, block_size):
    """build_dataset's rows rebuilt from the words: (window, prefix, targets) for each, where
    the prefix is what the window shows of the word read from one start token on, and the
    targets are the character after each of the prefix's positions."""
    for word in words:
        padded = [0] * block_size + vocab.encode(word) + [0]
        for j in range(len(word) + 1):  # row j reads padded[j : j + block_size]
            start = max(j, block_size - 1)  # keep one boundary token: the start token
            end = j + block_size
            yield padded[j:end], padded[start:end], padded[start + 1 : end + 1]


@pytest.mark.parametrize("kind", BUILDERS)
def test_forward_is_the_last_position_without_padding(kind):
    """For windows with no padding, forward(idx) is exactly all_logits(idx)[:, -1]."""
    model = _build(kind)
    idx = torch.randint(1, 27, (5, 8), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(model(idx), model.all_logits(idx)[:, -1])


@pytest.mark.parametrize("kind", BUILDERS)
def test_forward_reads_a_padded_window_from_its_start_token(kind, tiny_words, tiny_vocab):
    """forward on build_dataset's windows is the last position of all_logits on the word's
    prefix read from one start token on: the padding in front never reaches the model."""
    V = len(tiny_vocab)
    model = _build(kind, V)
    X, _ = build_dataset(tiny_words, tiny_vocab, 8)
    with torch.no_grad():
        got = model(X)
        for row, (window, prefix, _) in enumerate(_rows(tiny_words, tiny_vocab, 8)):
            assert X[row].tolist() == window
            want = model.all_logits(torch.tensor([prefix]))[0, -1]
            assert close(got[row], want), (row, window)


@pytest.mark.parametrize("kind", BUILDERS)
def test_padding_length_does_not_change_predictions(kind, tiny_words, tiny_vocab):
    """The same word in windows of 8 and of 12 gets the same predictions (names of at most
    7 letters, so both windows reach back to the start token)."""
    words = [w for w in tiny_words if len(w) <= 7]
    model = _build(kind, len(tiny_vocab), block_size=12)
    X8, Y8 = build_dataset(words, tiny_vocab, 8)
    X12, Y12 = build_dataset(words, tiny_vocab, 12)
    assert torch.equal(Y8, Y12)
    with torch.no_grad():
        assert close(model(X8), model(X12))
        assert not close(model.all_logits(X8)[:, -1], model.all_logits(X12)[:, -1])


@pytest.mark.parametrize("kind", BUILDERS)
def test_forward_in_chunks(kind, monkeypatch):
    """With more rows than CHUNK, forward runs chunks of at most CHUNK rows, in order, and
    returns the same logits as one pass over every row."""
    model = _build(kind)
    idx = torch.randint(0, 27, (10, 8), generator=torch.Generator().manual_seed(2))
    idx[:4, :3] = 0  # some windows with padding in front
    with torch.no_grad():
        want = model(idx)  # CHUNK = 4096: one chunk
        monkeypatch.setattr(sequence, "CHUNK", 3)
        sizes = []
        all_logits = model.all_logits

        def spy(part):
            sizes.append(part.shape[0])
            return all_logits(part)

        monkeypatch.setattr(model, "all_logits", spy)
        got = model(idx)
    assert sizes == [3, 3, 3, 1]
    assert got.shape == (10, 27)
    assert close(got, want)


def test_left_align_moves_the_padding_behind_the_word():
    """One start token stays in front; the other boundary tokens go to the end as ``fill``;
    ``last`` is the position of the window's last character."""
    X = torch.tensor([[0, 0, 0, 5, 13], [0, 0, 0, 0, 0], [0, 1, 2, 3, 4], [7, 0, 2, 3, 4]])
    aligned, last = left_align(X, fill=9)
    assert aligned.tolist() == [
        [0, 5, 13, 9, 9],
        [0, 9, 9, 9, 9],  # a word's first window: only the start token
        [0, 1, 2, 3, 4],  # one boundary token: unchanged
        [7, 0, 2, 3, 4],  # no leading one: unchanged
    ]
    assert last.tolist() == [2, 0, 4, 4]


def test_next_chars_doctest_case():
    """A leading pad becomes IGNORE; the last target is Y even when Y is the end token 0."""
    X = torch.tensor([[0, 0, 5], [3, 4, 5]])
    assert next_chars(X, torch.tensor([0, 7])).tolist() == [[-1, 5, 0], [4, 5, 7]]


@pytest.mark.parametrize("block_size", [3, 8])
def test_next_chars_on_a_real_dataset(tiny_words, tiny_vocab, block_size):
    """On build_dataset's windows: the target at t is the word's character after the prefix
    ending at t, IGNORE where that is a leading pad, and the last column is Y (block 3 has
    windows that start inside a word, block 8 windows that are mostly padding)."""
    X, Y = build_dataset(tiny_words, tiny_vocab, block_size)
    expected = []
    for word in tiny_words:
        padded = [0] * block_size + tiny_vocab.encode(word) + [0]
        for j in range(len(word) + 1):  # row j reads padded[j : j + block_size]
            nxt = [padded[j + t + 1] for t in range(block_size)]
            expected.append([c if j + t + 1 >= block_size else IGNORE for t, c in enumerate(nxt)])
    targets = next_chars(X, Y)
    assert targets.shape == X.shape
    assert targets.tolist() == expected
    assert torch.equal(targets[:, -1], Y)
    assert int((targets[:, -1] == 0).sum()) == len(tiny_words)  # end tokens stay targets
    assert (
        ((targets == IGNORE) == (X.roll(-1, dims=1) == 0))
        .logical_or(torch.arange(block_size) == block_size - 1)
        .all()
    )  # IGNORE exactly where the next window position is padding


def test_loss_of_an_ordinary_model_is_cross_entropy(tiny_words, tiny_vocab):
    """A model that is not a SequenceModel is scored on its one prediction, bit for bit."""
    X, Y = build_dataset(tiny_words, tiny_vocab, 3)
    model = MLPConfig(vocab_size=len(tiny_vocab), n_embd=4, n_hidden=8).build(
        torch.Generator().manual_seed(0)
    )
    assert not isinstance(model, SequenceModel)
    assert torch.equal(next_char_loss(model, X, Y), F.cross_entropy(model(X), Y))


def _loss_by_hand(model, words, vocab, block_size):
    """Mean -log p(next character) over every position of every row's prefix, one row at a
    time; and the number of terms."""
    terms = []
    with torch.no_grad():
        for _, prefix, targets in _rows(words, vocab, block_size):
            logp = model.all_logits(torch.tensor([prefix]))[0].log_softmax(-1)  # (len, V)
            terms += [-logp[t, c] for t, c in enumerate(targets)]
    return torch.stack(terms).mean(), len(terms)


@pytest.mark.parametrize("kind", BUILDERS)
@pytest.mark.parametrize("block_size", [3, 8])
def test_loss_of_a_sequence_model_covers_every_real_position(
    kind, block_size, tiny_words, tiny_vocab
):
    """For a SequenceModel the loss is the mean of -log p(next character) over every
    position of each window's left-aligned prefix, recomputed here a row at a time."""
    X, Y = build_dataset(tiny_words, tiny_vocab, block_size)
    model = _build(kind, len(tiny_vocab))
    loss = next_char_loss(model, X, Y)
    by_hand, n_terms = _loss_by_hand(model, tiny_words, tiny_vocab, block_size)
    with torch.no_grad():
        last_only = F.cross_entropy(model(X), Y)
    assert n_terms > X.shape[0]  # more than one position per row is scored
    assert loss.requires_grad
    assert close(loss, by_hand)
    assert not torch.allclose(loss, last_only, atol=1e-4)  # not only the last position


@pytest.mark.parametrize("kind", BUILDERS)
def test_whole_words_hold_every_prediction_once(kind, tiny_words, tiny_vocab):
    """With block_size above the longest word, whole_words keeps one window per word, and
    its loss is the mean over every character of every word and its end token."""
    X, Y = build_dataset(tiny_words, tiny_vocab, 9)  # the longest tiny word has 8 letters
    Xw, Yw = whole_words(X, Y)
    assert Xw.shape == (len(tiny_words), 9)
    assert torch.equal(Yw, torch.zeros(len(tiny_words), dtype=torch.long))
    model = _build(kind, len(tiny_vocab), block_size=9)
    terms = []
    with torch.no_grad():
        for word in tiny_words:
            ids = [0, *tiny_vocab.encode(word)]  # the start token, then the word
            logp = model.all_logits(torch.tensor([ids]))[0].log_softmax(-1)
            targets = ids[1:] + [0]  # each next letter, then the end token
            terms += [-logp[t, c] for t, c in enumerate(targets)]
    assert len(terms) == sum(len(w) + 1 for w in tiny_words)
    assert close(next_char_loss(model, Xw, Yw), torch.stack(terms).mean())


@pytest.mark.parametrize("kind", BUILDERS)
def test_evaluate_from_one_window_per_word_is_the_window_by_window_loss(
    kind, tiny_words, tiny_vocab
):
    """``evaluate`` scores a sequence model from the windows that end each word; that is the
    same number as scoring every window's last position, when the words fit their windows."""
    model = _build(kind, len(tiny_vocab), block_size=max(map(len, tiny_words)) + 1).eval()
    X, Y = build_dataset(tiny_words, tiny_vocab, model.block_size)
    by_window = F.cross_entropy(model(X), Y).item()
    assert evaluate(model, X, Y) == pytest.approx(by_window, abs=1e-6)
    assert not model.training  # eval mode kept as it was


@pytest.mark.parametrize("kind", BUILDERS)
def test_evaluate_scores_window_by_window_when_a_word_fills_its_window(
    kind, tiny_words, tiny_vocab, monkeypatch
):
    model = _build(kind, len(tiny_vocab), block_size=3).eval()  # words longer than 2 letters
    X, Y = build_dataset(tiny_words, tiny_vocab, 3)
    calls = []
    monkeypatch.setattr(
        model, "all_logits", lambda idx, f=model.all_logits: calls.append(idx.shape) or f(idx)
    )
    assert evaluate(model, X, Y) == F.cross_entropy(model(X), Y).item()
    assert calls[0][0] == len(X)  # every window, not one per word


@pytest.mark.parametrize("kind", BUILDERS)
def test_the_loss_reads_each_group_up_to_its_longest_window(kind, tiny_words, tiny_vocab,
                                                            monkeypatch):  # fmt: skip
    """Padding after a window's word has nothing to predict: the batch is read in groups of
    similar length, each only as wide as its longest window, and the loss is what the whole
    batch at full width gives."""
    X, Y = whole_words(*build_dataset(tiny_words, tiny_vocab, 14))  # words of at most 8
    model = _build(kind, len(tiny_vocab), block_size=14)
    read = []
    full = model.all_logits
    monkeypatch.setattr(model, "all_logits", lambda idx: read.append(idx) or full(idx))
    loss = next_char_loss(model, X, Y)
    lengths = sorted(len(w) + 1 for w in tiny_words)  # the start token and the word
    assert sum(len(idx) for idx in read) == len(tiny_words)  # every window once
    widths = [idx.shape[1] for idx in read]
    assert len(read) > 1 and widths == sorted(widths)  # groups, shortest first
    assert widths[0] < widths[-1] == lengths[-1] < 14  # each as wide as its longest window
    inputs, targets = left_align(X)[0], aligned_targets(X, Y)
    whole = F.cross_entropy(full(inputs).flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
    assert close(loss, whole)


def test_length_groups_cover_the_batch_shortest_first():
    last = torch.tensor([4, 0, 7, 2, 2, 9, 1])
    groups = length_groups(last, groups=3)
    rows = torch.cat([r for r, _ in groups])
    assert sorted(rows.tolist()) == list(range(7))  # every row once
    assert [r.tolist() for r, _ in groups] == [[1, 6, 3], [4, 0, 2], [5]]  # shortest first
    assert [w for _, w in groups] == [3, 8, 10]  # each group's longest last position + 1
    assert all(last[r].max() + 1 == w for r, w in groups)
