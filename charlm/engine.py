"""A scalar autograd engine: every number is its own node of the graph (Chapter 4).

Chapter 4 introduces it to set scalar autograd against tensor autograd. A ``Value`` holds
one float, its gradient, the values it was computed from and a closure that applies the
chain rule for the one operation that made it; ``backward`` runs those closures from the
loss back to the leaves. ``mlp_loss`` computes the loss of a small version of the chapter's
network on such scalars, step for step as ``charlm.backprop.forward`` does on tensors, so
that both engines can be run, timed and checked against each other.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


def _leaf() -> None:
    """The backward of a leaf, a value made by no operation: nothing to pass on."""


class Value:
    """One scalar of a computation graph, with the output's gradient with respect to it (Ch. 4)."""

    # thousands of these make up one loss: slots keep each small and quick to reach
    __slots__ = ("data", "grad", "_children", "_backward")

    def __init__(self, data: float, children: tuple[Value, ...] = ()) -> None:
        self.data = float(data)
        self.grad = 0.0
        self._children = children
        self._backward: Callable[[], None] = _leaf

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    def _op(self, data: float, *local: tuple[Value, float]) -> Value:
        """A new value made from ``(child, d new / d child)`` pairs, with its backward."""
        out = Value(data, tuple(child for child, _ in local))

        def _backward() -> None:
            for child, slope in local:  # the chain rule: local slope times the output's grad
                child.grad += slope * out.grad  # += : a value used twice collects both

        out._backward = _backward
        return out

    def __add__(self, other: Value | float) -> Value:
        """``self + other``: the gradient flows unchanged to both."""
        other = other if isinstance(other, Value) else Value(other)
        return self._op(self.data + other.data, (self, 1.0), (other, 1.0))

    def __mul__(self, other: Value | float) -> Value:
        """``self * other``: each factor's slope is the other factor."""
        other = other if isinstance(other, Value) else Value(other)
        return self._op(self.data * other.data, (self, other.data), (other, self.data))

    def __pow__(self, k: float) -> Value:
        """``self ** k`` for a plain number ``k``: slope ``k * self ** (k - 1)``."""
        if isinstance(k, Value):
            raise TypeError("Value ** Value is not supported: the exponent must be a number")
        return self._op(self.data**k, (self, k * self.data ** (k - 1)))

    def exp(self) -> Value:
        """``e ** self``, its own slope."""
        e = math.exp(self.data)
        return self._op(e, (self, e))

    def log(self) -> Value:
        """The natural logarithm; slope ``1 / self``."""
        return self._op(math.log(self.data), (self, 1.0 / self.data))

    def tanh(self) -> Value:
        """The hyperbolic tangent; slope ``1 - tanh ** 2``."""
        t = math.tanh(self.data)
        return self._op(t, (self, 1.0 - t * t))

    def relu(self) -> Value:
        """``max(0, self)``; slope 1 where positive, else 0 (torch's choice at 0)."""
        return self._op(max(0.0, self.data), (self, 1.0 if self.data > 0 else 0.0))

    # the rest of the arithmetic is made of the operations above
    def __neg__(self) -> Value:
        return self * -1.0

    def __sub__(self, other: Value | float) -> Value:
        return self + (-other)

    def __truediv__(self, other: Value | float) -> Value:
        return self * (other if isinstance(other, Value) else Value(other)) ** -1

    def __radd__(self, other: float) -> Value:  # other + self, e.g. sum()'s starting 0
        return self + other

    def __rsub__(self, other: float) -> Value:  # other - self
        return -self + other

    def __rmul__(self, other: float) -> Value:  # other * self
        return self * other

    def __rtruediv__(self, other: float) -> Value:  # other / self
        return self**-1 * other

    def backward(self) -> None:
        """Fill ``.grad`` of every value this one depends on, by the chain rule (Chapter 4)."""
        # an iterative depth-first search: a recursive one would overflow Python's stack on
        # the tens of thousands of nodes of one loss. A node joins ``order`` only after all
        # its children did, so reversed it lists every node before the ones it was made from.
        order: list[Value] = []
        expanded: set[Value] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                order.append(node)
            elif node not in expanded:
                expanded.add(node)
                stack.append((node, True))
                stack.extend((c, False) for c in node._children if c not in expanded)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()


