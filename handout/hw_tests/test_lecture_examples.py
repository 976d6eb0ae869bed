"""The worked examples of the lecture notes, with the values derived by hand in each docstring."""

import numpy as np
import pytest

import mytorch.nn.functional as F


def grad(engine, x):
    return engine.memory_buffer.get_param(x)


@pytest.mark.task3
def test_quadratic(engine):
    """y = 3x^2 + 15, dy/dx = 6x = 18 at x = 3."""
    x = np.array(3.0)
    F.add(F.mul(3.0, F.pow(x, 2)), 15.0)
    engine.backward()
    assert grad(engine, x) == pytest.approx(18.0)


@pytest.mark.task3
def test_two_variables(engine):
    """z = 5x^3 + 7y^2: dz/dx = 15x^2 = 135 at x = 3, dz/dy = 14y = 28 at y = 2."""
    x, y = np.array(3.0), np.array(2.0)
    F.add(F.mul(5.0, F.pow(x, 3)), F.mul(7.0, F.pow(y, 2)))
    engine.backward()
    assert grad(engine, x) == pytest.approx(135.0)
    assert grad(engine, y) == pytest.approx(28.0)


@pytest.mark.task3
def test_cubic_with_cross_term(engine):
    """y = x1^3 + x2^2 + 4 x1 x2 + 5 at (3, 4).

    dy/dx1 = 3 x1^2 + 4 x2 = 27 + 16 = 43 and dy/dx2 = 2 x2 + 4 x1 = 8 + 12 = 20.
    (The issue text quotes 42 for dy/dx1; the derivative above gives 43.)
    x1 feeds two operations, so its gradient is the sum of both paths.
    """
    x1, x2 = np.array(3.0), np.array(4.0)
    F.add(F.add(F.add(F.pow(x1, 3), F.pow(x2, 2)), F.mul(4.0, F.mul(x1, x2))), 5.0)
    engine.backward()
    assert grad(engine, x1) == pytest.approx(43.0)
    assert grad(engine, x2) == pytest.approx(20.0)


@pytest.mark.task5
def test_mean_of_squares(engine):
    """y = mean((x + 2)^2 + 3): dy/dx = 2(x + 2)/3 = [4/3, 2, 8/3] at x = [0, 1, 2]."""
    x = np.array([0.0, 1.0, 2.0])
    F.mean(F.add(F.pow(F.add(x, 2.0), 2), 3.0))
    engine.backward()
    np.testing.assert_allclose(grad(engine, x), [4 / 3, 2.0, 8 / 3])


@pytest.mark.task5
def test_sum_of_squares_two_inputs(engine):
    """L = sum((2x + y)^2): dL/dx = 4(2x + y) = [12, 20, 28], dL/dy = 2(2x + y) = [6, 10, 14]."""
    x, y = np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 1.0])
    F.sum(F.pow(F.add(F.mul(2.0, x), y), 2))
    engine.backward()
    np.testing.assert_allclose(grad(engine, x), [12.0, 20.0, 28.0])
    np.testing.assert_allclose(grad(engine, y), [6.0, 10.0, 14.0])


@pytest.mark.task4
def test_log_product_sine(engine):
    """y = ln(x1) + x1 x2 - sin(x2) at (2, 5): dy/dx1 = 1/x1 + x2 = 5.5, dy/dx2 = x1 - cos(x2) = 1.716."""
    x1, x2 = np.array(2.0), np.array(5.0)
    F.sub(F.add(F.log(x1), F.mul(x1, x2)), F.sin(x2))
    engine.backward()
    assert grad(engine, x1) == pytest.approx(5.5)
    assert round(float(grad(engine, x2)), 3) == 1.716
