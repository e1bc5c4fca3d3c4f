"""Every hand-written gradient of Chapter 4 against autograd, for random shapes and seeds.

Tolerances, as max absolute difference: 1e-6 in float32 and 1e-12 in float64, for networks
in the lectures' regime (a vocabulary of at least 10, a batch of at least 8 and a fan-in of
at least 4). The manual and
autograd computations order their operations differently, so results agree to rounding,
not to the bit, except where both do the very same operations.

Degenerate shapes (batches of 2, a fan-in of 1, a vocabulary of 2) can make a batch's
variance tiny, the gradients through BatchNorm large, and the sums in BatchNorm's backward
cancel: float32 then loses digits in both computations. There the check is in float64,
to 1e-12 times the largest gradient magnitude when that exceeds 1.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from charlm import lectures
from charlm.backprop import (
    PARAMS,
    STEPS,
    BackpropConfig,
    ManualMLP,
    autograd_grads,
    autograd_step,
    backward,
    batchnorm_backward,
    compare,
    cross_entropy_backward,
    forward,
    init_params,
    manual_step,
    train_manual,
)
from charlm.train import TrainConfig, evaluate

TOL = {torch.float32: 1e-6, torch.float64: 1e-12}


def _batch(config, n, seed, dtype):
    g = torch.Generator().manual_seed(seed)
    p = init_params(config, g, torch.Generator().manual_seed(seed + 1), dtype=dtype)
    X = torch.randint(0, config.vocab_size, (n, config.block_size), generator=g)
    Y = torch.randint(0, config.vocab_size, (n,), generator=g)
    return p, X, Y


def shapes(min_embd: int = 1, min_block: int = 1, min_vocab: int = 2):
    return st.fixed_dictionaries(
        {
            "vocab_size": st.integers(min_vocab, 30),
            "block_size": st.integers(min_block, 5),
            "n_embd": st.integers(min_embd, 12),
            "n_hidden": st.integers(1, 80),
        }
    )


dtypes = st.sampled_from([torch.float32, torch.float64])


@settings(max_examples=40, deadline=None)
@given(
    shape=shapes(min_embd=2, min_block=2, min_vocab=10),
    n=st.integers(8, 64),
    seed=st.integers(0, 2**31),
    dtype=dtypes,
)
def test_every_manual_gradient_matches_autograd(shape, n, seed, dtype):
    config = BackpropConfig(**shape)
    p, X, Y = _batch(config, n, seed, dtype)
    t, ref = autograd_grads(p, X, Y)
    manual = backward(p, t, X, Y)
    assert set(manual) == set(STEPS[:-1]) | set(PARAMS)
    for row in compare(manual, ref):
        assert row.max_diff <= TOL[dtype], row


@settings(max_examples=40, deadline=None)
@given(shape=shapes(), n=st.integers(2, 64), seed=st.integers(0, 2**31))
def test_manual_gradients_in_degenerate_shapes_match_in_float64(shape, n, seed):
    config = BackpropConfig(**shape)
    dtype = torch.float64
    p, X, Y = _batch(config, n, seed, dtype)
    t, ref = autograd_grads(p, X, Y)
    for row in compare(backward(p, t, X, Y), ref):
        scale = max(1.0, ref[row.name].abs().max().item())
        assert row.max_diff <= TOL[dtype] * scale, row


@pytest.mark.parametrize("eps", [1e-5, 1e-3, 0.5])
def test_backward_uses_the_eps_forward_used(eps):
    """A BatchNorm eps other than the lecture's must not give wrong gradients silently."""
    config = BackpropConfig(n_hidden=8)
    p, X, Y = _batch(config, 6, 11, torch.float64)  # a small batch: eps matters
    t, ref = autograd_grads(p, X, Y, eps)
    for row in compare(backward(p, t, X, Y, eps), ref):
        assert row.max_diff <= TOL[torch.float64], row


def test_the_config_has_no_field_that_does_nothing():
    with pytest.raises(TypeError):
        BackpropConfig(eps=1e-3)  # eps is an argument of forward and backward, not a size


def test_the_manual_model_counts_its_parameters_like_every_model():
    from charlm.models import num_params

    model = ManualMLP(init_params(BackpropConfig(), torch.Generator().manual_seed(0)))
    assert num_params(model) == lectures.PART4_PARAMS
    assert not any(p.requires_grad for p in model.parameters())  # trained without autograd


@settings(max_examples=30, deadline=None)
@given(
    shape=shapes(min_embd=2, min_block=2, min_vocab=10),
    n=st.integers(8, 64),
    seed=st.integers(0, 2**31),
)
def test_fused_pieces_match_autograd(shape, n, seed):
    for dtype in (torch.float32, torch.float64):
        config = BackpropConfig(**shape)
        p, X, Y = _batch(config, n, seed, dtype)
        t, ref = autograd_grads(p, X, Y)
        dlogits = cross_entropy_backward(t["logits"], Y)
        dhprebn = batchnorm_backward(ref["hpreact"], p["bngain"], t["bnvar_inv"], t["bnraw"])
        assert (dlogits - ref["logits"]).abs().max() <= TOL[dtype]
        assert (dhprebn - ref["hprebn"]).abs().max() <= TOL[dtype]


