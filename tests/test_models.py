from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from charlm import lectures
from charlm.data import build_dataset
from charlm.layers import BatchNorm1d, Sequential
from charlm.models import MLP, DeepMLPConfig, MLPConfig, num_params
from charlm.train import TrainConfig, evaluate, train


def test_contract_shapes():
    model = MLPConfig(vocab_size=27, block_size=4, n_embd=5, n_hidden=7).build(torch.Generator())
    idx = torch.randint(0, 27, (11, 4))
    assert model(idx).shape == (11, 27)
    assert model.block_size == 4


@pytest.mark.parametrize("field", ["vocab_size", "block_size", "n_embd", "n_hidden"])
@pytest.mark.parametrize("value", [0, -3, 2.5])
def test_bad_sizes_are_rejected(field, value):
    with pytest.raises(ValueError, match=f"MLPConfig.{field}"):
        MLPConfig(**{field: value})


def test_parameters_drawn_in_the_lectures_order():
    g = torch.Generator().manual_seed(lectures.SEED)
    model = MLPConfig().build(torch.Generator().manual_seed(lectures.SEED))
    expected = [
        torch.randn((27, 10), generator=g),
        torch.randn((30, 200), generator=g),
        torch.randn(200, generator=g),
        torch.randn((200, 27), generator=g),
        torch.randn(27, generator=g),
    ]
    for name, want in zip(["C", "W1", "b1", "W2", "b2"], expected):
        assert torch.equal(getattr(model, name).detach(), want), name


def test_parameter_count_matches_the_lecture():
    assert num_params(MLPConfig().build(torch.Generator())) == lectures.PART2_PARAMS


def test_loss_at_init(tiny_words, tiny_vocab):
    X, Y = build_dataset(tiny_words, tiny_vocab, 3)
    V = len(tiny_vocab)
    model = MLPConfig(vocab_size=V).build(torch.Generator().manual_seed(0))
    # standard-normal weights make confident, mostly wrong predictions
    assert evaluate(model, X, Y) > 2 * math.log(V)
    # with a zero output layer every prediction is uniform: exactly ln V
    with torch.no_grad():
        model.W2.zero_()
        model.b2.zero_()
    assert evaluate(model, X, Y) == pytest.approx(math.log(V), abs=1e-6)


def test_forward_is_the_lectures_arithmetic():
    model = MLPConfig().build(torch.Generator().manual_seed(1))
    idx = torch.randint(0, 27, (16, 3), generator=torch.Generator().manual_seed(2))
    emb = model.C[idx]
    h = torch.tanh(emb.view(-1, 30) @ model.W1 + model.b1)
    assert torch.equal(model(idx), h @ model.W2 + model.b2)


def test_a_tiny_batch_can_be_overfit(tiny_words, tiny_vocab):
    X, Y = build_dataset(tiny_words, tiny_vocab, 3)
    # keep one target per distinct context, so a perfect fit (loss 0) exists
    first = {}
    for i, ctx in enumerate(map(tuple, X.tolist())):
        first.setdefault(ctx, i)
    keep = torch.tensor(sorted(first.values()))[:32]
    Xb, Yb = X[keep], Y[keep]
    model = MLPConfig(vocab_size=len(tiny_vocab)).build(torch.Generator().manual_seed(0))
    train(model, Xb, Yb, TrainConfig(steps=3000, batch_size=None, lr=0.1))
    assert evaluate(model, Xb, Yb) < 0.01


def test_mlp_is_an_nn_module_with_five_parameters():
    model = MLP(MLPConfig(), torch.Generator())
    assert [n for n, _ in model.named_parameters()] == ["C", "W1", "b1", "W2", "b2"]
    assert F.softmax(model(torch.zeros(1, 3, dtype=torch.long)), dim=1).sum().item() == (
        pytest.approx(1.0)
    )


# --- Chapter 3: initialisation scales, BatchNorm, the deep network ---------------------


