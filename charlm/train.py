"""The training loop and split evaluation shared by every chapter (Chapters 1-2).

What it is about: the lectures' gradient descent on minibatches (or the full batch) with
their step learning-rate schedule, seeded batch sampling and a per-step loss history. What
it is not about: models (any ``idx -> logits`` module), data loading, or plotting. Later
chapters plug into the loop rather than change it: a ``step`` other than ``sgd_step``
(Chapter 4's hand-written gradients, Chapter 6's AdamW in ``charlm.optim``), ``hooks``
that watch every step (Chapter 3's diagnostics, Chapter 7's dev checks), and ``watch``, the
seam below, by which a tool outside the lessons (the book's build) sees every loop.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
import torch.nn as nn
import torch.nn.functional as F

from charlm.sequence import SequenceModel, next_char_loss, window_loss


def positive_int(owner: str, name: str, value: Any) -> None:
    """Raise ValueError unless ``value`` is a positive integer: every config's first check."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{owner}.{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """The lectures' training recipe (Chapter 1); invalid values raise ValueError."""

    steps: int = 200_000  # optimisation steps (one batch each)
    batch_size: int | None = 32  # examples per step; None means the whole set (full batch)
    lr: float = 0.1  # learning rate before decay_step
    decay_step: int | None = None  # from this step on the rate is lr_final (step schedule)
    lr_final: float | None = None  # learning rate from decay_step on

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"TrainConfig.{name} {why}, got {getattr(self, name)!r}")

        positive_int("TrainConfig", "steps", self.steps)
        if self.batch_size is not None and (
            not isinstance(self.batch_size, int) or self.batch_size <= 0
        ):
            raise bad("batch_size", "must be a positive integer or None (full batch)")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise bad("lr", "must be a finite number > 0")
        if (self.decay_step is None) != (self.lr_final is None):
            raise bad("decay_step", "and lr_final must be given together")
        if self.decay_step is not None:
            if not isinstance(self.decay_step, int) or not 0 < self.decay_step <= self.steps:
                raise bad("decay_step", "must be an integer in 1..steps")
            if not (math.isfinite(self.lr_final) and self.lr_final > 0):
                raise bad("lr_final", "must be a finite number > 0")

    def lr_at(self, step: int) -> float:
        """The learning rate used at ``step`` (0-based)."""
        if self.decay_step is not None and step >= self.decay_step:
            return self.lr_final
        return self.lr

    def make_step(self, model: nn.Module) -> Step:
        """How each batch updates ``model``: the lectures' plain gradient descent."""
        return sgd_step


@dataclass
class TrainResult:
    """What a training run returns (Chapter 1)."""

    losses: list[float]  # training loss of each step's batch, before that step's update
    seconds: float  # wall-clock time of the loop
    times: list[float] = field(default_factory=list)  # seconds elapsed after each step

    def mean_every(self, k: int) -> list[float]:
        """Means of consecutive blocks of ``k`` losses: a readable curve from a noisy one."""
        n = len(self.losses) // k * k
        return torch.tensor(self.losses[:n]).view(-1, k).mean(dim=1).tolist()


class Step(Protocol):
    """One update of ``model`` on a batch at rate ``lr``; returns the batch's loss (Chapter 1)."""

    def __call__(
        self, model: nn.Module, Xb: torch.Tensor, Yb: torch.Tensor, lr: float
    ) -> torch.Tensor: ...


class Hook(Protocol):
    """Called after every update; returning True stops training (Chapter 3's diagnostics)."""

    def __call__(
        self, step: int, model: nn.Module, loss: torch.Tensor, lr: float
    ) -> bool | None: ...


@contextlib.contextmanager
def _nothing(model: nn.Module, X: torch.Tensor, config: Any) -> Iterator[Sequence[Hook]]:
    yield ()


# The seam for tools outside the lessons: ``watch(model, X, config)`` is a context manager
# entered around every training loop, whose value is more hooks for that loop. By default
# it does nothing. The book's build sets it in each chapter's kernel (its seam module) to
# wait for a free core before a loop starts and to report the loop's steps to the terminal.
watch: Callable[[nn.Module, torch.Tensor, Any], contextlib.AbstractContextManager] = _nothing


def sgd_step(
    model: nn.Module, Xb: torch.Tensor, Yb: torch.Tensor, lr: float, l2: float = 0.0
) -> torch.Tensor:
    """One step of the lectures' gradient descent; returns the batch's loss (Chapter 1).

    ``l2`` adds Chapter 1's penalty, ``l2`` times the mean square of every weight matrix,
    to what is minimised; the loss returned is the data's alone.
    """
    loss = next_char_loss(model, Xb, Yb)  # F.cross_entropy(model(Xb), Yb); see Chapter 7
    objective = loss
    if l2 > 0:
        objective = loss + l2 * sum((p**2).mean() for p in model.parameters() if p.ndim >= 2)
    for p in model.parameters():
        p.grad = None
    objective.backward()
    for p in model.parameters():
        p.data += -lr * p.grad
    return loss


