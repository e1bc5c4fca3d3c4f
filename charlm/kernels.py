"""Chapter 3's BatchNorm and tanh on torch's faster kernels: the same layers, cheaper (Ch. 6).

On this CPU a small network's step is spent mostly in the overhead of each operation, not in
its arithmetic. These two layers compute what ``layers.BatchNorm1d`` and ``layers.Tanh``
compute, with fewer or faster kernels, and the tests check that they agree:

- ``FusedBatchNorm1d`` hands ``torch.nn.BatchNorm1d``'s arithmetic to ``F.batch_norm``: one
  operation forward and one backward instead of about a dozen, the same values up to float32
  rounding;
- ``FastTanh`` computes tanh as ``2 * sigmoid(2x) - 1``, because torch's sigmoid kernel is
  several times faster than its tanh kernel here; its backward is tanh's own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from charlm.layers import BatchNorm1d, Tanh


class FusedBatchNorm1d(BatchNorm1d):
    """``BatchNorm1d`` as ``torch.nn.BatchNorm1d`` computes it, by torch's kernel (Chapter 6).

    It is the plain layer with its defaults, ``unbiased=False`` and ``reduce_time=True``: the
    two settings ``F.batch_norm`` implements. Batch and time are one axis for it.
    """

    def __init__(self, dim: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__(dim, eps=eps, momentum=momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim not in (2, 3):
            raise ValueError(f"BatchNorm1d expects (B, C) or (B, T, C) input, got {tuple(x.shape)}")
        flat = x.reshape(-1, x.shape[-1])  # (B*T, C): batch and time are one axis
        out = F.batch_norm(
            flat, self.running_mean, self.running_var, self.weight, self.bias,
            training=self.training, momentum=self.momentum, eps=self.eps,
        )  # fmt: skip
        return self._keep(out.view(x.shape))


class FastTanh(Tanh):
    """``Tanh`` computed as ``2 * sigmoid(2x) - 1``, with tanh's backward (Chapter 6)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._keep(TanhViaSigmoid.apply(x))


class TanhViaSigmoid(torch.autograd.Function):
    """tanh(x) = 2 sigmoid(2x) - 1 forward; backward ``grad * (1 - t**2)`` (Chapter 6)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        t = torch.sigmoid(x * 2).mul_(2).sub_(1)
        ctx.save_for_backward(t)
        return t

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (t,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, t)  # grad * (1 - t**2)