def _lecture_batchnorm_loop(X, Y, steps):
    """The lecture's BatchNorm MLP and loop, written out by hand."""
    g = torch.Generator().manual_seed(lectures.SEED)
    C = torch.randn((27, 10), generator=g)
    W1 = torch.randn((30, 200), generator=g) * (5 / 3) / (30**0.5)
    W2 = torch.randn((200, 27), generator=g) * 0.01
    b2 = torch.randn(27, generator=g) * 0
    bngain, bnbias = torch.ones((1, 200)), torch.zeros((1, 200))
    bnmean_running, bnstd_running = torch.zeros((1, 200)), torch.ones((1, 200))
    parameters = [C, W1, W2, b2, bngain, bnbias]
    for p in parameters:
        p.requires_grad = True
    losses = []
    for i in range(steps):
        ix = torch.randint(0, X.shape[0], (32,), generator=g)
        emb = C[X[ix]]
        hpreact = emb.view(emb.shape[0], -1) @ W1
        bnmeani = hpreact.mean(0, keepdim=True)
        bnstdi = hpreact.std(0, keepdim=True)
        hpreact = bngain * (hpreact - bnmeani) / bnstdi + bnbias
        with torch.no_grad():
            bnmean_running = 0.999 * bnmean_running + 0.001 * bnmeani
            bnstd_running = 0.999 * bnstd_running + 0.001 * bnstdi
        logits = torch.tanh(hpreact) @ W2 + b2
        loss = F.cross_entropy(logits, Y[ix])
        for p in parameters:
            p.grad = None
        loss.backward()
        lr = 0.1 if i < steps // 2 else 0.01
        for p in parameters:
            p.data += -lr * p.grad
        losses.append(loss.item())
    return losses, bnmean_running, bnstd_running


def test_batchnorm_mlp_reproduces_the_lectures_loop_bit_for_bit(tiny_words):
    from charlm.vocab import Vocab

    X, Y = build_dataset(tiny_words * 4, Vocab("abcdefghijklmnopqrstuvwxyz"), 3)
    want, mean, std = _lecture_batchnorm_loop(X, Y, steps=300)
    config = MLPConfig(w1_scale=5 / 3, w1_fan_in=True, w2_scale=0.01, b2_scale=0.0, batchnorm=True)
    g = torch.Generator().manual_seed(lectures.SEED)
    model = config.build(g)
    assert num_params(model) == lectures.PART3_BN_PARAMS
    tc = TrainConfig(steps=300, batch_size=32, lr=0.1, decay_step=150, lr_final=0.01)
    assert train(model, X, Y, tc, generator=g).losses == want
    assert torch.equal(model.bnmean_running, mean) and torch.equal(model.bnstd_running, std)


def test_evaluation_and_sampling_leave_running_statistics_alone(tiny_words, tiny_vocab):
    from charlm.sample import sample

    config = MLPConfig(vocab_size=len(tiny_vocab), batchnorm=True, w2_scale=0.01)
    model = config.build(torch.Generator().manual_seed(0))
    X, Y = build_dataset(tiny_words, tiny_vocab, 3)
    train(model, X, Y, TrainConfig(steps=20, batch_size=8), torch.Generator().manual_seed(1))
    before = [model.bnmean_running.clone(), model.bnstd_running.clone()]
    evaluate(model, X, Y)
    sample(model, tiny_vocab, 5, torch.Generator().manual_seed(2))
    assert torch.equal(model.bnmean_running, before[0])
    assert torch.equal(model.bnstd_running, before[1])
    assert model.training  # put back as it was


def test_calibrate_and_fold(tiny_words, tiny_vocab):
    from charlm.models import fold_batchnorm

    config = MLPConfig(vocab_size=len(tiny_vocab), batchnorm=True, w2_scale=0.1)
    model = config.build(torch.Generator().manual_seed(0))
    X, Y = build_dataset(tiny_words, tiny_vocab, 3)
    train(model, X, Y, TrainConfig(steps=50, batch_size=8), torch.Generator().manual_seed(1))
    model.calibrate(X)
    hpre = model.hidden_preactivation(X)
    assert torch.allclose(model.bnmean_running, hpre.mean(0, keepdim=True))
    # after calibration, eval mode on the full set equals train mode's batch statistics
    model.eval()
    eval_logits = model(X)
    model.train()
    with torch.no_grad():
        assert torch.allclose(eval_logits, model(X), atol=1e-5)
    folded = fold_batchnorm(model)
    assert not folded.config.batchnorm and hasattr(folded, "b1")
    assert torch.allclose(folded(X), model.eval()(X), atol=1e-5)
    with pytest.raises(ValueError, match="batchnorm=True"):
        fold_batchnorm(folded)


