"""The training loop and split evaluation shared by every chapter (Chapters 1-2).

What it is about: minibatch (or full-batch) gradient descent with the lectures' step
learning-rate schedule, seeded batch sampling and a per-step loss history. What it is
not about: models (any ``idx -> logits`` module), data loading, or plotting.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn as nn
import torch.nn.functional as F

from charlm.bookbuild.cores import training_cores
from charlm.sequence import SequenceModel, next_char_loss, window_loss


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (Chapter 1); invalid values raise ValueError."""

    steps: int = 200_000  # optimisation steps (one batch each)
    batch_size: int | None = 32  # examples per step; None means the whole set (full batch)
    lr: float = 0.1  # learning rate before decay_step
    decay_step: int | None = None  # from this step on the rate is lr_final (step schedule)
    lr_final: float | None = None  # learning rate from decay_step on
    l2: float = 0.0  # weight of the mean-square penalty on every parameter with >= 2 dims
    optimizer: str = "sgd"  # "sgd" (the lectures': p += -lr * grad) or "adamw" (Chapter 5)
    weight_decay: float = 0.0  # AdamW's decoupled weight decay
    schedule: str = "step"  # "step" (lr, then lr_final from decay_step) or "cosine" to lr_final

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"TrainConfig.{name} {why}, got {getattr(self, name)!r}")

        if not isinstance(self.steps, int) or self.steps <= 0:
            raise bad("steps", "must be a positive integer")
        if self.batch_size is not None and (
            not isinstance(self.batch_size, int) or self.batch_size <= 0
        ):
            raise bad("batch_size", "must be a positive integer or None (full batch)")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise bad("lr", "must be a finite number > 0")
        if self.optimizer not in ("sgd", "adamw"):
            raise bad("optimizer", 'must be "sgd" or "adamw"')
        if self.schedule not in ("step", "cosine"):
            raise bad("schedule", 'must be "step" or "cosine"')
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise bad("weight_decay", "must be a finite number >= 0")
        if self.schedule == "cosine":
            if self.decay_step is not None:
                raise bad("decay_step", "is for the step schedule; cosine decays every step")
            if self.lr_final is not None and not (
                math.isfinite(self.lr_final) and 0 <= self.lr_final <= self.lr
            ):
                raise bad("lr_final", "must be between 0 and lr for the cosine schedule")
            return self._check_l2()
        if (self.decay_step is None) != (self.lr_final is None):
            raise bad("decay_step", "and lr_final must be given together")
        if self.decay_step is not None:
            if not isinstance(self.decay_step, int) or not 0 < self.decay_step <= self.steps:
                raise bad("decay_step", "must be an integer in 1..steps")
            if not (math.isfinite(self.lr_final) and self.lr_final > 0):
                raise bad("lr_final", "must be a finite number > 0")
        self._check_l2()

    def _check_l2(self) -> None:
        if not (math.isfinite(self.l2) and self.l2 >= 0):
            raise ValueError(f"TrainConfig.l2 must be a finite number >= 0, got {self.l2!r}")

    def lr_at(self, step: int) -> float:
        """The learning rate used at ``step`` (0-based)."""
        if self.schedule == "cosine":
            low = self.lr_final or 0.0
            return low + 0.5 * (self.lr - low) * (1 + math.cos(math.pi * step / self.steps))
        if self.decay_step is not None and step >= self.decay_step:
            return self.lr_final
        return self.lr


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


class Hook(Protocol):
    """Called after every update; returning True stops training (Chapter 3's diagnostics)."""

    def __call__(
        self, step: int, model: nn.Module, loss: torch.Tensor, lr: float
    ) -> bool | None: ...


def train(
    model: nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    config: TrainConfig,
    generator: torch.Generator | None = None,
    *,
    schedule: Callable[[int], float] | None = None,
    hooks: Sequence[Hook] = (),
    progress: bool | None = None,
) -> TrainResult:
    """Train ``model`` on (X, Y) by gradient descent; returns the loss history (Chapter 1).

    Each step draws ``torch.randint(0, N, (batch_size,), generator=generator)`` (none for
    full batch), computes the cross-entropy, sets every grad to None, back-propagates and
    updates ``p += -lr * p.grad``: the lectures' loop, in their order, so their seeded
    runs reproduce bit for bit. ``schedule(step)`` replaces ``config.lr_at``; ``hooks``
    see the model after each update (and may stop the run); ``progress`` shows a bar
    (default: only when stderr is a terminal, so never inside the book).
    """
    if config.batch_size is not None and generator is None:
        raise ValueError("minibatch training needs an explicit torch.Generator")
    lr_at = schedule or config.lr_at
    params = [p for p in model.parameters() if p.requires_grad]
    adamw = None
    if config.optimizer == "adamw":
        adamw = torch.optim.AdamW(
            params, lr=config.lr, weight_decay=config.weight_decay, fused=True
        )  # fused: the whole update in one kernel per step
    penalised = [p for p in params if p.ndim >= 2]
    losses = torch.empty(config.steps)
    times: list[float] = []
    bar = _progress_bar(config.steps, progress)
    model.train()
    done = 0
    # while the book builds: wait for a free core, and report the steps to the build's terminal
    with training_cores(model, X, config) as build_bar:
        bar = bar or build_bar
        start = time.perf_counter()
        for step in range(config.steps):
            if config.batch_size is None:
                Xb, Yb = X, Y
            else:
                ix = torch.randint(0, X.shape[0], (config.batch_size,), generator=generator)
                Xb, Yb = X[ix], Y[ix]  # (B, T), (B,)
            # F.cross_entropy(model(Xb), Yb): the next character's loss (Chapter 7's sequence
            # models are scored at every position of the context: charlm.sequence)
            loss = next_char_loss(model, Xb, Yb)
            objective = loss
            if config.l2 > 0:
                objective = loss + config.l2 * sum((p**2).mean() for p in penalised)
            for p in params:
                p.grad = None
            objective.backward()
            lr = lr_at(step)
            if adamw is not None:
                for group in adamw.param_groups:
                    group["lr"] = lr
                adamw.step()
            else:
                with torch.no_grad():
                    # p += -lr * grad for every p at once: the same two roundings, fewer dispatches
                    torch._foreach_add_(params, torch._foreach_mul([p.grad for p in params], -lr))
            losses[step] = loss.detach()  # no .item(): no per-step conversion to Python
            times.append(time.perf_counter() - start)
            done = step + 1
            if bar is not None:
                bar.update(1)
            if any([hook(step, model, loss, lr) for hook in hooks]):
                break
        seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()
    return TrainResult(losses=losses[:done].tolist(), seconds=seconds, times=times)


def _progress_bar(total: int, progress: bool | None):
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="step", mininterval=0.5)


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
    config = TrainConfig(steps=steps, batch_size=batch_size, lr=lrs[0])
    result = train(model, X, Y, config, generator, schedule=lrs.__getitem__)
    return LRFinderResult(exponents=exponents.tolist(), lrs=lrs, losses=result.losses)
