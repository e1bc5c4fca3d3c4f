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


@torch.no_grad()
def sample_together(
    model: nn.Module, vocab: Vocab, n: int, generator: torch.Generator, max_len: int = 50
) -> list[str]:
    """Draw ``n`` words at once: one batch of ``n`` contexts, in the model's mode (Chapter 5).

    Each step feeds every context through the model together and draws each row's next
    character. A row that has drawn ``.`` is finished: it goes on being fed (its later
    draws are dropped), so the batch keeps its size. A model whose rows do not depend on
    one another gives words from the same distribution as ``sample`` (drawn in another
    order). BatchNorm in training mode is such a dependence: it normalises each row with
    the statistics of the whole batch, so what one word becomes depends on the others.
    """
    if n < 1 or max_len < 1:
        raise ValueError(f"n and max_len must be positive integers, got {n!r} and {max_len!r}")
    device = next(model.parameters(), torch.empty(0)).device
    context = torch.zeros((n, model.block_size), dtype=torch.long, device=device)  # (n, T)
    drawn = torch.zeros((n, max_len), dtype=torch.long)  # each row's characters, then 0s
    finished = torch.zeros(n, dtype=torch.bool)
    for t in range(max_len):
        probs = F.softmax(model(context).cpu(), dim=1)  # (n, V)
        ix = torch.multinomial(probs, num_samples=1, generator=generator)[:, 0]  # (n,)
        drawn[:, t] = ix.masked_fill(finished, 0)
        finished |= ix == 0
        if finished.all():
            break
        context = torch.cat([context[:, 1:], ix[:, None].to(device)], dim=1)
    words = []
    for row in drawn.tolist():
        end = row.index(0) if 0 in row else max_len
        words.append(vocab.decode(row[:end]))
    return words
