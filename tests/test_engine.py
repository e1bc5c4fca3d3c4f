"""The scalar autograd engine of Chapter 4 against torch's autograd, in float64.

Tolerances: rtol 1e-10 and atol 1e-12 throughout. Each ``Value`` operation does in Python
floats (IEEE float64) what torch does in float64, so single operations agree to the last
bit or nearly; over the network the two sum in different orders, which costs a few units in
the last place, far inside the tolerance.
"""

from __future__ import annotations

import pytest
import torch

from charlm.backprop import PARAMS, BackpropConfig, forward, init_params
from charlm.engine import Value, grads, mlp_loss, values

RTOL, ATOL = 1e-10, 1e-12


def close(actual, expected, name=""):
    actual = torch.as_tensor(actual, dtype=torch.float64)
    torch.testing.assert_close(
        actual, expected, rtol=RTOL, atol=ATOL, msg=lambda m: f"{name}: {m}" if name else m
    )


# (name, the operation on a Value, the same on a float64 tensor, inputs)
OPS = [
    ("add", lambda x: x + 2.5, lambda x: x + 2.5, [-1.3, 0.7]),
    ("radd", lambda x: 1 + x, lambda x: 1 + x, [-1.3, 0.7]),
    ("sub", lambda x: x - 4, lambda x: x - 4, [-1.3, 0.7]),
    ("rsub", lambda x: 2 - x, lambda x: 2 - x, [-1.3, 0.7]),
    ("mul", lambda x: x * -1.5, lambda x: x * -1.5, [-1.3, 0.7]),
    ("rmul", lambda x: 3 * x, lambda x: 3 * x, [-1.3, 0.7]),
    ("div", lambda x: x / 0.3, lambda x: x / 0.3, [-1.3, 0.7]),
    ("rdiv", lambda x: 2 / x, lambda x: 2 / x, [-1.3, 0.7]),
    ("pow3", lambda x: x**3, lambda x: x**3, [-1.3, 0.7]),
    ("pow-0.5", lambda x: x**-0.5, lambda x: x**-0.5, [0.3, 2.7]),
    ("neg", lambda x: -x, lambda x: -x, [-1.3, 0.7]),
    ("exp", lambda x: x.exp(), torch.exp, [-1.3, 0.7]),
    ("log", lambda x: x.log(), torch.log, [0.3, 2.7]),
    ("tanh", lambda x: x.tanh(), torch.tanh, [-1.3, 0.7]),
    ("relu", lambda x: x.relu(), torch.relu, [-1.3, 0.7]),
]


@pytest.mark.parametrize("name, op, ref, inputs", OPS, ids=[o[0] for o in OPS])
def test_each_operation_matches_torch(name, op, ref, inputs):
    for a in inputs:
        x = Value(a)
        y = op(x)
        y.backward()
        t = torch.tensor(a, dtype=torch.float64, requires_grad=True)
        r = ref(t)
        r.backward()
        close(y.data, r.detach())
        close(x.grad, t.grad)


def test_binary_operations_of_two_values_match_torch():
    for op in (
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a * b,
        lambda a, b: a / b,
        lambda a, b: (a * b).tanh() + (a - b).exp() / b,
    ):
        a, b = Value(0.8), Value(-1.7)
        out = op(a, b)
        out.backward()
        ta, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.8, -1.7))
        ref = op(ta, tb)
        ref.backward()
        close(out.data, ref.detach())
        close(a.grad, ta.grad)
        close(b.grad, tb.grad)


def test_a_value_used_twice_collects_both_gradients():
    x = Value(3.0)
    (x * x).backward()
    assert x.grad == 6.0
    x = Value(3.0)
    (x + x).backward()
    assert x.grad == 2.0
    # a diamond: x feeds y and z, both feed the output
    x = Value(0.5)
    y, z = x.exp(), x * 4
    (y * z).backward()
    close(x.grad, torch.tensor((0.5 * 4 + 4) * torch.e**0.5, dtype=torch.float64))


def test_a_node_is_visited_after_every_node_made_from_it():
    # c reaches the output directly and through b: its gradient must wait for b's
    c = Value(2.0)
    b = c * 3
    out = c * b  # 3 c^2, so d out / d c = 6 c
    out.backward()
    assert c.grad == 12.0 and b.grad == 2.0


def test_a_long_chain_does_not_hit_the_recursion_limit():
    x = Value(1.0)
    y = x
    for _ in range(5000):
        y = y + 1.0
    y.backward()
    assert y.data == 5001.0 and x.grad == 1.0


def test_a_value_exponent_is_a_type_error():
    with pytest.raises(TypeError):
        Value(2.0) ** Value(3.0)
    with pytest.raises(TypeError):
        2.0 ** Value(3.0)


def test_repr_shows_data_and_grad():
    assert repr(Value(1.5)) == "Value(data=1.5, grad=0.0)"


def test_values_and_grads_keep_the_tensor_nesting():
    t = torch.arange(6, dtype=torch.float64).view(2, 3)
    v = values(t)
    assert [[x.data for x in row] for row in v] == t.tolist()
    v[1][2].grad = 4.0
    g = grads(v)
    assert g.dtype == torch.float64 and g.shape == (2, 3) and g[1, 2] == 4.0 and g.sum() == 4.0
    assert grads(values(torch.zeros(1, 4))).shape == (1, 4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mlp_loss_matches_the_tensor_network(seed):
    config = BackpropConfig(vocab_size=27, block_size=3, n_embd=2, n_hidden=4)
    p = init_params(config, torch.Generator().manual_seed(seed), dtype=torch.float64)
    g = torch.Generator().manual_seed(seed + 100)
    n = 5
    X = torch.randint(0, config.vocab_size, (n, config.block_size), generator=g)
    Y = torch.randint(0, config.vocab_size, (n,), generator=g)
    X[1] = X[0]  # a row of C looked up more than once collects every use's gradient
    scalars = {k: values(v) for k, v in p.items()}
    loss = mlp_loss(scalars, X, Y)
    loss.backward()
    for v in p.values():
        v.requires_grad_(True)
    ref = forward(p, X, Y)["loss"]
    ref.backward()
    close(loss.data, ref.detach())
    for k in PARAMS:
        close(grads(scalars[k]), p[k].grad, k)


def test_mlp_loss_needs_two_examples():
    config = BackpropConfig(vocab_size=5, block_size=2, n_embd=2, n_hidden=3)
    p = init_params(config, torch.Generator().manual_seed(0), dtype=torch.float64)
    scalars = {k: values(v) for k, v in p.items()}
    with pytest.raises(ValueError, match="n >= 2"):
        mlp_loss(scalars, torch.zeros((1, 2), dtype=torch.long), torch.zeros(1, dtype=torch.long))


def test_scalar_grads_returns_tensors_matching_autograd():
    from charlm.backprop import BackpropConfig, autograd_grads, init_params
    from charlm.engine import scalar_grads

    p = init_params(
        BackpropConfig(n_embd=2, n_hidden=3), torch.Generator().manual_seed(1), dtype=torch.float64
    )
    X = torch.randint(0, 27, (4, 3), generator=torch.Generator().manual_seed(2))
    Y = torch.randint(0, 27, (4,), generator=torch.Generator().manual_seed(3))
    loss, g = scalar_grads(p, X, Y)
    t, ref = autograd_grads(p, X, Y)
    assert loss == pytest.approx(t["loss"].item(), rel=1e-12)
    for k in p:
        assert g[k].shape == p[k].shape
        torch.testing.assert_close(g[k], ref[k], rtol=1e-10, atol=1e-12)
