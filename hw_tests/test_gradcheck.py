"""mytorch.gradcheck: central differences, and the checker that must fail on a wrong backward."""

import numpy as np
import pytest

import mytorch.nn.functional as F
from mytorch import Autograd
from mytorch.gradcheck import gradcheck, numerical_gradient, numerical_jacobian


def square_with(backward):
    """y = x**2 recorded through the raw API with the given backward function."""
    def f(x):
        y = x * x
        Autograd._live().add_operation([x], y, [None], backward)
        return y
    return f


def wrong_square_backward(grad_output, x):
    return grad_output * x  # the factor 2 of d(x^2)/dx = 2x is missing


def right_square_backward(grad_output, x):
    return 2.0 * grad_output * x


# ---------------------------------------------------------------- numerical_jacobian / numerical_gradient

@pytest.mark.task0
def test_numerical_jacobian_of_a_linear_map_is_its_matrix(rng):
    """y = A x: J[i, k] = dy_i/dx_k = A[i, k] (central differences are exact up to rounding)."""
    A = rng.standard_normal((3, 4))
    J = numerical_jacobian(lambda x: A @ x, rng.standard_normal(4))
    assert J.shape == (3, 4)
    np.testing.assert_allclose(J, A, atol=1e-9)


@pytest.mark.task0
def test_numerical_jacobian_orders_outputs_and_inputs_row_major():
    """y = x^T (x of shape (2, 2)) sends x[i, j] to y[j, i]: in flattened order the
    Jacobian is the permutation swapping entries 1 and 2."""
    J = numerical_jacobian(lambda x: x.T, np.arange(4.0).reshape(2, 2))
    np.testing.assert_allclose(J, [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], atol=1e-9)


@pytest.mark.task0
def test_numerical_gradient_of_a_known_function():
    """f(x, y) = sum(w * x^2 * y) with weights w: df/dx = 2 w x y, df/dy = w x^2.
    An integer input (labels, indices) is not differentiated: None."""
    x, y, w = np.array([1.0, -2.0, 0.5]), np.array([3.0, 1.0, -1.0]), np.array([1.0, 2.0, 3.0])
    labels = np.array([0, 1, 2])
    gx, gy, glabels = numerical_gradient(lambda x, y, labels: x**2 * y, [x, y, labels], divergence=w)
    np.testing.assert_allclose(gx, 2 * w * x * y, atol=1e-8)
    np.testing.assert_allclose(gy, w * x**2, atol=1e-8)
    assert glabels is None


@pytest.mark.task0
def test_numerical_gradient_does_not_modify_its_inputs():
    x = np.array([1.0, 2.0])
    numerical_gradient(lambda x: np.sum(x**3), [x])
    np.testing.assert_array_equal(x, [1.0, 2.0])


# ---------------------------------------------------------------- gradcheck

@pytest.mark.task6
def test_gradcheck_passes_a_correct_composite(rng):
    """L = sum(tanh(x W + b)): every primitive on the way is correct, so the errors are
    of the order of central differences' error (eps^2 ~ 1e-12) plus rounding."""
    x, W, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    result = gradcheck(lambda x, W, b: F.sum(F.tanh(F.add(F.matmul(x, W), b))), x, W, b)
    assert result.ok
    assert [c.index for c in result.inputs] == [0, 1, 2]
    assert result.max_abs_error < 1e-8


@pytest.mark.task2
def test_gradcheck_passes_a_correct_raw_backward(rng):
    assert gradcheck(square_with(right_square_backward), rng.standard_normal(3)).ok


@pytest.mark.task2
def test_gradcheck_fails_on_a_wrong_backward_with_a_report():
    """The wrong backward gives x instead of 2x: with divergence 1 the error is |x| per
    element, so max abs error = max|x| = 3 and relative error = |x| / |2x| = 1/2."""
    x = np.array([1.0, -3.0, 2.0])
    with pytest.raises(AssertionError) as failure:
        gradcheck(square_with(wrong_square_backward), x, divergence=np.ones(3))
    report = str(failure.value)
    assert "gradcheck FAILED" in report
    assert "input 0 of shape (3,): MISMATCH" in report
    assert "max abs error 3" in report and "max rel error 0.5" in report

    result = gradcheck(square_with(wrong_square_backward), x, divergence=np.ones(3), raise_exception=False)
    assert not result.ok
    assert result.max_abs_error == pytest.approx(3.0, rel=1e-6)
    assert result.max_rel_error == pytest.approx(0.5, rel=1e-6)
    np.testing.assert_allclose(result.inputs[0].analytic, x)
    np.testing.assert_allclose(result.inputs[0].numeric, 2 * x, atol=1e-8)


@pytest.mark.task2
def test_gradcheck_names_the_wrong_input():
    """y = a * b with a backward whose gradient for b (input 1) is off by a sign."""
    def f(a, b):
        y = a * b
        Autograd._live().add_operation([a, b], y, [None, None], lambda g, a, b: (g * b, -g * a))
        return y

    with pytest.raises(AssertionError) as failure:
        gradcheck(f, np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    report = str(failure.value)
    assert "input 0 of shape (2,): ok" in report
    assert "input 1 of shape (2,): MISMATCH" in report


@pytest.mark.task2
def test_gradcheck_fails_when_a_gradient_is_missing():
    """A backward returning None for a differentiable input: the tape has no gradient
    (read as 0) while the numeric one is 2x."""
    with pytest.raises(AssertionError, match="input 0 of shape \\(2,\\): MISMATCH"):
        gradcheck(square_with(lambda g, x: None), np.array([1.0, 2.0]))


@pytest.mark.task7
def test_gradcheck_skips_integer_inputs_and_upcasts_float32():
    logits = np.array([[0.3, -0.2, 1.0]], dtype=np.float32)
    result = gradcheck(F.softmax_cross_entropy, logits, np.array([2]))
    assert [c.index for c in result.inputs] == [0]  # labels are not checked
    assert result.inputs[0].analytic.dtype == np.float64


@pytest.mark.task4
def test_gradcheck_uses_a_temporary_engine_when_none_is_live():
    gradcheck(F.exp, np.array([0.5]))
    with Autograd():  # the temporary engine released the slot
        pass


@pytest.mark.task4
def test_gradcheck_clears_the_live_engine(engine):
    F.exp(np.array([0.5]))
    gradcheck(F.exp, np.array([0.5]))
    assert engine.operation_list == [] and len(engine.memory_buffer) == 0
