from __future__ import annotations

import torch
import torch.nn as nn

from charlm.bigram import CountingNgram, NeuralBigram
from charlm.data import build_dataset
from charlm.sample import sample


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