def test_gradcheck_on_the_fused_pieces():
    """The fused formulas are the true derivatives: torch's finite-difference check."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    Y = torch.randint(0, 5, (6,), generator=g)

    def ce_via_fused(z):
        return CrossEntropy.apply(z, Y)

    torch.autograd.gradcheck(ce_via_fused, (logits,))

    hprebn = torch.randn(8, 4, generator=g, dtype=torch.float64, requires_grad=True)
    gain = torch.rand(1, 4, generator=g, dtype=torch.float64) + 0.5
    bias = torch.randn(1, 4, generator=g, dtype=torch.float64)
    torch.autograd.gradcheck(lambda x: BatchNorm.apply(x, gain, bias), (hprebn,))


class CrossEntropy(torch.autograd.Function):
    """Mean cross-entropy whose backward is the fused formula, for gradcheck."""

    @staticmethod
    def forward(ctx, logits, Y):
        ctx.save_for_backward(logits, Y)
        return torch.nn.functional.cross_entropy(logits, Y)

    @staticmethod
    def backward(ctx, grad):
        logits, Y = ctx.saved_tensors
        return grad * cross_entropy_backward(logits.detach().clone(), Y), None


class BatchNorm(torch.autograd.Function):
    """The Chapter 4 BatchNorm whose backward is the fused formula, for gradcheck."""

    @staticmethod
    def forward(ctx, hprebn, gain, bias):
        n = hprebn.shape[0]
        bnvar = hprebn.var(0, keepdim=True, unbiased=True)
        bnvar_inv = (bnvar + 1e-5) ** -0.5
        bnraw = (hprebn - hprebn.sum(0, keepdim=True) / n) * bnvar_inv
        ctx.save_for_backward(gain, bnvar_inv, bnraw)
        return gain * bnraw + bias

    @staticmethod
    def backward(ctx, dhpreact):
        gain, bnvar_inv, bnraw = ctx.saved_tensors
        return batchnorm_backward(dhpreact, gain, bnvar_inv, bnraw), None, None


def test_forward_is_the_standard_computation():
    config = BackpropConfig()
    p, X, Y = _batch(config, 32, 0, torch.float64)
    t = forward(p, X, Y)
    model = ManualMLP(p)
    logits = model(X)  # training mode: batch statistics
    assert torch.allclose(t["logits"], logits)
    assert torch.allclose(t["loss"], torch.nn.functional.cross_entropy(logits, Y))


def test_manual_step_equals_an_autograd_step():
    config = BackpropConfig(n_hidden=50)
    p, X, Y = _batch(config, 32, 3, torch.float32)
    loss, grads = manual_step(p, X, Y)
    _, ref = autograd_grads(p, X, Y)
    loss2, grads2 = autograd_step({k: v.clone() for k, v in p.items()}, X, Y)
    assert torch.equal(loss, loss2)
    for name in PARAMS:
        assert (grads[name] - ref[name]).abs().max() <= 1e-6, name
        assert (grads[name] - grads2[name]).abs().max() <= 1e-6, name
    # and a whole training run tracks an autograd-trained copy on the same batches
    model = ManualMLP(p)
    leaves = {k: v.clone().requires_grad_() for k, v in p.items()}
    data = torch.Generator().manual_seed(9)
    Xs = torch.randint(0, 27, (500, 3), generator=data)
    Ys = torch.randint(0, 27, (500,), generator=data)
    train_manual(
        model,
        Xs,
        Ys,
        TrainConfig(steps=20, batch_size=16, lr=0.1),
        torch.Generator().manual_seed(10),
    )
    batches = torch.Generator().manual_seed(10)
    for _ in range(20):
        ix = torch.randint(0, 500, (16,), generator=batches)
        for v in leaves.values():
            v.grad = None
        forward(leaves, Xs[ix], Ys[ix])["loss"].backward()
        with torch.no_grad():
            for v in leaves.values():
                v += -0.1 * v.grad
    for name in PARAMS:
        assert torch.allclose(model.params[name], leaves[name].detach(), atol=1e-5), name


def test_manual_model_calibrates_and_evaluates(tiny_words, tiny_vocab):
    from charlm.data import build_dataset

    X, Y = build_dataset(tiny_words, tiny_vocab, 3)
    config = BackpropConfig(vocab_size=len(tiny_vocab), n_hidden=16)
    model = ManualMLP(init_params(config, torch.Generator().manual_seed(0)))
    train_manual(model, X, Y, TrainConfig(steps=30, batch_size=8), torch.Generator())
    model.calibrate(X)
    model.train()
    batch_logits = model(X)
    model.eval()
    assert torch.allclose(model(X), batch_logits, atol=1e-5)
    assert evaluate(model, X, Y) == pytest.approx(
        torch.nn.functional.cross_entropy(batch_logits, Y).item(), abs=1e-5
    )
    with pytest.raises(ValueError, match="batch_size"):
        train_manual(model, X, Y, TrainConfig(steps=1, batch_size=None), torch.Generator())


def test_compare_reports_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        compare({"a": torch.zeros(2)}, {"a": torch.zeros(3)})
    (row,) = compare({"a": torch.tensor([1.0, 2.0])}, {"a": torch.tensor([1.0, 2.5])})
    assert not row.exact and not row.close and row.max_diff == 0.5


def test_train_manual_with_autograd_steps_tracks_manual_steps():
    config = BackpropConfig(n_hidden=30)
    p, _, _ = _batch(config, 2, 4, torch.float32)
    data = torch.Generator().manual_seed(1)
    X = torch.randint(0, 27, (300, 3), generator=data)
    Y = torch.randint(0, 27, (300,), generator=data)
    runs = []
    for step in (manual_step, autograd_step):
        model = ManualMLP(p)
        tc = TrainConfig(steps=15, batch_size=16, lr=0.1)
        runs.append((train_manual(model, X, Y, tc, torch.Generator().manual_seed(2), step), model))
    (a, ma), (b, mb) = runs
    assert a.losses[0] == b.losses[0]
    assert max(abs(x - y) for x, y in zip(a.losses, b.losses)) < 1e-5
    assert all(torch.allclose(ma.params[k], mb.params[k], atol=1e-5) for k in PARAMS)
    assert not any(v.requires_grad for v in mb.params.values())
