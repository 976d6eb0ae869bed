"""The scalar reverse-mode graph: the deck's worked example, both backward designs, and their call counts.

Counts are exact and asserted; times are never asserted (the machine is shared).
"""

import math
import sys

import numpy as np
import pytest

from mytorch import Autograd, Tensor
from mytorch.scalar_graph import Value, lecture_example, node_table, repeated_square_plus


def central(f, x, eps=1e-6):
    return (f(x + eps) - f(x - eps)) / (2 * eps)


@pytest.mark.task0
@pytest.mark.parametrize("recursive", [False, True])
def test_lecture_example_minus_160(recursive):
    """x = 2, a = x**2 = 4, b = 5a = 20, c = ab = 80, L = -c = -80.

    Backward by hand: dL/dc = -1, dL/db = -a = -4, dL/da = -b + 5 dL/db = -40, dL/dx = 2x dL/da = -160.
    """
    L, nodes = lecture_example(recursive=recursive)
    values = {name: node.value for name, node in nodes.items()}
    grads = {name: node.grad for name, node in nodes.items()}
    assert values == {"x": 2.0, "a": 4.0, "b": 20.0, "c": 80.0, "L": -80.0}
    assert grads == {"x": -160.0, "a": -40.0, "b": -4.0, "c": -1.0, "L": 1.0}
    # L = -5 x**4 written out directly, by central differences
    assert central(lambda x: -5 * x ** 4, 2.0) == pytest.approx(-160.0, rel=1e-9)


@pytest.mark.task0
def test_node_table_as_the_deck_prints_it():
    L, _ = lecture_example()
    assert node_table(L).splitlines() == [
        "node  op     value  parents  args  grad",
        "x     input  2      -        -     -160",
        "a     **2    4      x        x, 2  -40",
        "b     *      20     a        5, a  -4",
        "c     *      80     a, b     a, b  -1",
        "L     neg    -80    c        c     1",
    ]


@pytest.mark.task0
def test_topological_order_puts_parents_first():
    L, nodes = lecture_example()
    order = L.topological_order()
    position = {id(node): i for i, node in enumerate(order)}
    assert len(order) == 5
    for node in order:
        assert all(position[id(p)] < position[id(node)] for p in node.parents)


@pytest.mark.task3
@pytest.mark.parametrize("n", [0, 1, 2, 3, 6])
def test_call_counts_on_repeated_square_plus(n):
    """y_k = y_{k-1}**2 + y_{k-1}: 2n + 1 nodes; y_{k-1} is used three times by step k,
    so it lies on 3**(n-k+1) paths from the output, and the recursive backward makes
    sum_k 3**(n-k) (the y nodes) + sum_k 3**(n-k) (the products) = 2*3**n - 1 calls."""
    x = Value(0.3)
    y = repeated_square_plus(x, n)
    assert y.backward() == 2 * n + 1
    sorted_grad = x.grad
    y.zero_grad()
    assert y.backward_recursive() == 2 * 3 ** n - 1
    assert x.grad == pytest.approx(sorted_grad, rel=1e-12)

    def plain(t):
        for _ in range(n):
            t = t * t + t
        return t

    # dy_k/dy_{k-1} = 2 y_{k-1} + 1, multiplied along the chain
    assert sorted_grad == pytest.approx(central(plain, 0.3), rel=1e-8)

    # the tape: the same computation records 2n operations and gives the same gradient
    with Autograd() as engine:
        t = Tensor(np.array(0.3))
        out = plain(t) + 0.0
        out.backward()
        assert len(engine.operation_list) == 2 * n + 1  # n products, n sums, the final + 0
        assert float(t.grad) == pytest.approx(sorted_grad, rel=1e-12)


@pytest.mark.task0
def test_recursive_backward_fails_on_a_long_chain_and_the_sorted_one_does_not():
    """A chain of sines as long as the recursion limit: one path, but one Python frame per node."""
    length = sys.getrecursionlimit() + 100
    x = Value(0.5)
    y = x
    for _ in range(length):
        y = y.sin()
    assert y.backward() == length + 1
    expected, u = 1.0, 0.5
    for _ in range(length):
        expected, u = expected * math.cos(u), math.sin(u)
    assert x.grad == pytest.approx(expected, rel=1e-12)
    y.zero_grad()
    with pytest.raises(RecursionError):
        y.backward_recursive()


@pytest.mark.task0
def test_gradients_accumulate_and_operations_match_central_differences():
    a, b = Value(0.7), Value(1.9)
    out = ((a * b).sin() + a.exp() / b - (a ** 3).tanh() + (b - a).cos() + (2 - a) * b.log() + 1 / a)
    out.backward()

    def f(a, b):
        return (math.sin(a * b) + math.exp(a) / b - math.tanh(a ** 3) + math.cos(b - a)
                + (2 - a) * math.log(b) + 1 / a)

    assert a.grad == pytest.approx(central(lambda t: f(t, 1.9), 0.7), rel=1e-8)
    assert b.grad == pytest.approx(central(lambda t: f(0.7, t), 1.9), rel=1e-8)
    first = a.grad
    out.backward()  # without zero_grad, a second pass adds
    assert a.grad == pytest.approx(2 * first)


@pytest.mark.task0
def test_bad_operands():
    with pytest.raises(TypeError, match="cannot combine with a str"):
        Value(1.0) + "2"
    with pytest.raises(TypeError, match="exponent must be a number"):
        Value(2.0) ** Value(3.0)
    with pytest.raises(TypeError, match="not another Value"):
        Value(Value(1.0))
