"""The ensemble of Chapter 7 (charlm.ensemble): its probabilities are its members' mean, it
keeps the model contract, and it is never worse than its members' average loss.

Tolerances: float32; the mean of probabilities is computed here directly (softmax, mean)
and by the ensemble in log space (logsumexp), so they agree to 1e-6, not bit for bit.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from charlm.data import build_dataset
from charlm.ensemble import Ensemble, EnsembleConfig
from charlm.recurrent import RecurrentConfig
from charlm.train import evaluate
from charlm.transformer import TransformerConfig

WORDS = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper"]
SMALL = RecurrentConfig(cell="gru", vocab_size=27, block_size=9, n_embd=8, n_hidden=16)


def members(k: int, config=SMALL):
    return [config.build(torch.Generator().manual_seed(seed)).eval() for seed in range(k)]


@pytest.fixture
def windows(vocab):
    return build_dataset(WORDS, vocab, SMALL.block_size)


def test_its_probabilities_are_the_mean_of_its_members(windows):
    X, _ = windows
    models = members(3)
    probs = torch.stack([F.softmax(m(X), dim=-1) for m in models]).mean(dim=0)
    got = F.softmax(Ensemble(models)(X), dim=-1)
    assert got.shape == (len(X), 27)
    assert torch.allclose(got, probs, atol=1e-6)
    # its logits are log-probabilities already: they sum to one without a softmax
    assert torch.allclose(Ensemble(models)(X).exp().sum(dim=-1), torch.ones(len(X)), atol=1e-5)


def test_one_member_is_that_member(windows):
    X, Y = windows
    (model,) = members(1)
    assert evaluate(Ensemble([model]), X, Y) == pytest.approx(evaluate(model, X, Y), abs=1e-6)


def test_its_loss_is_at_most_its_members_mean_loss(windows):
    """Cross-entropy is convex in the probabilities (Jensen): the mean prediction's loss is
    at most the members' mean loss, strictly when they disagree."""
    X, Y = windows
    models = members(3)
    each = [evaluate(m, X, Y) for m in models]
    together = evaluate(Ensemble(models), X, Y)
    assert together < sum(each) / len(each)


def test_members_of_different_kinds_average_alike(windows):
    X, Y = windows
    tf = TransformerConfig(vocab_size=27, block_size=9, n_layer=1, n_head=2, n_embd=8)
    models = [*members(1), tf.build(torch.Generator().manual_seed(5)).eval()]
    logp = torch.stack([F.log_softmax(m(X), dim=-1) for m in models])
    want = torch.logsumexp(logp, dim=0) - math.log(2)
    assert torch.allclose(Ensemble(models)(X), want, atol=1e-6)


def test_members_must_read_the_same_context():
    short = RecurrentConfig(cell="gru", block_size=4, n_embd=8, n_hidden=16)
    with pytest.raises(ValueError, match="same context"):
        Ensemble([*members(1), short.build(torch.Generator().manual_seed(0))])
    with pytest.raises(ValueError, match="at least one member"):
        Ensemble([])


def test_config_builds_its_size_and_refuses_a_bad_one():
    model = EnsembleConfig(SMALL, size=2).build(torch.Generator().manual_seed(0))
    assert len(model.members) == 2 and model.block_size == SMALL.block_size
    with pytest.raises(ValueError, match="size"):
        EnsembleConfig(SMALL, size=0)
