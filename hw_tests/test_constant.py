"""``constant(x)``: operands that need no gradient (training data), and what the engine skips for them.

Expected gradients are those of the same computation with a plain array, which the other tests
check against central differences; the matmul shapes are also checked against central
differences directly.
"""

import numpy as np
import pytest

import mytorch
import mytorch.nn.functional as F
from conftest import check_grad
from mytorch import Constant, Tensor, constant
from mytorch.nn.linear import Linear
from mytorch.utils import GradientNotFoundError

MATMUL_SHAPES = [((3, 4), (4, 5)), ((1, 4), (4, 1)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)),
                 ((4,), (4, 5)), ((3, 4), (4,)), ((2, 1, 3, 4), (5, 4, 2))]


@pytest.mark.task6
@pytest.mark.parametrize("a_shape, b_shape", MATMUL_SHAPES)
def test_matmul_with_a_constant_left_operand_differentiates_the_right_one(engine, rng, a_shape, b_shape):
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    check_grad(lambda b: F.matmul(constant(a), b), b)
    np.testing.assert_array_equal(F.matmul(constant(a), b), a @ b)


@pytest.mark.task6
def test_matmul_with_a_constant_computes_no_gradient_for_it(engine, rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    F.matmul(constant(a), b)
    assert [op.name for op in engine.operation_list] == ["matmul_constant_lhs_backward"]
    engine.backward(np.ones((3, 5)))
    np.testing.assert_allclose(engine.memory_buffer.get_param(b), a.T @ np.ones((3, 5)))  # dL/db = a^T dL/dy
    with pytest.raises(GradientNotFoundError):
        engine.memory_buffer.get_param(a)


@pytest.mark.task9
def test_linear_on_constant_data_fills_dW_and_db_as_on_plain_data(engine, rng):
    x, g = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    layer = Linear(3, 2, engine, rng=1)
    expected = {}
    for data in (x, constant(x)):
        layer.zero_grad()
        engine.zero_grad()
        engine.backward(g, output=layer(data))
        expected.setdefault("dW", layer.dW.copy())
        expected.setdefault("db", layer.db.copy())
        np.testing.assert_allclose(layer.dW, expected["dW"], rtol=1e-13)
        np.testing.assert_allclose(layer.db, expected["db"], rtol=1e-13)
    np.testing.assert_allclose(layer.dW, g.T @ x, rtol=1e-13)  # dL/dW = (dL/dz)^T x
    with pytest.raises(GradientNotFoundError):
        engine.memory_buffer.get_param(x)


@pytest.mark.task3
def test_other_primitives_record_a_constant_and_store_no_gradient_for_it(engine, rng):
    x, w = rng.standard_normal((2, 3)), rng.standard_normal(3)
    y = F.mul(constant(x), w)
    engine.backward(np.ones_like(y))
    np.testing.assert_allclose(engine.memory_buffer.get_param(w), x.sum(axis=0))  # d/dw sum(x w) = sum_i x_i
    assert not engine.memory_buffer.is_in_memory(x)


@pytest.mark.task9
def test_a_tensor_without_requires_grad_enters_a_layer_as_a_constant(engine, rng):
    layer = Linear(3, 2, engine, rng=0)
    x = Tensor(rng.standard_normal((4, 3)), requires_grad=False)
    layer(x).sum().backward()
    assert engine.operation_list[0].name == "matmul_constant_lhs_backward"
    assert x.grad is None
    np.testing.assert_allclose(layer.dW, np.ones((4, 2)).T @ x.data, rtol=1e-13)


@pytest.mark.task2
def test_constant_behaves_as_its_array_for_numpy():
    x = np.arange(6.0).reshape(2, 3)
    c = constant(x)
    assert isinstance(c, Constant) and c.shape == (2, 3) and np.asarray(c) is x
    assert constant(c).array is x  # wrapping twice changes nothing
    np.testing.assert_array_equal(np.asarray(c, dtype=np.float32), x.astype(np.float32))
    assert "constant(" in repr(c) and mytorch.constant is constant
