"""Reverse mode on a graph of scalars: the lectures' design, next to the recursive one.

Every number computed is a ``Value`` node that remembers

    value    the number itself
    parents  the Value nodes it was computed from
    args     everything the operation was given (parents and plain numbers), in order
    grad     dL/d(this node), filled in by backward

and, for backward, ``local``: d(this node)/d(parent) for each parent, the
derivative rule of its operation evaluated at the forward values.

Two ways to run backward through such a graph:

``Value.backward()`` (the deck's design): sort the nodes topologically (every
node after the nodes it was computed from), then visit them once each, from
the output back: a node's gradient is complete before it is passed on, because
every node that uses it comes later in the order. One visit per node.

``Value.backward_recursive()`` (the class notebook's ``ReverseDiff``): each node
adds the incoming gradient and immediately calls backward on each parent with
its share. Correct, because the chain rule sums over paths, but a node shared
by several paths is visited once per path: on y = y*y + y repeated n times
there are 3**n paths and 2*3**n - 1 visits (see ``examples/reverse_designs.py``),
and each visit is a Python call frame, so a long chain exceeds the recursion limit.

MyTorch's engine needs no sort: its tape records operations in the order they
ran, which is already a topological order, and backward replays it in reverse.

The worked example of the deck (``lecture_example``):

    x = 2, a = x**2, b = 5 a, c = a b, L = -c      dL/dx = -20 x**3 = -160
"""

from __future__ import annotations

import math
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

Number = Union[int, float]


class Value:
    """A scalar node of the graph: value, parents, args, grad (see the module docstring)."""

    def __init__(self, value: Number, parents: Sequence["Value"] = (), args: Sequence[Any] = (),
                 local: Sequence[float] = (), op: str = "input", name: Optional[str] = None) -> None:
        if isinstance(value, Value):
            raise TypeError("Value: the value must be a number, not another Value")
        self.value = float(value)
        self.parents: Tuple[Value, ...] = tuple(parents)
        self.args: Tuple[Any, ...] = tuple(args)
        self.local: Tuple[float, ...] = tuple(local)  # d self / d parent, one per parent
        self.op = op
        self.name = name
        self.grad = 0.0

    def __repr__(self) -> str:
        return f"Value({self.value:g}, op={self.op!r}, grad={self.grad:g})"

    # ------------------------------------------------ operations: the value, and beside it the local derivatives

    def __add__(self, other: Any) -> "Value":
        """a + b;  d/da = 1, d/db = 1."""
        return _binary("+", self, other, lambda a, b: a + b, lambda a, b: (1.0, 1.0))

    def __radd__(self, other: Any) -> "Value":
        return _binary("+", other, self, lambda a, b: a + b, lambda a, b: (1.0, 1.0))

    def __mul__(self, other: Any) -> "Value":
        """a b;  d/da = b, d/db = a."""
        return _binary("*", self, other, lambda a, b: a * b, lambda a, b: (b, a))

    def __rmul__(self, other: Any) -> "Value":
        return _binary("*", other, self, lambda a, b: a * b, lambda a, b: (b, a))

    def __sub__(self, other: Any) -> "Value":
        """a - b;  d/da = 1, d/db = -1."""
        return _binary("-", self, other, lambda a, b: a - b, lambda a, b: (1.0, -1.0))

    def __rsub__(self, other: Any) -> "Value":
        return _binary("-", other, self, lambda a, b: a - b, lambda a, b: (1.0, -1.0))

    def __truediv__(self, other: Any) -> "Value":
        """a / b;  d/da = 1/b, d/db = -a/b**2."""
        return _binary("/", self, other, lambda a, b: a / b, lambda a, b: (1.0 / b, -a / (b * b)))

    def __rtruediv__(self, other: Any) -> "Value":
        return _binary("/", other, self, lambda a, b: a / b, lambda a, b: (1.0 / b, -a / (b * b)))

    def __pow__(self, p: Number) -> "Value":
        """a**p for a number p;  d/da = p a**(p-1)."""
        if isinstance(p, Value):
            raise TypeError("Value ** Value is not supported; the exponent must be a number")
        return Value(self.value ** p, (self,), (self, p), (p * self.value ** (p - 1),), f"**{p}")

    def __neg__(self) -> "Value":
        """-a;  d/da = -1."""
        return Value(-self.value, (self,), (self,), (-1.0,), "neg")

    def exp(self) -> "Value":
        """e**a;  d/da = e**a."""
        e = math.exp(self.value)
        return Value(e, (self,), (self,), (e,), "exp")

    def log(self) -> "Value":
        """ln a;  d/da = 1/a."""
        return Value(math.log(self.value), (self,), (self,), (1.0 / self.value,), "log")

    def sin(self) -> "Value":
        """sin a;  d/da = cos a."""
        return Value(math.sin(self.value), (self,), (self,), (math.cos(self.value),), "sin")

    def cos(self) -> "Value":
        """cos a;  d/da = -sin a."""
        return Value(math.cos(self.value), (self,), (self,), (-math.sin(self.value),), "cos")

    def tanh(self) -> "Value":
        """tanh a;  d/da = 1 - tanh(a)**2."""
        t = math.tanh(self.value)
        return Value(t, (self,), (self,), (1.0 - t * t,), "tanh")

    # ------------------------------------------------ backward, the deck's way: topological sort, one visit per node

    def topological_order(self) -> List["Value"]:
        """Every node this one depends on, each after its parents (depth-first, iterative)."""
        order: List[Value] = []
        seen = set()
        stack: List[Tuple[Value, bool]] = [(self, False)]
        while stack:
            node, parents_done = stack.pop()
            if parents_done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node.parents if id(p) not in seen)
        return order

    def backward(self) -> int:
        """Fill in dL/d(node) for every node, with L = self; returns the number of node visits.

        The inputs' gradients accumulate across calls (as in PyTorch) until
        ``zero_grad``; the computed nodes' gradients are recomputed from 0 each pass.
        """
        order = self.topological_order()
        for node in order:
            if node.parents:
                node.grad = 0.0
        self.grad += 1.0  # dL/dL
        for node in reversed(order):  # a node's grad is complete: all its users came first
            for parent, local in zip(node.parents, node.local):
                parent.grad += node.grad * local  # the chain rule, one edge
        return len(order)

    # ------------------------------------------------ backward, recursively: one visit per path

    def backward_recursive(self, grad: float = 1.0) -> int:
        """Add ``grad`` to this node and pass each parent its share at once; returns the calls made.

        Kept for contrast: right answers, but a node reached by k paths is called
        k times, and the recursion is as deep as the longest path. Every node's
        gradient accumulates: call ``zero_grad`` before a second pass.
        """
        self.grad += grad
        calls = 1
        for parent, local in zip(self.parents, self.local):
            calls += parent.backward_recursive(grad * local)
        return calls

    def zero_grad(self) -> None:
        """Set the gradient of every node this one depends on to 0."""
        for node in self.topological_order():
            node.grad = 0.0


