"""Hand-written layers with torch's attribute names, for the deep networks (Chapters 3 and 5).

Each layer is a small ``nn.Module`` whose forward is written from tensor operations (no
``torch.nn`` layer inside), keeps its last output in ``.out`` for diagnostics, and draws
its initial weights from an explicit ``torch.Generator``. The tests compare every layer
with its ``torch.nn`` counterpart, values and gradients.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F


class Layer(nn.Module):
    """Base class: keeps ``.out``, and its gradient when ``retain_grad`` is set (Chapter 3)."""

    retain_grad: bool = False  # keep .out.grad after backward, for gradient diagnostics

    def _keep(self, out: torch.Tensor) -> torch.Tensor:
        self.out = out
        if self.retain_grad and out.requires_grad:
            out.retain_grad()
        return out


class Linear(Layer):
    """``x @ weight + bias`` with weight (fan_in, fan_out) ~ randn / sqrt(fan_in) (Chapter 3).

    The weight is stored as (fan_in, fan_out), the lectures' layout; ``torch.nn.Linear``
    stores its transpose.
    """

    def __init__(
        self, fan_in: int, fan_out: int, bias: bool = True, *, generator: torch.Generator
    ) -> None:
        super().__init__()
        w = torch.randn((fan_in, fan_out), generator=generator) / fan_in**0.5
        self.weight = nn.Parameter(w)
        self.bias = nn.Parameter(torch.zeros(fan_out)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x @ self.weight  # (..., fan_out)
        if self.bias is not None:
            out = out + self.bias
        return self._keep(out)


class BatchNorm1d(Layer):
    """Normalise each feature over the batch, then scale and shift (Ioffe & Szegedy 2015).

    Input is (B, C) or (B, T, C); statistics are taken over every dimension but the last,
    so a (B, T, C) input is normalised over batch and time together (Chapter 5's fix).
    In training mode the batch's mean and variance are used and the running estimates
    updated with ``momentum``; in eval mode the running estimates are used.

    ``unbiased=False`` is ``torch.nn.BatchNorm1d``: the biased variance normalises, the
    unbiased one feeds ``running_var``. ``unbiased=True`` is the lectures' layer: the
    unbiased variance for both. ``reduce_time=False`` reproduces the lecture's bug on 3-D
    input: statistics over the batch only, one per (position, channel), and running
    statistics that silently take the shape (T, C).
    """

    def __init__(
        self,
        dim: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        unbiased: bool = False,
        reduce_time: bool = True,
    ) -> None:
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.unbiased = unbiased
        self.reduce_time = reduce_time
        self.weight = nn.Parameter(torch.ones(dim))  # the lectures' gamma
        self.bias = nn.Parameter(torch.zeros(dim))  # the lectures' beta
        self.register_buffer("running_mean", torch.zeros(dim))
        self.register_buffer("running_var", torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim not in (2, 3):
            raise ValueError(f"BatchNorm1d expects (B, C) or (B, T, C) input, got {tuple(x.shape)}")
        if not self.training:
            xmean, xvar = self.running_mean, self.running_var
        else:
            dims = tuple(range(x.ndim - 1)) if self.reduce_time else (0,)  # (0,) or (0, 1)
            xmean = x.mean(dims, keepdim=True)  # (1, C) or (1, 1, C)
            xvar = x.var(dims, keepdim=True, unbiased=self.unbiased)
        xhat = (x - xmean) / torch.sqrt(xvar + self.eps)  # unit mean and variance per feature
        out = self.weight * xhat + self.bias
        if self.training:
            n = x.numel() // xmean.numel()  # values behind each statistic
            running = xvar if self.unbiased else xvar * n / (n - 1)
            stat_shape = xmean.shape[1:] if not self.reduce_time else xmean.shape[-1:]
            with torch.no_grad():
                m = self.momentum
                mean, var = xmean.reshape(stat_shape), running.reshape(stat_shape)
                self.running_mean = (1 - m) * self.running_mean + m * mean
                self.running_var = (1 - m) * self.running_var + m * var
        return self._keep(out)


class Tanh(Layer):
    """Element-wise tanh (Chapter 3)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._keep(torch.tanh(x))


class Dropout(nn.Module):
    """In training, zero each value with probability ``p`` and scale the rest by 1/(1-p), so
    no unit can rely on any one other (Srivastava et al. 2014); in eval, the identity.
    The masks are drawn from the model's generator, the one its weights came from and the
    batches come from, so a seeded run is repeatable (Chapter 7)."""

    def __init__(self, p: float, generator: torch.Generator) -> None:
        super().__init__()
        self.p = p
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.rand(x.shape, generator=self.generator, device=x.device) >= self.p
        return x * keep / (1 - self.p)


class Embedding(Layer):
    """Row lookup in a (num_embeddings, embedding_dim) table of standard normals (Chapter 3)."""

    def __init__(
        self, num_embeddings: int, embedding_dim: int, *, generator: torch.Generator
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(
            torch.randn((num_embeddings, embedding_dim), generator=generator)
        )

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        # the row lookup self.weight[idx], through torch's embedding kernel: same values,
        # and a backward pass that adds rows up faster than indexing's general one
        return self._keep(F.embedding(idx, self.weight))  # (B, T, embedding_dim)


class Flatten(Layer):
    """Concatenate the time steps: (B, T, C) -> (B, T*C) (Chapter 3)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._keep(x.view(x.shape[0], -1))


class FlattenConsecutive(Layer):
    """Concatenate every ``n`` consecutive time steps: (B, T, C) -> (B, T/n, C*n) (Chapter 5).

    When one step remains the time dimension is dropped: (B, 1, C*n) -> (B, C*n).
    """

    def __init__(self, n: int) -> None:
        super().__init__()
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"FlattenConsecutive needs a positive integer n, got {n!r}")
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        if T % self.n:
            raise ValueError(
                f"FlattenConsecutive({self.n}) cannot group {T} time steps: "
                f"{T} is not divisible by {self.n}"
            )
        x = x.view(B, T // self.n, C * self.n)  # (B, T/n, C*n)
        if x.shape[1] == 1:
            x = x.squeeze(1)  # (B, C*n)
        return self._keep(x)


class Sequential(Layer):
    """Layers applied in order; a model when it maps ``idx (B, T) -> logits`` (Chapter 3)."""

    def __init__(self, layers: Iterable[nn.Module], block_size: int | None = None) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.block_size = block_size  # the context length, for sample()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return self._keep(x)

    def keep_grads(self, on: bool = True) -> None:
        """Make every layer keep the gradient of its output, for diagnostics."""
        for layer in self.layers:
            layer.retain_grad = on
