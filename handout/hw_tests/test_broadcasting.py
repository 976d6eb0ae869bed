"""Broadcasting: every binary primitive on random broadcast pairs (rank mismatch, size-1
axes, 0-d), and the one shared unbroadcast helper.

A broadcast input is copied along the new leading axes and along its size-1 axes, so
its gradient is the upstream gradient summed over exactly those axes, and always has
the input's shape; ``check_primitive`` also calls each backward directly to make sure
that reduction happens inside the backward function, not only in the engine.
"""

import re

import numpy as np
import pytest
from hypothesis import given

import mytorch.nn.functional as F
from conftest import SWEEP, away_from_zero, broadcast_pairs, check_primitive, seeds, uniform
from mytorch.utils import unbroadcast


def grid_values(rng, shape, offset):
    """Multiples of 0.1 plus ``offset``: with offsets 0 and 0.05 two operands differ by at
    least 0.05 everywhere, so maximum/minimum never tie within a finite-difference step."""
    return (rng.integers(-10, 10, size=shape) + offset) * 0.1


BINARY = {
    # name: (helper, backward, NumPy reference, sampler of (a, b))
    "add": (F.add, F.add_backward, np.add, lambda rng, sa, sb: (uniform(rng, sa), uniform(rng, sb))),
    "sub": (F.sub, F.sub_backward, np.subtract, lambda rng, sa, sb: (uniform(rng, sa), uniform(rng, sb))),
    "mul": (F.mul, F.mul_backward, np.multiply, lambda rng, sa, sb: (uniform(rng, sa), uniform(rng, sb))),
    "div": (F.div, F.div_backward, np.true_divide,
            lambda rng, sa, sb: (uniform(rng, sa), away_from_zero(rng, sb, 0.5, 2.0))),
    "pow": (F.pow, F.pow_backward, np.power,
            lambda rng, sa, sb: (uniform(rng, sa, 0.5, 2.0), uniform(rng, sb, -2.0, 2.0))),
    "maximum": (F.maximum, F.maximum_backward, np.maximum,
                lambda rng, sa, sb: (grid_values(rng, sa, 0.0), grid_values(rng, sb, 0.5))),
    "minimum": (F.minimum, F.minimum_backward, np.minimum,
                lambda rng, sa, sb: (grid_values(rng, sa, 0.0), grid_values(rng, sb, 0.5))),
}


@pytest.mark.task3
@pytest.mark.parametrize("name", sorted(BINARY))
@SWEEP
@given(pair=broadcast_pairs(), seed=seeds)
def test_binary_op_on_broadcast_pairs(name, pair, seed):
    helper, backward, reference, sample = BINARY[name]
    a, b = sample(np.random.default_rng(seed), *pair)
    output = check_primitive(helper, backward, a, b, reference=reference, seed=seed)
    assert output.shape == np.broadcast_shapes(*pair)


@pytest.mark.task6
@SWEEP
@given(pair=broadcast_pairs(max_rank=2), seed=seeds)
def test_matmul_broadcasts_batch_axes(pair, seed):
    """Batch axes from a broadcast pair, in front of (2, 3) @ (3, 1)."""
    rng = np.random.default_rng(seed)
    a, b = uniform(rng, pair[0] + (2, 3)), uniform(rng, pair[1] + (3, 1))
    check_primitive(F.matmul, F.matmul_backward, a, b, reference=np.matmul, seed=seed)


@pytest.mark.task3
def test_bias_gradient_sums_over_the_batch(engine):
    """z = x + b with x (batch=3, out=2) and bias b (2,); L = sum(G * z): dL/db = sum_rows G."""
    x, b = np.zeros((3, 2)), np.zeros(2)
    db = np.zeros(2)
    G = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    F.add(x, b, gradients_to_update=[None, db])
    engine.backward(G)
    np.testing.assert_array_equal(db, [9.0, 12.0])


@pytest.mark.task3
def test_python_scalars_on_either_side(engine):
    """y = 2 - x / 4 for x of shape (2,), upstream ones: dL/dx = -1/4; the scalars get no gradient."""
    x = np.array([1.0, 3.0])
    F.sub(2.0, F.div(x, 4.0))
    engine.backward(np.ones(2))
    np.testing.assert_array_equal(engine.memory_buffer.get_param(x), [-0.25, -0.25])


@pytest.mark.task2
def test_engine_reduces_a_students_unreduced_gradient(engine):
    """A hand-written add backward that forgets to unbroadcast returns (G, G) of the output's
    shape (3, 2); the engine still gives the bias (2,) the column sums of G."""
    x, b = np.zeros((3, 2)), np.zeros(2)
    y = x + b
    engine.add_operation([x, b], y, [None, None], lambda g, x, b: (g, g))
    G = np.arange(6.0).reshape(3, 2)
    engine.backward(G)
    np.testing.assert_array_equal(engine.memory_buffer.get_param(b), [6.0, 9.0])
    np.testing.assert_array_equal(engine.memory_buffer.get_param(x), G)


# ---------------------------------------------------------------- unbroadcast itself

@pytest.mark.task3
@pytest.mark.parametrize("shape, expected", [
    ((2, 3), [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]),   # nothing to reduce
    ((3,), [3.0, 5.0, 7.0]),                        # the leading axis was added
    ((1, 3), [[3.0, 5.0, 7.0]]),                    # a size-1 axis was stretched
    ((2, 1), [[3.0], [12.0]]),
    ((), 15.0),                                     # a 0-d input was copied everywhere
    ((1, 1), [[15.0]]),
])
def test_unbroadcast_sums_exactly_the_broadcast_axes(shape, expected):
    """The gradient [[0, 1, 2], [3, 4, 5]] of a (2, 3) result, reduced to each input shape."""
    reduced = unbroadcast(np.arange(6.0).reshape(2, 3), shape)
    assert reduced.shape == shape
    np.testing.assert_array_equal(reduced, expected)


@pytest.mark.task3
def test_unbroadcast_keeps_a_size_1_axis_that_was_not_stretched():
    """(4, 1, 3) reduced to (1, 3): sum the leading axis only; the middle size-1 axis stays."""
    grad = np.ones((4, 1, 3))
    np.testing.assert_array_equal(unbroadcast(grad, (1, 3)), np.full((1, 3), 4.0))


@pytest.mark.task3
@pytest.mark.parametrize("grad_shape, shape", [((2, 6), (3, 4)), ((3, 4), (4, 3)), ((3,), (2, 3)), ((2, 3), (3, 1))])
def test_unbroadcast_refuses_shapes_that_did_not_broadcast(grad_shape, shape):
    """Same element count is not enough: reshaping (2, 6) into (3, 4) would be a silent wrong gradient."""
    with pytest.raises(ValueError, match=re.escape(f"gradient of shape {grad_shape} cannot be summed back "
                                                   f"to shape {shape}")):
        unbroadcast(np.ones(grad_shape), shape)
