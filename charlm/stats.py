"""Diagnostics of a network's health, as numbers only (Chapter 3); ``plots`` draws them.

- ``layer_stats``: per layer of a kind (e.g. every Tanh), the mean, std and saturated share of
  its output, or of its output's gradient, with a histogram.
- ``weight_grad_stats``: per weight matrix, the gradient's mean, std and grad:data ratio.
- ``UpdateRatio``: a training hook recording log10(std(lr * grad) / std(data)) per weight
  matrix and step, the update:data ratio whose healthy level is about -3.
- ``saturation_map``: which units of a batch sit on tanh's flat tails.
- ``stack_stds``: how a signal's spread changes through a stack of random layers (Kaiming).
- ``never_active``: ReLU units that output zero for every example.
- ``running_mean_error``: how far BatchNorm's running mean is from the true mean.
- ``gradient_agreement``: how closely a minibatch's gradient points where the full one does
  (Chapter 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from charlm.layers import Tanh
from charlm.train import TrainConfig, train


@dataclass
class Histogram:
    """A density histogram of a tensor's values."""

    centers: list[float]  # bin centres
    density: list[float]  # share of values per unit of x in each bin


def histogram(t: torch.Tensor, bins: int = 60) -> Histogram:
    """Density histogram of ``t`` over its own range (Chapter 3)."""
    t = t.detach().float().flatten()
    lo, hi = t.min().item(), t.max().item()
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    counts = torch.histc(t, bins=bins, min=lo, max=hi)
    width = (hi - lo) / bins
    centers = lo + width * (torch.arange(bins) + 0.5)
    return Histogram(centers.tolist(), (counts / (counts.sum() * width)).tolist())


@dataclass
class LayerStats:
    """Summary of one layer's output (or of its gradient) on one batch."""

    name: str  # e.g. "layer 2 (Tanh)"
    mean: float
    std: float
    saturated: float  # share of |values| above the threshold (activations only, else nan)
    hist: Histogram


def tensor_stats(name: str, t: torch.Tensor, threshold: float | None = 0.97) -> LayerStats:
    """Mean, std, share beyond ``threshold`` (None: not measured) and histogram of ``t``."""
    t = t.detach()
    saturated = float("nan") if threshold is None else (t.abs() > threshold).float().mean().item()
    return LayerStats(name, t.mean().item(), t.std().item(), saturated, histogram(t))


def layer_stats(
    layers: list[nn.Module],
    kind: type,
    grad: bool = False,
    threshold: float | None = 0.97,
) -> list[LayerStats]:
    """Stats of ``.out`` (or ``.out.grad``) of every layer of type ``kind`` (Chapter 3)."""
    found = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, kind):
            continue
        if grad and not (layer.out.retains_grad and layer.out.grad is not None):
            raise ValueError(f"layer {i} kept no gradient: call keep_grads() before training")
        t = layer.out.grad if grad else layer.out
        name = f"layer {i} ({kind.__name__})"
        found.append(tensor_stats(name, t, None if grad else threshold))
    return found


@dataclass
class WeightStats:
    """A weight matrix's gradient, relative to the weights themselves."""

    name: str  # parameter name, e.g. "layers.2.weight"
    shape: tuple[int, ...]
    grad_mean: float
    grad_std: float
    grad_to_data: float  # std(grad) / std(weight)
    hist: Histogram  # of the gradient


def weight_grad_stats(model: nn.Module) -> list[WeightStats]:
    """Gradient stats of every parameter with 2 dims, after a backward pass (Chapter 3)."""
    out = []
    for name, p in model.named_parameters():
        if p.ndim != 2 or p.grad is None:
            continue
        g = p.grad.detach()
        out.append(
            WeightStats(
                name,
                tuple(p.shape),
                g.mean().item(),
                g.std().item(),
                (g.std() / p.detach().std()).item(),
                histogram(g),
            )
        )
    return out


class UpdateRatio:
    """Training hook: log10 of std(lr * grad) / std(param) per 2-D parameter (Chapter 3).

    Use as ``train(..., hooks=[recorder])``; ``recorder.history[name]`` is one value per step.
    The update is measured against the parameter after it was applied, as the lecture does.
    """

    def __init__(self, model: nn.Module) -> None:
        self.params = {
            f"{n} ({'x'.join(map(str, p.shape))})": p
            for n, p in model.named_parameters()
            if p.ndim == 2
        }
        self.history: dict[str, list[float]] = {n: [] for n in self.params}

    @torch.no_grad()
    def __call__(self, step: int, model: nn.Module, loss: torch.Tensor, lr: float) -> None:
        for name, p in self.params.items():
            ratio = (lr * p.grad).std() / p.std()
            self.history[name].append(ratio.log10().item())


def saturation_map(out: torch.Tensor, threshold: float = 0.99) -> torch.Tensor:
    """Boolean (B, H): which units of a tanh layer's output are beyond ``threshold`` (Ch. 3)."""
    return out.detach().abs() > threshold


def dead_units(out: torch.Tensor, threshold: float = 0.99, share: float = 1.0) -> int:
    """Units saturated for at least ``share`` of the batch's examples (all, by default):
    their gradient from this batch is (almost) zero (Chapter 3)."""
    saturated = saturation_map(out, threshold).float().mean(dim=0)  # (H,)
    return int((saturated >= share).sum().item())


# the nonlinearities of Chapter 3's toy stacks; "linear" is none at all
ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "linear": lambda x: x}


