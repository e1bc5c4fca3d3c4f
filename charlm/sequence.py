"""Models that predict at every position of their context, and the loss that uses it (Chapter 7).

The book's contract is ``model(idx (B, T)) -> logits (B, vocab)``: the next character after
each context window. The recurrent networks and the Transformer of Chapter 7 read a
sequence one position at a time (or all at once, causally), so they predict the next
character after *every prefix* of it for the price of one. That is the one way the
contract grows:

- such a model subclasses ``SequenceModel`` and writes ``all_logits(idx (B, T)) -> (B, T,
  vocab)``, where position t's logits depend on ``idx[:, :t + 1]`` only;
- it reads a window as a word is written: from its start token on (``left_align``). The
  book's windows are padded on the left with boundary tokens; one of them is the start
  token, the others are moved to the right end, where no prediction reads them;
- its ``forward`` is the logits after the window's last character, so ``evaluate``,
  ``sample`` and every other part of the book use it like any other model;
- ``next_char_loss`` trains it on every position of the window at once. Given the windows
  that end a word (``whole_words``), one row holds all of a word's predictions. It reads a
  batch in groups of windows of similar length, each cut after its longest window, so the
  model reads little padding; each window's logits depend on that window alone (no
  statistics across the batch), so the loss is the same as from the whole batch at once
  (a model with dropout draws its random masks for the smaller pieces instead).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

IGNORE = -1  # the target of a position with nothing to predict
CHUNK = 4096  # windows per forward pass when a whole split is evaluated at once
GROUPS = 4  # a training batch is read in this many groups of windows of similar length


class SequenceModel(nn.Module):
    """A model with logits at every position: ``all_logits(idx) -> (B, T, vocab)`` (Chapter 7)."""

    block_size: int  # the context length, for sample()

    def all_logits(self, idx: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """The next character after each window (B, V), read from its start token on.

        Windows go through in chunks, so a whole split (a quarter of a million windows for
        the training set) is evaluated without holding every position's activations.
        """
        rows = []
        for part in idx.split(CHUNK):
            aligned, last = left_align(part)
            rows.append(self.all_logits(aligned)[torch.arange(len(part)), last])
        return torch.cat(rows)  # (B, V)


def left_align(X: torch.Tensor, fill: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Each window with its leading boundary tokens but one moved to the right end.

    ``[0, 0, 0, e, m]`` becomes ``[0, e, m, 0, 0]``: the start token at position 0, the word
    after it, as it is written. Returns the aligned windows (B, T), with ``fill`` in the
    freed places, and the position of each window's last character (B,).

    >>> left_align(torch.tensor([[0, 0, 0, 5, 13]]))
    (tensor([[ 0,  5, 13,  0,  0]]), tensor([2]))
    """
    index, last = _alignment(X)
    return _move(X, index, fill), last


def _alignment(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each place of an aligned window reads from in ``X`` (B, T), and the last place."""
    T = X.shape[1]
    pads = (X == 0).long().cumprod(dim=1).sum(dim=1)  # leading boundary tokens, (B,)
    shift = (pads - 1).clamp(min=0)  # keep one: the start token
    return torch.arange(T, device=X.device) + shift[:, None], T - 1 - shift


def _move(values: torch.Tensor, index: torch.Tensor, fill: int) -> torch.Tensor:
    T = values.shape[1]
    return values.gather(1, index.clamp(max=T - 1)).masked_fill(index >= T, fill)


def next_chars(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """The target after every prefix of each window (B, T): the window shifted left, then Y.

    Inside ``X`` the boundary token (id 0) is only ever padding before a word's start, so a
    target of 0 there is not a real next character and becomes ``IGNORE``. The last target
    is ``Y``, which may be the end token.

    >>> next_chars(torch.tensor([[0, 0, 5]]), torch.tensor([1])).tolist()
    [[-1, 5, 1]]
    """
    shifted = X[:, 1:].masked_fill(X[:, 1:] == 0, IGNORE)  # (B, T-1)
    return torch.cat([shifted, Y[:, None]], dim=1)  # (B, T)


def aligned_targets(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """What each position of ``left_align(X)`` predicts (B, T): ``next_chars(X, Y)``, moved
    the same way, and ``IGNORE`` after the window's last character."""
    index, _ = _alignment(X)
    return _move(next_chars(X, Y), index, IGNORE)


def whole_words(X: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The windows whose target is the end token: with ``block_size`` above the longest
    word's length, one per word, holding all of it, and all of its targets."""
    ends = Y == 0
    return X[ends], Y[ends]


@torch.no_grad()
def window_loss(model: SequenceModel, X: torch.Tensor, Y: torch.Tensor) -> float:
    """``evaluate`` for a ``SequenceModel``: the mean loss of the next character after each
    window (X, Y), in the model's current mode, computed from one window per word.

    When every word fits its window with room for the start token, the window that ends a
    word predicts, position by position, every character of that word from exactly the
    characters its own window holds, so the mean over those windows' positions is the mean
    over all windows: the same number, for about a sixth of the work. Otherwise the
    windows are scored one by one.
    """
    ends_X, ends_Y = whole_words(X, Y)
    if len(ends_X) == 0 or not bool((ends_X[:, 0] == 0).all()):  # a word fills its window
        return F.cross_entropy(model(X), Y).item()
    total, count = 0.0, 0
    for part_X, part_Y in zip(ends_X.split(CHUNK), ends_Y.split(CHUNK)):
        inputs, _ = left_align(part_X)
        targets = aligned_targets(part_X, part_Y)
        logits = model.all_logits(inputs)  # (B, T, V)
        total += F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE,
                                 reduction="sum").item()  # fmt: skip
        count += int((targets != IGNORE).sum())
    return total / count


def length_groups(last: torch.Tensor, groups: int = GROUPS) -> list[tuple[torch.Tensor, int]]:
    """A batch's rows in ``groups`` groups of similar length, shortest first, each with the
    width that holds its longest window: ``last`` (B,) is each window's last position.

    >>> length_groups(torch.tensor([5, 1, 2, 9]), groups=2)
    [(tensor([1, 2]), 3), (tensor([0, 3]), 10)]
    """
    order = last.argsort(stable=True)
    return [(rows, int(last[rows].max()) + 1) for rows in order.chunk(groups)]


def next_char_loss(model: nn.Module, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the next character: ``F.cross_entropy(model(X), Y)``, or, for a
    ``SequenceModel``, at every position of each left-aligned window (Chapters 1 and 7)."""
    if not isinstance(model, SequenceModel):
        return F.cross_entropy(model(X), Y)
    inputs, last = left_align(X)  # (B, T): the start token, the word, then padding
    targets = aligned_targets(X, Y)  # (B, T)
    # windows of similar length read together, each group cut after its longest window:
    # the positions after it are padding with nothing to predict, so no model reads them
    total, count = torch.zeros(()), 0
    for rows, width in length_groups(last):
        logits = model.all_logits(inputs[rows, :width])  # (b, width, V)
        wanted = targets[rows, :width]  # (b, width)
        total = total + F.cross_entropy(logits.flatten(0, 1), wanted.flatten(),
                                        ignore_index=IGNORE, reduction="sum")  # fmt: skip
        count += int((wanted != IGNORE).sum())
    return total / count  # the mean over every real position of the batch
