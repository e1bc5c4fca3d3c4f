"""Seeded sampling from any model honouring ``idx (B, T) -> logits (B, vocab)`` (Chapter 1).

The options (a temperature, the ``k`` most likely characters only, a prefix to continue)
are the ones the ``charlm sample`` command offers; at their defaults, sampling draws from
the model's own distribution, as in every chapter.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from charlm.vocab import Vocab


def check_options(temperature: float = 1.0, top_k: int | None = None) -> None:
    """ValueError, naming the option, for a temperature or top-k that cannot be used."""
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top-k must be a whole number >= 1, got {top_k!r}")


@torch.no_grad()
def sample(
    model: nn.Module,
    vocab: Vocab,
    n: int,
    generator: torch.Generator,
    max_len: int = 50,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    prefix: str = "",
) -> list[str]:
    """Draw ``n`` words, one character at a time, until ``.`` or ``max_len`` (Chapter 1).

    The model reads a context of ``model.block_size`` ids that starts as boundary tokens,
    then ``prefix`` (each word begins with it). ``temperature`` divides the logits (below
    1: safer, more common choices; above 1: more adventurous); ``top_k`` keeps only the
    ``k`` most likely next characters. It runs in eval mode (running statistics untouched)
    and is put back as it was.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be a positive integer, got {max_len!r}")
    check_options(temperature, top_k)
    if vocab.boundary in prefix:
        raise ValueError(f"{vocab.boundary!r} marks a word's end: a prefix cannot hold it")
    start = vocab.encode(prefix)  # a character outside the vocabulary raises ValueError
    block_size = model.block_size
    device = next(model.parameters(), torch.empty(0)).device
    was_training = model.training
    model.eval()
    words = []
    try:
        for _ in range(n):
            context = ([0] * block_size + start)[-block_size:]
            out: list[int] = list(start)
            while len(out) < max_len:
                logits = model(torch.tensor([context], device=device)).cpu()  # (1, V)
                if temperature != 1.0:  # (at 1.0 the logits are used as they are)
                    logits = logits / temperature
                if top_k is not None and top_k < logits.shape[1]:
                    kth = torch.topk(logits, top_k, dim=1).values[:, -1:]  # (1, 1)
                    logits = logits.masked_fill(logits < kth, float("-inf"))
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
