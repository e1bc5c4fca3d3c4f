from __future__ import annotations

import torch
import torch.nn as nn

from charlm.bigram import CountingNgram, NeuralBigram
from charlm.data import build_dataset
from charlm.sample import sample, sample_together


class NeverEnds(nn.Module):
    """A model that gives the end token no probability at all."""

    block_size = 2

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size

    def forward(self, idx):
        logits = torch.zeros(idx.shape[0], self.vocab_size)
        logits[:, 0] = -float("inf")
        return logits


def test_same_seed_same_words(tiny_words, tiny_vocab):
    X, Y = build_dataset(tiny_words, tiny_vocab, 1)
    m = CountingNgram(len(tiny_vocab)).fit(X, Y)
    a = sample(m, tiny_vocab, 10, torch.Generator().manual_seed(5))
    b = sample(m, tiny_vocab, 10, torch.Generator().manual_seed(5))
    assert a == b and len(a) == 10
    assert all(set(w) <= set(tiny_vocab.itos[1:]) for w in a)


def test_cannot_loop_forever(tiny_vocab):
    words = sample(NeverEnds(len(tiny_vocab)), tiny_vocab, 3, torch.Generator(), max_len=17)
    assert [len(w) for w in words] == [17, 17, 17]


def test_a_deterministic_model_writes_its_only_word(tiny_vocab):
    # a counting model fitted on one word, without smoothing, can only write that word
    X, Y = build_dataset(["ava"], tiny_vocab, block_size=2)
    m = CountingNgram(len(tiny_vocab), block_size=2, smoothing=0.0).fit(X, Y)
    assert sample(m, tiny_vocab, 3, torch.Generator().manual_seed(0)) == ["ava"] * 3


def test_restores_training_mode(tiny_vocab):
    m = NeuralBigram(len(tiny_vocab), generator=torch.Generator().manual_seed(0))
    m.train()
    sample(m, tiny_vocab, 2, torch.Generator().manual_seed(0))
    assert m.training


def test_drawn_together_a_deterministic_model_writes_its_only_word(tiny_vocab):
    X, Y = build_dataset(["ava"], tiny_vocab, block_size=2)
    m = CountingNgram(len(tiny_vocab), block_size=2, smoothing=0.0).fit(X, Y)
    assert sample_together(m, tiny_vocab, 4, torch.Generator().manual_seed(0)) == ["ava"] * 4


def test_drawn_together_stops_at_max_len_and_repeats_with_its_seed(tiny_words, tiny_vocab):
    never = NeverEnds(len(tiny_vocab))
    words = sample_together(never, tiny_vocab, 3, torch.Generator(), max_len=17)
    assert [len(w) for w in words] == [17, 17, 17]
    X, Y = build_dataset(tiny_words, tiny_vocab, 1)
    m = CountingNgram(len(tiny_vocab)).fit(X, Y)
    a = sample_together(m, tiny_vocab, 50, torch.Generator().manual_seed(5))
    assert a == sample_together(m, tiny_vocab, 50, torch.Generator().manual_seed(5))
    assert len(set(a)) > 1 and all(set(w) <= set(tiny_vocab.itos[1:]) for w in a)


def test_drawn_together_the_words_follow_the_model(tiny_words, tiny_vocab):
    # a bigram's first letters, drawn 4,000 at once, follow its first row of probabilities
    X, Y = build_dataset(tiny_words, tiny_vocab, 1)
    m = CountingNgram(len(tiny_vocab)).fit(X, Y)
    words = sample_together(m, tiny_vocab, 4000, torch.Generator().manual_seed(0), max_len=1)
    first = torch.tensor([tiny_vocab.stoi[w[0]] if w else 0 for w in words])
    share = torch.bincount(first, minlength=len(tiny_vocab)).float() / len(words)
    expected = torch.softmax(m(torch.zeros((1, 1), dtype=torch.long)), dim=1)[0]
    assert (share - expected).abs().max() < 0.03


class ReadsTheBatch(nn.Module):
    """In training mode it reads the batch, as BatchNorm does: its first character is the
    one whose id is the batch's size; in eval mode it ends every word at once."""

    block_size = 1

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, idx):
        wanted = len(idx) if self.training else 0
        nxt = torch.where(idx[:, -1] == 0, wanted, 0)  # after the start: wanted, then "."
        return torch.nn.functional.one_hot(nxt, self.vocab_size).float() * 50


def test_drawn_together_uses_the_model_in_its_mode(tiny_vocab):
    m = ReadsTheBatch(len(tiny_vocab))
    g = torch.Generator().manual_seed(0)
    assert sample_together(m.eval(), tiny_vocab, 3, g) == [""] * 3
    assert sample_together(m.train(), tiny_vocab, 3, g) == [tiny_vocab.itos[3]] * 3
    assert sample_together(m, tiny_vocab, 5, g) == [tiny_vocab.itos[5]] * 5
    assert m.training  # left as it was
    assert sample(m, tiny_vocab, 3, g) == [""] * 3  # sample() uses eval mode