def test_init_scales_multiply_the_same_draws():
    base = MLPConfig().build(torch.Generator().manual_seed(3))
    scaled = MLPConfig(w1_scale=0.2, b2_scale=0.0).build(torch.Generator().manual_seed(3))
    assert torch.equal(scaled.W1, base.W1 * 0.2) and torch.equal(scaled.W2, base.W2)
    assert torch.equal(scaled.b2, torch.zeros(27))
    kaiming = MLPConfig(w1_scale=5 / 3, w1_fan_in=True).build(torch.Generator().manual_seed(3))
    assert torch.equal(kaiming.W1, base.W1 * (5 / 3) / 30**0.5)  # the lecture's expression
    with pytest.raises(ValueError, match="w1_scale"):
        MLPConfig(w1_scale=float("nan"))


def test_deep_network():
    from charlm.layers import BatchNorm1d, Linear, Sequential
    from charlm.models import DeepMLPConfig

    bn = DeepMLPConfig().build(torch.Generator().manual_seed(0))
    assert isinstance(bn, Sequential) and bn.block_size == 3
    assert sum(p.numel() for p in bn.parameters()) == 47_024
    assert isinstance(bn.layers[-1], BatchNorm1d)
    assert torch.allclose(bn.layers[-1].weight, torch.full((27,), 0.1))
    plain = DeepMLPConfig(batchnorm=False, gain=5 / 3).build(torch.Generator().manual_seed(0))
    linears = [m for m in plain.layers if isinstance(m, Linear)]
    assert len(linears) == 6 and not any(isinstance(m, BatchNorm1d) for m in plain.layers)
    # hidden weights: randn / sqrt(fan_in) * gain; the last: * 0.1 instead
    assert linears[1].weight.std().item() == pytest.approx((5 / 3) / 10, rel=0.05)
    assert linears[-1].weight.std().item() == pytest.approx(0.1 / 10, rel=0.1)
    assert plain(torch.zeros(4, 3, dtype=torch.long)).shape == (4, 27)
    with pytest.raises(ValueError, match="gain"):
        DeepMLPConfig(gain=0)


def test_num_params_counts_every_model_of_the_book():
    from charlm.bigram import NeuralBigram
    from charlm.models import DeepMLPConfig, WaveNetConfig

    g = torch.Generator().manual_seed(0)
    assert num_params(NeuralBigram(27, generator=g)) == 27 * 27
    assert num_params(DeepMLPConfig().build(g)) == lectures.PART3_DEEP_PARAMS
    assert num_params(WaveNetConfig().build(g)) == lectures.PART5_PARAMS


def test_direct_connections_start_at_zero_and_learn(tiny_words, tiny_vocab):
    """Chapter 2's exercise: the same draws as without, and a Wd that starts at zero."""
    V = len(tiny_vocab)
    base = MLPConfig(vocab_size=V).build(torch.Generator().manual_seed(4))
    direct = MLPConfig(vocab_size=V, direct=True).build(torch.Generator().manual_seed(4))
    for name, p in base.named_parameters():
        assert torch.equal(p, getattr(direct, name))
    assert torch.equal(direct.Wd, torch.zeros(30, len(tiny_vocab)))
    X, Y = build_dataset(tiny_words, tiny_vocab, 3)
    assert torch.equal(direct(X), base(X))
    train(direct, X, Y, TrainConfig(steps=5, batch_size=8), torch.Generator().manual_seed(1))
    assert direct.Wd.abs().sum() > 0
    emb = direct.C[X].view(len(X), -1)
    hidden = torch.tanh(emb @ direct.W1 + direct.b1) @ direct.W2 + direct.b2
    assert torch.allclose(direct(X), hidden + emb @ direct.Wd)