def train(model: nn.Module, X: torch.Tensor, Y: torch.Tensor, config: TrainConfig,
          generator: torch.Generator | None = None, *, step: Step | None = None,
          hooks: Sequence[Hook] = ()) -> TrainResult:  # fmt: skip
    """Train ``model`` on (X, Y), one batch per step; returns the losses (Chapter 1).

    ``step`` updates the model on a batch at the step's rate: by default the config's, the
    lectures' ``sgd_step``. ``hooks`` see the model after each update and may stop the run.
    """
    if config.batch_size is not None and generator is None:
        raise ValueError("minibatch training needs an explicit torch.Generator")
    step = step or config.make_step(model)
    losses, times = [], []
    model.train()
    with watch(model, X, config) as watchers:  # nothing, unless a tool has set the seam
        start = time.perf_counter()
        for i in range(config.steps):
            if config.batch_size is None:
                Xb, Yb = X, Y
            else:
                ix = torch.randint(0, X.shape[0], (config.batch_size,), generator=generator)
                Xb, Yb = X[ix], Y[ix]  # (B, T), (B,)
            lr = config.lr_at(i)
            loss = step(model, Xb, Yb, lr)
            losses.append(loss.item())
            times.append(time.perf_counter() - start)
            if any([hook(i, model, loss, lr) for hook in (*hooks, *watchers)]):
                break
        seconds = time.perf_counter() - start
    return TrainResult(losses, seconds, times)


@torch.no_grad()
def evaluate(model: nn.Module, X: torch.Tensor, Y: torch.Tensor) -> float:
    """Mean cross-entropy of ``model`` on (X, Y) in eval mode, without a graph (Chapter 1)."""
    was_training = model.training
    model.eval()
    try:
        if isinstance(model, SequenceModel):  # the same number, from one window per word
            return window_loss(model, X, Y)
        return F.cross_entropy(model(X), Y).item()
    finally:
        model.train(was_training)


@torch.no_grad()
def example_losses(model: nn.Module, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Each example's NLL, ``-log P(Y[k] | X[k])``, in eval mode: (N,) (Chapter 1).

    Their mean is ``evaluate``; Chapter 1 reads them one by one for a single word.
    """
    was_training = model.training
    model.eval()
    try:
        return F.cross_entropy(model(X), Y, reduction="none")  # (N,)
    finally:
        model.train(was_training)


def evaluate_splits(
    model: nn.Module, splits: dict[str, tuple[torch.Tensor, torch.Tensor]]
) -> dict[str, float]:
    """``evaluate`` on each named split, e.g. train/dev/test (Chapter 2)."""
    return {name: evaluate(model, X, Y) for name, (X, Y) in splits.items()}


@dataclass
class LRFinderResult:
    """Learning rates tried one step each, and the loss seen at each (Chapter 2)."""

    exponents: list[float]  # log10 of each step's learning rate
    lrs: list[float]  # the learning rates, exponentially spaced
    losses: list[float]  # the batch loss before each step

    def smoothed(self, window: int = 50) -> list[float]:
        """Moving average of the losses over ``window`` steps (centred, edges shortened)."""
        x = torch.tensor(self.losses).view(1, 1, -1)
        ones = torch.ones_like(x)
        kernel = torch.ones(1, 1, window)
        pad = window // 2
        sums = F.conv1d(x, kernel, padding=pad)[0, 0, : len(self.losses)]
        counts = F.conv1d(ones, kernel, padding=pad)[0, 0, : len(self.losses)]
        return (sums / counts).tolist()

    def best_exponent(self, window: int = 50) -> float:
        """log10 of the rate where the smoothed loss is lowest."""
        smooth = self.smoothed(window)
        return self.exponents[min(range(len(smooth)), key=smooth.__getitem__)]


def find_lr(
    model: nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    generator: torch.Generator,
    steps: int = 1000,
    min_exponent: float = -3.0,
    max_exponent: float = 0.0,
    batch_size: int = 32,
) -> LRFinderResult:
    """Train once while raising the rate from 10**min to 10**max exponentially (Chapter 2).

    The loss falls while the rate is useful and blows up once it is too large; a good
    rate sits before the blow-up. The model is trained in place: use a fresh one after.
    """
    if not max_exponent > min_exponent:
        raise ValueError("max_exponent must be greater than min_exponent")
    exponents = torch.linspace(min_exponent, max_exponent, steps)  # (steps,)
    lrs = (10**exponents).tolist()
    sweep = LRSweep(steps=steps, batch_size=batch_size, lrs=tuple(lrs))
    result = train(model, X, Y, sweep, generator)
    return LRFinderResult(exponents=exponents.tolist(), lrs=lrs, losses=result.losses)


@dataclass(frozen=True)
class LRSweep(TrainConfig):
    """A training config whose step ``i`` uses ``lrs[i]``: ``find_lr``'s (Chapter 2)."""

    lrs: tuple[float, ...] = ()  # one learning rate per step

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.lrs) != self.steps:
            raise ValueError(f"LRSweep.lrs must hold one rate per step ({self.steps})")

    def lr_at(self, step: int) -> float:
        return self.lrs[step]
