"""The hand-written layers against torch.nn: values and gradients, stated tolerances.

Tolerances: float32 throughout; values and gradients agree to atol 1e-6 / rtol 1e-5
(the two implementations order the same operations differently, so bit equality is not
expected), running statistics to atol 1e-6 after several steps.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as tnn

from charlm.layers import BatchNorm1d, Embedding, Flatten, Linear, Sequential, Tanh

ATOL, RTOL = 1e-6, 1e-5


def close(a, b, atol=ATOL):
    return torch.allclose(a, b, atol=atol, rtol=RTOL)


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).requires_grad_()


@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(bias):
    ours = Linear(7, 5, bias=bias, generator=torch.Generator().manual_seed(0))
    ref = tnn.Linear(7, 5, bias=bias)
    with torch.no_grad():
        ref.weight.copy_(ours.weight.T)  # torch stores (out, in)
        if bias:
            ours.bias.copy_(torch.randn(5))
            ref.bias.copy_(ours.bias)
    x1, x2 = _x(4, 7), _x(4, 7)
    y1, y2 = ours(x1), ref(x2)
    assert close(y1, y2) and ours.out is y1
    (y1**2).sum().backward()
    (y2**2).sum().backward()
    assert close(x1.grad, x2.grad) and close(ours.weight.grad, ref.weight.grad.T)
    if bias:
        assert close(ours.bias.grad, ref.bias.grad)


@pytest.mark.parametrize(
    "make", [lambda: Linear(4, 3), lambda: Linear(4, 3, False), lambda: Embedding(5, 2)]
)
def test_layers_with_random_weights_need_a_generator(make):
    """Nothing in charlm draws from torch's global generator: the seed is always explicit."""
    with pytest.raises(TypeError, match="generator"):
        make()


def test_linear_init_scale():
    w = Linear(400, 300, generator=torch.Generator().manual_seed(0)).weight
    assert w.std().item() == pytest.approx(400**-0.5, rel=0.02)


def _pair(dim, momentum=0.1):
    ours = BatchNorm1d(dim, momentum=momentum)
    ref = tnn.BatchNorm1d(dim, momentum=momentum)
    with torch.no_grad():
        g = torch.Generator().manual_seed(5)
        ours.weight.copy_(torch.rand(dim, generator=g) + 0.5)
        ours.bias.copy_(torch.randn(dim, generator=g))
        ref.weight.copy_(ours.weight)
        ref.bias.copy_(ours.bias)
    return ours, ref


def _to_torch(x):  # (B, T, C) -> (B, C, T), torch's layout for 3-D BatchNorm1d
    return x.transpose(1, 2) if x.ndim == 3 else x


@pytest.mark.parametrize("shape", [(16, 6), (8, 5, 6)])
def test_batchnorm_train_mode_matches_torch(shape):
    ours, ref = _pair(shape[-1])
    x1, x2 = _x(*shape, seed=1), _x(*shape, seed=1)
    y1 = ours(x1)
    y2 = _to_torch(ref(_to_torch(x2)))
    assert close(y1, y2)
    w = torch.randn(shape, generator=torch.Generator().manual_seed(2))
    (y1 * w).sum().backward()
    (y2 * w).sum().backward()
    assert close(x1.grad, x2.grad, atol=1e-5)
    assert close(ours.weight.grad, ref.weight.grad, atol=1e-5)
    assert close(ours.bias.grad, ref.bias.grad, atol=1e-5)


@pytest.mark.parametrize("shape", [(16, 6), (8, 5, 6)])
def test_batchnorm_running_statistics_after_several_steps(shape):
    ours, ref = _pair(shape[-1], momentum=0.3)
    for step in range(6):
        x = torch.randn(shape, generator=torch.Generator().manual_seed(10 + step)) * 3 + 1
        ours(x)
        ref(_to_torch(x))
    assert close(ours.running_mean, ref.running_mean)
    assert close(ours.running_var, ref.running_var, atol=1e-5)
    # eval mode uses them, and matches torch too
    ours.eval()
    ref.eval()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(99))
    assert close(ours(x), _to_torch(ref(_to_torch(x))), atol=1e-5)


def test_eval_mode_never_changes_running_statistics():
    ours, _ = _pair(6)
    ours(torch.randn(16, 6))  # one training step moves them
    mean, var = ours.running_mean.clone(), ours.running_var.clone()
    ours.eval()
    for _ in range(3):
        ours(torch.randn(16, 6) * 10)
    assert torch.equal(ours.running_mean, mean) and torch.equal(ours.running_var, var)


def test_lecture_flavour_uses_the_unbiased_variance():
    bn = BatchNorm1d(4, momentum=0.5, unbiased=True)
    x = torch.randn(10, 4, generator=torch.Generator().manual_seed(0))
    y = bn(x)
    want = (x - x.mean(0, keepdim=True)) / torch.sqrt(x.var(0, keepdim=True) + 1e-5)
    assert torch.equal(y, bn.weight * want + bn.bias)
    assert torch.allclose(bn.running_var, 0.5 * torch.ones(4) + 0.5 * x.var(0), atol=1e-7)


def test_batchnorm_rejects_other_ranks():
    with pytest.raises(ValueError, match="expects"):
        BatchNorm1d(3)(torch.randn(2, 3, 4, 5))


def test_tanh_embedding_flatten():
    x = _x(3, 4)
    assert torch.equal(Tanh()(x), torch.tanh(x))
    emb = Embedding(10, 3, generator=torch.Generator().manual_seed(0))
    ref = tnn.Embedding(10, 3)
    with torch.no_grad():
        ref.weight.copy_(emb.weight)
    idx = torch.tensor([[1, 2], [9, 0]])
    assert torch.equal(emb(idx), ref(idx))
    emb(idx).sum().backward()
    ref(idx).sum().backward()
    assert torch.equal(emb.weight.grad, ref.weight.grad)
    assert Flatten()(torch.zeros(2, 3, 4)).shape == (2, 12)


def test_sequential_keeps_outputs_and_their_gradients():
    g = torch.Generator().manual_seed(0)
    net = Sequential([Linear(4, 8, generator=g), Tanh(), Linear(8, 2, generator=g)])
    net.keep_grads()
    y = net(torch.randn(5, 4))
    y.sum().backward()
    assert all(layer.out.grad is not None for layer in net.layers)
    assert net.out is y
    assert len(list(net.parameters())) == 4
