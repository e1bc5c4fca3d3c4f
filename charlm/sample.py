"""Seeded sampling from any model honouring ``idx (B, T) -> logits (B, vocab)`` (Chapter 1)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from charlm.vocab import Vocab


@torch.no_grad()
def sample(
    model: nn.Module,
    vocab: Vocab,
    n: int,
    generator: torch.Generator,
    max_len: int = 50,
) -> list[str]:
    """Draw ``n`` words, one character at a time, until ``.`` or ``max_len`` (Chapter 1).

    The model reads a context of ``model.block_size`` ids that starts as boundary tokens.
    It runs in eval mode (running statistics untouched) and is put back as it was.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be a positive integer, got {max_len!r}")
    block_size = model.block_size
    was_training = model.training
    model.eval()
    words = []
    try:
        for _ in range(n):
            context = [0] * block_size
            out: list[int] = []
            while len(out) < max_len:
                logits = model(torch.tensor([context]))  # (1, V)
                probs = F.softmax(logits, dim=1)  # (1, V)
                ix = torch.multinomial(probs, num_samples=1, generator=generator).item()
                if ix == 0:
                    break
                out.append(ix)
                context = context[1:] + [ix]
            words.append(vocab.decode(out))
    finally:
        model.train(was_training)
    return words
