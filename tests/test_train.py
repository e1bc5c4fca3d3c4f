from __future__ import annotations

import pytest
import torch

from charlm.bigram import NeuralBigram
from charlm.data import build_dataset
from charlm.train import TrainConfig, evaluate, train


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"steps": 0}, "steps"),
        ({"steps": -5}, "steps"),
        ({"steps": 1.5}, "steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": -1}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"lr": -0.1}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"lr": float("inf")}, "lr"),
        ({"decay_step": 10}, "decay_step"),
        ({"lr_final": 0.01}, "decay_step"),
        ({"steps": 10, "decay_step": 11, "lr_final": 0.01}, "decay_step"),
        ({"decay_step": 5, "lr_final": 0.0}, "lr_final"),
        ({"l2": -1.0}, "l2"),
    ],
)
def test_bad_config_values_are_rejected(kwargs, field):
    with pytest.raises(ValueError, match=f"TrainConfig.{field}"):
        TrainConfig(**kwargs)


def test_step_schedule():
    c = TrainConfig(steps=10, lr=0.1, decay_step=4, lr_final=0.01)
    assert [c.lr_at(i) for i in (0, 3, 4, 9)] == [0.1, 0.1, 0.01, 0.01]


def _setup(tiny_words, tiny_vocab, seed=0):
    X, Y = build_dataset(tiny_words, tiny_vocab, block_size=1)
    model = NeuralBigram(len(tiny_vocab), generator=torch.Generator().manual_seed(seed))
    return model, X, Y


def test_same_seed_same_losses(tiny_words, tiny_vocab):
    cfg = TrainConfig(steps=50, batch_size=4, lr=1.0)
    runs = []
    for _ in range(2):
        model, X, Y = _setup(tiny_words, tiny_vocab)
        runs.append(train(model, X, Y, cfg, generator=torch.Generator().manual_seed(3)).losses)
    assert runs[0] == runs[1]
    model, X, Y = _setup(tiny_words, tiny_vocab)
    other = train(model, X, Y, cfg, generator=torch.Generator().manual_seed(4)).losses
    assert other != runs[0]


def test_minibatches_need_a_generator(tiny_words, tiny_vocab):
    model, X, Y = _setup(tiny_words, tiny_vocab)
    with pytest.raises(ValueError, match="Generator"):
        train(model, X, Y, TrainConfig(steps=1, batch_size=4))


def test_update_is_plain_sgd(tiny_words, tiny_vocab):
    # one full-batch step equals w - lr * grad computed by autograd
    model, X, Y = _setup(tiny_words, tiny_vocab)
    w0 = model.weight.detach().clone().requires_grad_()
    loss = torch.nn.functional.cross_entropy(
        torch.nn.functional.one_hot(X[:, 0], len(tiny_vocab)).float() @ w0, Y
    )
    loss.backward()
    train(model, X, Y, TrainConfig(steps=1, batch_size=None, lr=0.5))
    assert torch.equal(model.weight.detach(), (w0 + -0.5 * w0.grad).detach())


def test_evaluate_restores_mode_and_builds_no_graph(tiny_words, tiny_vocab):
    model, X, Y = _setup(tiny_words, tiny_vocab)
    model.train()
    evaluate(model, X, Y)
    assert model.training and model.weight.grad is None
    model.eval()
    evaluate(model, X, Y)
    assert not model.training