def values(t: torch.Tensor) -> list:
    """A tensor as nested lists of leaf ``Value``s, nested as ``t.tolist()`` (Chapter 4)."""

    def wrap(x):
        return [wrap(y) for y in x] if isinstance(x, list) else Value(x)

    return wrap(t.detach().tolist())


def grads(nested) -> torch.Tensor:
    """The ``.grad`` of nested lists of ``Value``s as a float64 tensor (Chapter 4)."""

    def unwrap(x):
        return [unwrap(y) for y in x] if isinstance(x, list) else x.grad

    return torch.tensor(unwrap(nested), dtype=torch.float64)


def _linear(x: list[Value], W: list[list[Value]], b: list[Value]) -> list[Value]:
    """One row of ``x @ W + b``."""
    return [sum(xi * wi for xi, wi in zip(x, col)) + bj for col, bj in zip(zip(*W), b)]


def mlp_loss(p: dict[str, list], X: torch.Tensor, Y: torch.Tensor, eps: float = 1e-5) -> Value:
    """The loss of Chapter 4's network on scalars, step for step as ``backprop.forward`` does."""
    n = X.shape[0]
    if n < 2:
        raise ValueError(f"BatchNorm's Bessel-corrected variance needs n >= 2 examples, got {n}")
    C, W1, b1, W2, b2 = (p[k] for k in ("C", "W1", "b1", "W2", "b2"))
    bngain, bnbias = p["bngain"][0], p["bnbias"][0]  # (1, H) -> (H,)
    embcat = [[v for ix in row for v in C[ix]] for row in X.tolist()]  # (n, T*E)
    hprebn = [_linear(x, W1, b1) for x in embcat]  # (n, H)
    bnmeani = [1 / n * sum(col) for col in zip(*hprebn)]  # (H,)
    bndiff = [[h - m for h, m in zip(row, bnmeani)] for row in hprebn]  # (n, H)
    bndiff2 = [[d**2 for d in row] for row in bndiff]  # (n, H)
    bnvar = [1 / (n - 1) * sum(col) for col in zip(*bndiff2)]  # (H,), Bessel's correction
    bnvar_inv = [(v + eps) ** -0.5 for v in bnvar]  # (H,)
    bnraw = [[d * s for d, s in zip(row, bnvar_inv)] for row in bndiff]  # (n, H)
    hpreact = [[g * r + b for g, r, b in zip(bngain, row, bnbias)] for row in bnraw]  # (n, H)
    h = [[v.tanh() for v in row] for row in hpreact]  # (n, H)
    logits = [_linear(row, W2, b2) for row in h]  # (n, V)
    picked = []  # the log-probability of each example's target
    for row, y in zip(logits, Y.tolist()):
        top = max(v.data for v in row)  # a constant: shifting logits leaves softmax unchanged
        counts = [(v - top).exp() for v in row]  # (V,)
        counts_sum_inv = sum(counts) ** -1
        picked.append((counts[y] * counts_sum_inv).log())  # only the target's term is used
    return -(sum(picked) / n)


def scalar_grads(
    p: dict[str, torch.Tensor], X: torch.Tensor, Y: torch.Tensor
) -> tuple[float, dict[str, torch.Tensor]]:
    """``mlp_loss`` and every parameter's gradient, tensors in and out (Chapter 4)."""
    scalars = {k: values(v) for k, v in p.items()}
    loss = mlp_loss(scalars, X, Y)
    loss.backward()
    return loss.data, {k: grads(v) for k, v in scalars.items()}
