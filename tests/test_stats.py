from __future__ import annotations

import math

import pytest
import torch

from charlm.data import build_dataset
from charlm.layers import Tanh
from charlm.models import DeepMLPConfig, MLPConfig
from charlm.stats import (
    UpdateRatio,
    dead_units,
    diagnose,
    gradient_agreement,
    histogram,
    layer_stats,
    never_active,
    running_mean_error,
    saturation_map,
    stack_stds,
    tensor_stats,
    weight_grad_stats,
)
from charlm.train import TrainConfig, train


def test_histogram_is_a_density():
    h = histogram(torch.randn(10_000, generator=torch.Generator().manual_seed(0)), bins=40)
    width = h.centers[1] - h.centers[0]
    assert sum(h.density) * width == pytest.approx(1.0)
    assert len(h.centers) == len(h.density) == 40
    flat = histogram(torch.full((5,), 2.0))  # a constant still gets a bin
    assert sum(flat.density) > 0


def test_tensor_stats():
    t = torch.tensor([-1.0, -0.98, 0.0, 0.5])
    st = tensor_stats("x", t, threshold=0.97)
    assert st.mean == pytest.approx(t.mean().item()) and st.saturated == pytest.approx(0.5)
    assert math.isnan(tensor_stats("g", t, threshold=None).saturated)


def test_saturation_and_dead_units():
    out = torch.tensor([[1.0, 0.0, -0.995], [0.999, 0.5, 0.2], [-1.0, 0.1, 0.0]])
    assert saturation_map(out).tolist() == [
        [True, False, True],
        [True, False, False],
        [True, False, False],
    ]
    assert dead_units(out) == 1
    assert dead_units(out, share=0.3) == 2


def _deep(tiny_vocab, **kw):
    return DeepMLPConfig(vocab_size=len(tiny_vocab), n_hidden=16, n_layers=3, **kw)


def test_layer_and_weight_stats_after_a_step(tiny_words, tiny_vocab):
    X, Y = build_dataset(tiny_words, tiny_vocab, 3)
    g = torch.Generator().manual_seed(0)
    model = _deep(tiny_vocab).build(g)
    with pytest.raises(ValueError, match="keep_grads"):
        train(model, X, Y, TrainConfig(steps=1, batch_size=8), g)
        layer_stats(model.layers, Tanh, grad=True)
    model.keep_grads()
    train(model, X, Y, TrainConfig(steps=1, batch_size=8), g)
    acts = layer_stats(model.layers, Tanh)
    grads = layer_stats(model.layers, Tanh, grad=True)
    assert len(acts) == len(grads) == 3
    tanh_layers = [m for m in model.layers if isinstance(m, Tanh)]
    assert acts[0].std == pytest.approx(tanh_layers[0].out.std().item())
    assert grads[-1].std == pytest.approx(tanh_layers[-1].out.grad.std().item())
    weights = weight_grad_stats(model)
    assert [w.shape for w in weights][0] == (len(tiny_vocab), 10)
    for w, (_, p) in zip(weights, [(n, p) for n, p in model.named_parameters() if p.ndim == 2]):
        assert w.grad_to_data == pytest.approx((p.grad.std() / p.std()).item())


def test_update_ratio_hook_records_every_step(tiny_words, tiny_vocab):
    X, Y = build_dataset(tiny_words, tiny_vocab, 3)
    g = torch.Generator().manual_seed(0)
    model = _deep(tiny_vocab).build(g)
    rec = UpdateRatio(model)
    train(model, X, Y, TrainConfig(steps=7, batch_size=8, lr=0.05), g, hooks=[rec])
    assert all(len(v) == 7 for v in rec.history.values())
    name, p = next(iter(rec.params.items()))
    assert rec.history[name][-1] == pytest.approx(
        math.log10((0.05 * p.grad).std().item() / p.std().item())
    )


def test_diagnose(tiny_words, tiny_vocab):
    X, Y = build_dataset(tiny_words, tiny_vocab, 3)
    g = torch.Generator().manual_seed(0)
    d = diagnose(_deep(tiny_vocab).build(g), X, Y, TrainConfig(steps=5, batch_size=8), g)
    assert len(d.activations) == 3 and len(d.losses) == 5
    assert d.saturation.shape == (8, 16) and d.saturation.dtype == torch.bool


def test_stack_stds_kaiming_gains_keep_the_spread():
    g = torch.Generator().manual_seed(0)
    relu_plain = stack_stds("relu", 1.0, g, n_layers=6, width=200, batch=500)
    relu_gain = stack_stds("relu", math.sqrt(2), g, n_layers=6, width=200, batch=500)
    linear = stack_stds("linear", 1.0, g, n_layers=6, width=200, batch=500)
    # without its gain, ReLU halves the second moment at every layer
    assert relu_plain[-1] < 0.25 * relu_gain[-1]
    assert 0.4 < relu_gain[-1] < 1.5
    assert all(0.85 < s < 1.15 for s in linear)
    tanh_small = stack_stds("tanh", 1.0, g, n_layers=6, width=200, batch=500)
    tanh_gain = stack_stds("tanh", 5 / 3, g, n_layers=6, width=200, batch=500)
    assert tanh_small[-1] < tanh_small[0] and tanh_gain[-1] > 2 * tanh_small[-1]


def test_never_active_counts_units_below_zero_everywhere():
    preact = torch.tensor([[-1.0, 2.0, 0.0, -3.0], [-0.5, -1.0, 0.0, 0.1]])
    assert never_active(preact) == 2  # units 0 and 2 (zero is not active)


def test_running_mean_error_small_batches_and_slow_momentum():
    g = torch.Generator().manual_seed(0)
    population = torch.randn((5000, 20), generator=g) * 2 + torch.arange(20.0)  # (5000, 20)
    noisy = running_mean_error(population, 8, 0.5, 300, torch.Generator().manual_seed(1))
    steady = running_mean_error(population, 512, 0.5, 300, torch.Generator().manual_seed(1))
    assert steady < noisy / 3  # larger batches, less noise
    # with a tiny momentum and few steps the estimate is still near its starting zero
    start = ((population.mean(0) / population.std(0)) ** 2).mean().sqrt().item()
    slow = running_mean_error(population, 32, 1e-4, 10, torch.Generator().manual_seed(1))
    assert slow == pytest.approx(start, rel=0.01)


def test_gradient_agreement_is_one_for_every_example_and_lower_for_small_batches(
    tiny_words, tiny_vocab
):
    X, Y = build_dataset(tiny_words, tiny_vocab, block_size=3)
    model = MLPConfig(vocab_size=len(tiny_vocab), n_embd=4, n_hidden=16).build(
        torch.Generator().manual_seed(0)
    )
    before = [p.detach().clone() for p in model.parameters()]
    g = torch.Generator().manual_seed(1)
    everything = gradient_agreement(model, X, Y, len(Y), g, draws=3)
    assert everything == pytest.approx([1.0] * 3, abs=1e-5)  # the full batch, reordered
    small = gradient_agreement(model, X, Y, 2, g, draws=50)
    half = gradient_agreement(model, X, Y, len(Y) // 2, g, draws=50)
    assert all(-1.0 <= a <= 1.0 + 1e-6 for a in small)
    assert sum(small) / len(small) < sum(half) / len(half) < 1.0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())
