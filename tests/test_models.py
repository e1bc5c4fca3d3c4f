from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from charlm.data import build_dataset
from charlm.models import MLP, MLPConfig
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
    g = torch.Generator().manual_seed(2147483647)
    model = MLPConfig().build(torch.Generator().manual_seed(2147483647))
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
    assert MLPConfig().build(torch.Generator()).num_params() == 11_897


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
