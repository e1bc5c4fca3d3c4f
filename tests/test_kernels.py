"""Chapter 6's kernels against Chapter 3's layers: the same values and gradients, by other means."""

from __future__ import annotations

import pytest
import torch

from charlm.kernels import FastTanh, FusedBatchNorm1d
from charlm.layers import BatchNorm1d, Tanh

ATOL, RTOL = 1e-6, 1e-5


def close(a, b, atol=ATOL):
    return torch.allclose(a, b, atol=atol, rtol=RTOL)


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).requires_grad_()


def _pair(dim, momentum=0.1):
    """The plain layer (torch.nn's settings) with non-trivial gain and bias."""
    ours = BatchNorm1d(dim, momentum=momentum)
    with torch.no_grad():
        g = torch.Generator().manual_seed(5)
        ours.weight.copy_(torch.rand(dim, generator=g) + 0.5)
        ours.bias.copy_(torch.randn(dim, generator=g))
    return ours, None


@pytest.mark.parametrize("shape", [(16, 6), (8, 5, 6)])
def test_fused_batchnorm_is_the_same_layer_through_torchs_kernel(shape):
    ours, _ = _pair(shape[-1], momentum=0.3)
    fused = FusedBatchNorm1d(shape[-1], momentum=0.3)
    fused.load_state_dict(ours.state_dict())
    for step in range(4):  # values, gradients and running statistics over a few steps
        x1 = (_x(*shape, seed=20 + step) * 3 + 1).detach().requires_grad_()
        x2 = x1.detach().clone().requires_grad_()
        y1, y2 = ours(x1), fused(x2)
        assert close(y1, y2, atol=1e-5) and fused.out is y2
        w = torch.randn(shape, generator=torch.Generator().manual_seed(step))
        (y1 * w).sum().backward()
        (y2 * w).sum().backward()
        assert close(x1.grad, x2.grad, atol=1e-5)
    assert close(ours.weight.grad, fused.weight.grad, atol=1e-4)
    assert close(ours.running_mean, fused.running_mean)
    assert close(ours.running_var, fused.running_var, atol=1e-5)
    ours.eval()
    fused.eval()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(99))
    assert close(ours(x), fused(x), atol=1e-5)


def test_fused_batchnorm_refuses_what_the_plain_layer_refuses():
    with pytest.raises(ValueError, match="expects"):
        FusedBatchNorm1d(4)(torch.randn(2, 3, 4, 5))


def test_tanh_via_sigmoid_is_tanh():
    x1 = (torch.randn(64, 3, 16, generator=torch.Generator().manual_seed(3)) * 4).requires_grad_()
    x2 = x1.detach().clone().requires_grad_()
    fast, exact = FastTanh(), Tanh()
    y1, y2 = fast(x1), exact(x2)
    assert close(y1, y2) and fast.out is y1
    w = torch.randn(y1.shape, generator=torch.Generator().manual_seed(4))
    (y1 * w).sum().backward()
    (y2 * w).sum().backward()
    assert close(x1.grad, x2.grad)