def stack_stds(
    activation: str,
    gain: float,
    generator: torch.Generator,
    n_layers: int = 10,
    width: int = 500,
    batch: int = 1000,
) -> list[float]:
    """The std of unit-Gaussian inputs after each layer of a random stack (Chapter 3).

    Each layer is ``activation(x @ W)`` with ``W = randn(width, width) * gain / sqrt(width)``:
    Kaiming's scale, which keeps the spread steady when ``gain`` suits the activation.
    """
    act = ACTIVATIONS[activation]
    x = torch.randn((batch, width), generator=generator)  # (batch, width)
    stds = []
    for _ in range(n_layers):
        w = torch.randn((width, width), generator=generator) * gain / width**0.5
        x = act(x @ w)  # (batch, width)
        stds.append(x.std().item())
    return stds


def never_active(preact: torch.Tensor) -> int:
    """ReLU units whose pre-activation (N, H) is <= 0 for every example: their output and
    their gradient are zero for all of them, so they never learn again (Chapter 3)."""
    return int((preact <= 0).all(dim=0).sum().item())


def running_mean_error(
    population: torch.Tensor,
    batch_size: int,
    momentum: float,
    steps: int,
    generator: torch.Generator,
) -> float:
    """How far BatchNorm's running mean is from the true mean after ``steps`` (Chapter 3).

    ``population`` (N, H) holds a unit's values over the whole training set. Batches of
    ``batch_size`` rows are drawn at random and their means averaged the way BatchNorm
    does, starting from zero; the result is the root-mean-square error over units, in units
    of each unit's std. Small momentum averages away the noise of small batches but needs
    many steps to forget its start.
    """
    true_mean, true_std = population.mean(0), population.std(0)  # (H,)
    running = torch.zeros_like(true_mean)
    for _ in range(steps):
        ix = torch.randint(0, population.shape[0], (batch_size,), generator=generator)
        running = (1 - momentum) * running + momentum * population[ix].mean(0)
    return ((running - true_mean) / true_std).pow(2).mean().sqrt().item()


def gradient_agreement(
    model: nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
    draws: int = 20,
) -> list[float]:
    """How well a minibatch's gradient stands in for the full one (Chapter 2).

    The gradient of the loss over all of (X, Y), flattened into one vector over every
    parameter, against the same gradient on each of ``draws`` minibatches of ``batch_size``
    distinct random examples: their cosine similarity (1: the same direction, 0: at right
    angles). The model's parameters do not change; their ``.grad`` is cleared afterwards.
    """

    def flat_gradient(Xb: torch.Tensor, Yb: torch.Tensor) -> torch.Tensor:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(Xb), Yb).backward()
        return torch.cat([p.grad.flatten() for p in model.parameters()])  # (P,)

    full = flat_gradient(X, Y)  # (P,)
    agreement = []
    for _ in range(draws):
        ix = torch.randperm(len(Y), generator=generator)[:batch_size]  # (batch_size,)
        agreement.append(F.cosine_similarity(flat_gradient(X[ix], Y[ix]), full, dim=0).item())
    model.zero_grad(set_to_none=True)
    return agreement


@dataclass
class Diagnostics:
    """A network's health after a short training run (Chapter 3)."""

    activations: list[LayerStats]  # every Tanh output on the last batch
    gradients: list[LayerStats]  # the gradients of those outputs
    weights: list[WeightStats]  # every weight matrix's gradient
    update_ratios: dict[str, list[float]]  # log10 update:data ratio per weight and step
    losses: list[float]  # the training losses of the run
    saturation: torch.Tensor  # (B, H) map of |tanh| > 0.99 in the first Tanh layer


def diagnose(
    model: nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    config: TrainConfig,
    generator: torch.Generator,
    kind: type = Tanh,
) -> Diagnostics:
    """Train ``model`` (a ``Sequential``) briefly while recording its health (Chapter 3).

    The statistics describe the last step: its batch's activations and gradients, and
    the update:data ratios of every step.
    """
    model.keep_grads(True)
    recorder = UpdateRatio(model)
    result = train(model, X, Y, config, generator, hooks=[recorder])
    model.keep_grads(False)
    first = next(layer for layer in model.layers if isinstance(layer, kind))
    threshold = 0.97 if issubclass(kind, Tanh) else None  # saturation means tanh's tails
    return Diagnostics(
        activations=layer_stats(model.layers, kind, threshold=threshold),
        gradients=layer_stats(model.layers, kind, grad=True),
        weights=weight_grad_stats(model),
        update_ratios=recorder.history,
        losses=result.losses,
        saturation=saturation_map(first.out),
    )


@dataclass
class TraceRow:
    """One layer of a shape trace."""

    name: str  # layer index and type
    shape: tuple[int, ...]  # its output's shape
    params: int  # its trainable numbers


@torch.no_grad()
def shape_trace(model: nn.Module, idx: torch.Tensor) -> list[TraceRow]:
    """Each layer of a ``Sequential`` with its output shape and parameter count (Ch. 5)."""
    was_training = model.training
    model.eval()  # no running statistics move
    try:
        model(idx)
    finally:
        model.train(was_training)
    return [
        TraceRow(
            f"{i} {type(layer).__name__}",
            tuple(layer.out.shape),
            sum(p.numel() for p in layer.parameters()),
        )
        for i, layer in enumerate(model.layers)
    ]