def test_folding_keeps_direct_connections(tiny_words, tiny_vocab):
    from charlm.models import fold_batchnorm

    config = MLPConfig(vocab_size=len(tiny_vocab), batchnorm=True, direct=True, w2_scale=0.1)
    model = config.build(torch.Generator().manual_seed(0))
    X, Y = build_dataset(tiny_words, tiny_vocab, 3)
    train(model, X, Y, TrainConfig(steps=20, batch_size=8), torch.Generator().manual_seed(1))
    model.eval()
    assert torch.allclose(fold_batchnorm(model)(X), model(X), atol=1e-5)


def test_relu_activation_is_max_zero():
    g = torch.Generator().manual_seed(0)
    model = MLPConfig(activation="relu").build(g)
    X = torch.randint(0, 27, (8, 3), generator=g)
    with torch.no_grad():
        h = torch.relu(model.hidden_preactivation(X))  # (8, 200)
        torch.testing.assert_close(model(X), h @ model.W2 + model.b2)
        assert (model.hidden_preactivation(X) < 0).any()  # the kink is exercised


@pytest.mark.parametrize(
    "kwargs, message",
    [({"activation": "gelu"}, "activation"), ({"batchnorm": True, "layernorm": True}, "one")],
)
def test_bad_normalisation_and_activation_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLPConfig(**kwargs)


def test_layernorm_matches_torch_and_ignores_batch_mates():
    g = torch.Generator().manual_seed(0)
    model = MLPConfig(layernorm=True).build(g)
    assert not hasattr(model, "b1") and not list(model.buffers())
    with torch.no_grad():
        model.bngain.copy_(torch.rand((1, 200), generator=g) + 0.5)
        model.bnbias.copy_(torch.randn((1, 200), generator=g))
    X = torch.randint(0, 27, (16, 3), generator=g)
    with torch.no_grad():
        hpre = model.hidden_preactivation(X)
        ln = F.layer_norm(hpre, (200,), model.bngain.view(-1), model.bnbias.view(-1), eps=1e-5)
        torch.testing.assert_close(model(X), torch.tanh(ln) @ model.W2 + model.b2)
        # each example alone gives the same logits as in its batch, to float32 rounding
        # (a matmul over 1 row and over 16 round differently); BatchNorm moves them by far more
        alone = torch.cat([model(X[i : i + 1]) for i in range(16)])
        torch.testing.assert_close(model(X), alone, atol=1e-5, rtol=1e-5)
        bn = MLPConfig(batchnorm=True).build(torch.Generator().manual_seed(0))
        assert (bn(X)[:8] - bn(X[:8])).abs().max() > 1e-2
        assert torch.equal(model.train()(X), model.eval()(X))  # one mode only


def test_linear_deep_network_has_no_tanh():
    from charlm.layers import Tanh

    model = DeepMLPConfig(batchnorm=False, linear=True, n_layers=3).build(torch.Generator())
    assert not any(isinstance(layer, Tanh) for layer in model.layers)
    assert model(torch.zeros((2, 3), dtype=torch.long)).shape == (2, 27)


def test_fold_sequential_computes_the_same_logits(tiny_words, tiny_vocab):
    from charlm.models import fold_sequential

    g = torch.Generator().manual_seed(0)
    model = DeepMLPConfig(n_hidden=16, n_layers=2).build(g)
    X, Y = build_dataset(tiny_words, tiny_vocab, 3)
    train(model, X, Y, TrainConfig(steps=30, batch_size=8, lr=0.1), g)  # moves every statistic
    model.eval()
    folded = fold_sequential(model)
    assert not any(isinstance(layer, BatchNorm1d) for layer in folded.layers)
    assert not folded.training
    with torch.no_grad():
        torch.testing.assert_close(folded(X), model(X), atol=1e-5, rtol=1e-5)
    # the original is untouched: its layers are not shared
    assert any(isinstance(layer, BatchNorm1d) for layer in model.layers)


def test_fold_sequential_needs_a_linear_before_batchnorm():
    from charlm.models import fold_sequential

    with pytest.raises(ValueError, match="must follow a Linear"):
        fold_sequential(Sequential([BatchNorm1d(4)]))