def _binary(op: str, a: Any, b: Any, value: Callable[[float, float], float],
            local: Callable[[float, float], Tuple[float, float]]) -> Value:
    """A node for ``a op b``; plain numbers are arguments but not parents (their gradient is not wanted)."""
    for operand in (a, b):
        if not isinstance(operand, (Value, int, float)) or isinstance(operand, bool):
            raise TypeError(f"Value {op}: cannot combine with a {type(operand).__name__}")
    va = a.value if isinstance(a, Value) else float(a)
    vb = b.value if isinstance(b, Value) else float(b)
    da, db = local(va, vb)
    parents, locals_ = [], []
    for operand, d in ((a, da), (b, db)):
        if isinstance(operand, Value):
            parents.append(operand)
            locals_.append(d)
    return Value(value(va, vb), parents, (a, b), locals_, op)


# ============================================================ the node table

def node_table(output: Value) -> str:
    """The graph as the deck prints it: one row per node, in topological order.

    Unnamed nodes are called by their position (#3); numbers among the args are printed as they are.
    """
    order = output.topological_order()
    names = {id(node): node.name or f"#{i}" for i, node in enumerate(order)}

    def show(arg: Any) -> str:
        return names[id(arg)] if isinstance(arg, Value) else f"{arg:g}"

    rows = [("node", "op", "value", "parents", "args", "grad")]
    for node in order:
        rows.append((names[id(node)], node.op, f"{node.value:g}",
                     ", ".join(show(p) for p in node.parents) or "-",
                     ", ".join(show(a) for a in node.args) or "-", f"{node.grad:g}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def lecture_example(recursive: bool = False) -> Tuple[Value, dict]:
    """The deck's example: x = 2, a = x**2, b = 5 a, c = a b, L = -c; backward run.

    By hand: L = -5 x**4, so dL/dx = -20 x**3 = -160. Node by node:
    dL/dc = -1, dL/db = -a = -4, dL/da = -b + 5 dL/db = -40, dL/dx = 2x dL/da = -160.
    Returns (L, {name: node}).
    """
    x = Value(2.0, name="x")
    a = x ** 2
    a.name = "a"
    b = 5 * a
    b.name = "b"
    c = a * b
    c.name = "c"
    L = -c
    L.name = "L"
    if recursive:
        L.backward_recursive()
    else:
        L.backward()
    return L, {"x": x, "a": a, "b": b, "c": c, "L": L}


def repeated_square_plus(x: Value, n: int) -> Value:
    """y = x, then y = y*y + y, n times: every node is used three times by the next step."""
    y = x
    for _ in range(n):
        y = y * y + y
    return y
