"""The recurrent language models of Chapter 7 (charlm.recurrent): cells against torch.nn,
causality, configs, seeding and a short training run.

Tolerances: float32 throughout. The cells agree with ``torch.nn.RNNCell`` / ``GRUCell``
to atol 1e-6 / rtol 1e-5, values and gradients: the same arithmetic in another order
(x @ W against x @ W.T), so bit equality is not expected. Causality is checked exactly:
a later character must leave earlier positions' logits bit for bit the same.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from charlm.data import build_dataset
from charlm.optim import AdamWConfig
from charlm.recurrent import GRUCell, RecurrentConfig, RecurrentLM, RNNCell
from charlm.train import train

ATOL, RTOL = 1e-6, 1e-5
SMALL = {"vocab_size": 27, "block_size": 8, "n_embd": 16, "n_hidden": 32}


def close(a, b):
    return torch.allclose(a, b, atol=ATOL, rtol=RTOL)


def _pair(cell: str, n_in: int = 5, n_hidden: int = 7):
    """Our cell with random non-zero biases, and torch's with the same weights copied in."""
    g = torch.Generator().manual_seed(0)
    ours = (RNNCell if cell == "rnn" else GRUCell)(n_in, n_hidden, generator=g)
    ref = nn.RNNCell(n_in, n_hidden) if cell == "rnn" else nn.GRUCell(n_in, n_hidden)
    with torch.no_grad():
        ours.x2h.bias.copy_(torch.randn(ours.x2h.bias.shape, generator=g))
        ours.h2h.bias.copy_(torch.randn(ours.h2h.bias.shape, generator=g))
        ref.weight_ih.copy_(ours.x2h.weight.T)  # torch stores (out, in)
        ref.bias_ih.copy_(ours.x2h.bias)
        ref.weight_hh.copy_(ours.h2h.weight.T)
        ref.bias_hh.copy_(ours.h2h.bias)
    return ours, ref


def _unroll(cell: nn.Module, xs: torch.Tensor, h0: torch.Tensor, w: torch.Tensor):
    """Three steps with the state fed back, so gradients also flow through h; a weighted sum."""
    h, outs = h0, []
    for x in xs:
        h = cell(x, h)
        outs.append(h)
    out = torch.stack(outs)
    return out, (out * w).sum()


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_cell_matches_torch(cell):
    """RNNCell is nn.RNNCell (tanh), GRUCell is nn.GRUCell (gates r, z, n): values and grads."""
    ours, ref = _pair(cell)
    g = torch.Generator().manual_seed(1)
    xs = torch.randn(3, 4, 5, generator=g)  # (steps, B, n_in)
    h0 = torch.randn(4, 7, generator=g)
    w = torch.randn(3, 4, 7, generator=g)  # a random upstream gradient
    inputs = [(xs.clone().requires_grad_(), h0.clone().requires_grad_()) for _ in range(2)]
    out1, loss1 = _unroll(ours, *inputs[0], w)
    out2, loss2 = _unroll(ref, *inputs[1], w)
    assert close(out1, out2)
    loss1.backward()
    loss2.backward()
    assert close(inputs[0][0].grad, inputs[1][0].grad)  # d/dx
    assert close(inputs[0][1].grad, inputs[1][1].grad)  # d/dh0
    assert close(ours.x2h.weight.grad, ref.weight_ih.grad.T)
    assert close(ours.x2h.bias.grad, ref.bias_ih.grad)
    assert close(ours.h2h.weight.grad, ref.weight_hh.grad.T)
    assert close(ours.h2h.bias.grad, ref.bias_hh.grad)


def _model(cell: str, seed: int = 0) -> RecurrentLM:
    return RecurrentConfig(cell=cell, **SMALL).build(torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_all_logits_are_causal(cell):
    """Changing the character at position t leaves positions < t exactly equal, changes t."""
    model = _model(cell)
    idx = torch.randint(0, 27, (4, 8), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        base = model.all_logits(idx)
        assert base.shape == (4, 8, 27)
        for t in range(8):
            changed = idx.clone()
            changed[:, t] = (changed[:, t] + 1) % 27
            logits = model.all_logits(changed)
            assert torch.equal(logits[:, :t], base[:, :t]), t
            assert not torch.equal(logits[:, t], base[:, t]), t


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"cell": "lstm"}, "cell"),
        ({"n_hidden": 0}, "n_hidden"),
        ({"n_embd": -3}, "n_embd"),
        ({"block_size": 2.5}, "block_size"),
        ({"vocab_size": 0}, "vocab_size"),
    ],
)
def test_bad_config_values_are_rejected(kwargs, field):
    with pytest.raises(ValueError, match=f"RecurrentConfig\\.{field}"):
        RecurrentConfig(**kwargs)


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_same_seed_same_parameters(cell):
    """build() draws every weight from the generator it is given, so a seed fixes the model."""
    a, b, c = _model(cell, seed=3), _model(cell, seed=3), _model(cell, seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["cell.x2h.weight"], sc["cell.x2h.weight"])


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_global_rng_untouched(cell):
    """Building the model and running it in eval mode draw nothing from torch's global RNG."""
    before = torch.random.get_rng_state()
    model = _model(cell)
    model.eval()
    idx = torch.randint(0, 27, (3, 8), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        model(idx)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_short_training_lowers_the_loss(tiny_words, tiny_vocab):
    """30 AdamW steps of train() on a handful of names: the GRU's loss goes down."""
    X, Y = build_dataset(tiny_words, tiny_vocab, block_size=8)
    config = RecurrentConfig(cell="gru", **{**SMALL, "vocab_size": len(tiny_vocab)})
    model = config.build(torch.Generator().manual_seed(0))
    cfg = AdamWConfig(steps=30, batch_size=16, lr=1e-2)
    losses = train(model, X, Y, cfg, generator=torch.Generator().manual_seed(1)).losses
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5
