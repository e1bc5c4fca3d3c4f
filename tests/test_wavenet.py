"""Chapter 5: FlattenConsecutive, 3-D BatchNorm (fixed and buggy), the WaveNet builder, the
shape trace, the dilated-convolution equivalence, and the headline recipe's first steps."""

from __future__ import annotations

import pytest
import torch
import torch.nn as tnn

from charlm import lectures
from charlm.layers import BatchNorm1d, FlattenConsecutive
from charlm.models import DilatedConvNet, WaveNetConfig, num_params
from charlm.stats import shape_trace
from charlm.train import TrainConfig, train


@pytest.mark.parametrize("T, n, want", [(8, 2, (3, 4, 10)), (6, 3, (3, 2, 15)), (5, 5, (3, 25))])
def test_flatten_consecutive_shapes(T, n, want):
    x = torch.arange(3 * T * 5, dtype=torch.float32).view(3, T, 5)
    y = FlattenConsecutive(n)(x)
    assert y.shape == want
    # consecutive steps are concatenated in order: step 0's channels, then step 1's
    assert torch.equal(y.reshape(3, -1), x.reshape(3, -1))


@pytest.mark.parametrize("T, n", [(7, 2), (9, 4)])
def test_flatten_consecutive_rejects_indivisible_time(T, n):
    with pytest.raises(ValueError, match=f"{T} is not divisible by {n}"):
        FlattenConsecutive(n)(torch.zeros(2, T, 3))


def test_3d_batchnorm_equals_torch_over_the_transposed_input():
    ours = BatchNorm1d(6)
    ref = tnn.BatchNorm1d(6)
    x = torch.randn(16, 4, 6, generator=torch.Generator().manual_seed(0))
    y = ours(x)
    assert torch.allclose(y, ref(x.transpose(1, 2)).transpose(1, 2), atol=1e-6)
    assert torch.allclose(ours.running_var, ref.running_var, atol=1e-6)


def test_the_lectures_batchnorm_bug_keeps_one_statistic_per_position():
    x = torch.randn(32, 4, 6, generator=torch.Generator().manual_seed(0))
    buggy = BatchNorm1d(6, reduce_time=False)
    fixed = BatchNorm1d(6)
    y_bug, y_fix = buggy(x), fixed(x)
    assert buggy.running_mean.shape == (4, 6) and fixed.running_mean.shape == (6,)
    # buggy: each position is normalised on its own; fixed: over batch and time together
    assert torch.allclose(y_bug.mean(0), torch.zeros(4, 6), atol=1e-5)
    assert torch.allclose(y_fix.mean((0, 1)), torch.zeros(6), atol=1e-5)
    assert not torch.allclose(y_fix.mean(0), torch.zeros(4, 6), atol=1e-3)


def test_parameter_counts_of_the_performance_log():
    counts = [
        sum(p.numel() for p in cfg.build(torch.Generator()).parameters())
        for cfg in (
            WaveNetConfig(block_size=3, n_embd=10, n_hidden=200, hierarchical=False),
            WaveNetConfig(n_embd=10, n_hidden=200, hierarchical=False),
            WaveNetConfig(n_embd=10, n_hidden=68),
            WaveNetConfig(),
        )
    ]
    assert counts == [12_097, 22_097, 22_397, 76_579]
    with pytest.raises(ValueError, match="power of 2"):
        WaveNetConfig(block_size=6)


def test_generator_matches_the_lectures_global_seed():
    torch.manual_seed(42)
    a = WaveNetConfig().build(None)
    b = WaveNetConfig().build(torch.Generator().manual_seed(42))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_shape_trace():
    model = WaveNetConfig().build(torch.Generator().manual_seed(0))
    rows = shape_trace(model, torch.zeros(4, 8, dtype=torch.long))
    assert [r.shape for r in rows][:3] == [(4, 8, 24), (4, 4, 48), (4, 4, 128)]
    assert rows[-1].shape == (4, 27) and sum(r.params for r in rows) == 76_579
    assert model.training  # left as it was


def test_dilated_convolution_equals_the_tree():
    model = WaveNetConfig().build(torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(2)
    train(
        model,
        torch.randint(0, 27, (200, 8), generator=g),
        torch.randint(0, 27, (200,), generator=g),
        TrainConfig(steps=20, batch_size=32),
        g,
    )  # running statistics away from 0 and 1
    model.eval()
    conv = DilatedConvNet(model)
    seq = torch.tensor([[0] * 8 + [5, 13, 13, 1, 20, 9]])  # boundary padding, then a word
    contexts = torch.stack([seq[0, i : i + 8] for i in range(seq.shape[1] - 7)])
    with torch.no_grad():
        assert torch.allclose(conv(seq)[0], model(contexts), atol=1e-5)


def test_headline_recipe_first_steps_match_the_full_run(names, vocab, one_thread):
    from charlm.data import build_dataset, split_words

    X, Y = build_dataset(split_words(names).train, vocab, 8)
    g = torch.Generator().manual_seed(lectures.PART5_SEED)
    model = WaveNetConfig().build(g)
    result = train(model, X, Y, TrainConfig(steps=5, batch_size=32, lr=0.1), g)
    # recorded from the full 200,000-step run that printed train 1.7690284 / dev 1.9936526
    assert result.losses == [
        3.3167154788970947,
        3.2927401065826416,
        3.2275969982147217,
        3.18381929397583,
        3.172725200653076,
    ]


def test_fast_kernels_build_the_same_network_with_torchs_kernels():
    from charlm.kernels import FastTanh, FusedBatchNorm1d
    from charlm.layers import BatchNorm1d, Tanh
    from charlm.models import WaveNetConfig

    fast = WaveNetConfig(fast_kernels=True).build(torch.Generator().manual_seed(42))
    exact = WaveNetConfig().build(torch.Generator().manual_seed(42))
    assert num_params(fast) == num_params(exact) == lectures.PART5_PARAMS
    kinds = [type(m) for m in fast.modules() if isinstance(m, (BatchNorm1d, Tanh))]
    assert set(kinds) == {FusedBatchNorm1d, FastTanh}
    with pytest.raises(ValueError, match="fast_kernels"):
        WaveNetConfig(fast_kernels=True, bn_reduce_time=False)
