"""Forward mode: every dual-number rule against central differences, plus jvp and derivative.

A rule is checked along a random direction v: the tangent of f(Dual(x, v)) must
equal (f(x + eps v) - f(x - eps v)) / (2 eps), computed with plain NumPy
versions of f in float64 (error about eps**2 = 1e-12 times f''').
"""

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mytorch import forward_mode as fm
from mytorch.forward_mode import Dual, derivative, jvp
from mytorch.gradcheck import numerical_jacobian

pytestmark = pytest.mark.task0

EPS = 1e-6
SETTINGS = settings(max_examples=20, deadline=None)


def central(f, xs, vs, eps=EPS):
    """Directional derivative of the NumPy function f at xs along vs, by central differences."""
    plus = f(*[x + eps * v for x, v in zip(xs, vs)])
    minus = f(*[x - eps * v for x, v in zip(xs, vs)])
    return (np.asarray(plus) - np.asarray(minus)) / (2 * eps)


def floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def points(lo, hi, shape=None, avoid_zero=False):
    """A random array (random shape up to 3x4 unless given) with entries in [lo, hi]."""
    elements = floats(lo, hi)
    if avoid_zero:  # kinks at 0 (relu, abs): keep central differences away from them
        elements = elements.filter(lambda t: abs(t) > 1e-3)
    shapes = hnp.array_shapes(min_dims=0, max_dims=2, max_side=4) if shape is None else st.just(shape)
    return shapes.flatmap(lambda s: hnp.arrays(np.float64, s, elements=elements))


def direction(x):
    return np.random.default_rng(zlib.crc32(x.tobytes())).standard_normal(x.shape)


# name, dual function, reference NumPy function, domain of the input
UNARY = [
    ("exp", lambda a: a.exp(), np.exp, (-3, 3)),
    ("log", lambda a: a.log(), np.log, (0.1, 5)),
    ("sin", lambda a: a.sin(), np.sin, (-4, 4)),
    ("cos", lambda a: a.cos(), np.cos, (-4, 4)),
    ("tanh", lambda a: a.tanh(), np.tanh, (-3, 3)),
    ("sqrt", lambda a: a.sqrt(), np.sqrt, (0.1, 5)),
    ("sigmoid", lambda a: a.sigmoid(), lambda a: 1 / (1 + np.exp(-a)), (-6, 6)),
    ("relu", lambda a: a.relu(), lambda a: np.maximum(a, 0), (-3, 3)),
    ("abs", lambda a: a.abs(), np.abs, (-3, 3)),
    ("neg", lambda a: -a, np.negative, (-3, 3)),
    ("square", lambda a: a ** 2, lambda a: a ** 2, (-3, 3)),
    ("cube", lambda a: a ** 3, lambda a: a ** 3, (-3, 3)),
    ("power -1.5", lambda a: a ** -1.5, lambda a: a ** -1.5, (0.2, 4)),
    ("reciprocal", lambda a: 1.0 / a, lambda a: 1.0 / a, (0.2, 4)),
    ("2 ** a", lambda a: 2.0 ** a, lambda a: 2.0 ** a, (-3, 3)),
    ("3 - a", lambda a: 3.0 - a, lambda a: 3.0 - a, (-3, 3)),
]


@pytest.mark.parametrize("name, dual_f, numpy_f, domain", UNARY, ids=[u[0] for u in UNARY])
def test_unary_rule_matches_central_differences(name, dual_f, numpy_f, domain):
    @SETTINGS
    @given(points(*domain, avoid_zero=name in ("relu", "abs")))
    def check(x):
        v = direction(x)
        out = dual_f(Dual(x, v))
        np.testing.assert_allclose(out.value, numpy_f(x), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(out.tangent, central(numpy_f, [x], [v]), rtol=1e-6, atol=1e-6)

    check()


@pytest.mark.parametrize("name", ["exp", "log", "sin", "cos", "tanh", "sqrt", "sigmoid"])
def test_module_functions_accept_duals_and_arrays(name):
    """fm.exp(x) is x.exp() for a dual and np.exp(x) (plain numbers) for an array."""
    x = np.array([0.3, 1.7])
    v = np.array([1.0, -2.0])
    function = getattr(fm, name)
    out = function(Dual(x, v))
    expected = getattr(Dual(x, v), name)()
    np.testing.assert_array_equal(out.value, expected.value)
    np.testing.assert_array_equal(out.tangent, expected.tangent)
    np.testing.assert_allclose(function(x), expected.value, rtol=1e-15)


BINARY = [
    ("add", lambda a, b: a + b, (-3, 3), (-3, 3)),
    ("sub", lambda a, b: a - b, (-3, 3), (-3, 3)),
    ("mul", lambda a, b: a * b, (-3, 3), (-3, 3)),
    ("div", lambda a, b: a / b, (-3, 3), (0.3, 3)),
    ("pow", lambda a, b: a ** b, (0.3, 3), (-2, 2)),
]


@pytest.mark.parametrize("name, f, dom_a, dom_b", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("shapes", [((3,), (3,)), ((2, 3), (3,)), ((4, 1), (1, 2)), ((), (2,))])
def test_binary_rule_matches_central_differences(name, f, dom_a, dom_b, shapes):
    """Both operands move (independent tangents), with broadcasting; the operators are the
    same Python code for arrays and duals, so one f serves as rule and reference."""
    @SETTINGS
    @given(points(*dom_a, shape=shapes[0]), points(*dom_b, shape=shapes[1]))
    def check(a, b):
        va, vb = direction(a), direction(b + 1)
        out = f(Dual(a, va), Dual(b, vb))
        np.testing.assert_allclose(out.value, f(a, b), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(out.tangent, central(f, [a, b], [va, vb]), rtol=1e-6, atol=1e-6)

    check()


@pytest.mark.parametrize("name, f", [
    ("array + dual", lambda a, c: c + a), ("array - dual", lambda a, c: c - a),
    ("array * dual", lambda a, c: c * a), ("array / dual", lambda a, c: c / a),
    ("array ** dual", lambda a, c: c ** a), ("array @ dual", lambda a, c: c.reshape(3, 1) @ a.reshape(1, 3)),
])
def test_reflected_operators_with_constant_arrays(name, f):
    """An ndarray on the left defers to the dual's reflected operator; the array is a constant."""
    a, c = np.array([0.5, 1.0, 2.0]), np.array([1.5, 2.5, 0.7])
    va = np.array([1.0, -1.0, 0.5])
    out = f(Dual(a, va), c)
    assert isinstance(out, Dual)
    np.testing.assert_allclose(out.tangent, central(lambda a: f(a, c), [a], [va]), rtol=1e-6, atol=1e-8)


@SETTINGS
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**31))
def test_matmul_rule(n, k, m, seed):
    """d(A @ B) = dA @ B + A @ dB, against central differences; also matrix @ vector."""
    rng = np.random.default_rng(seed)
    A, B, dA, dB = (rng.standard_normal(s) for s in [(n, k), (k, m), (n, k), (k, m)])
    out = Dual(A, dA) @ Dual(B, dB)
    np.testing.assert_allclose(out.tangent, central(np.matmul, [A, B], [dA, dB]), rtol=1e-6, atol=1e-8)
    x, dx = rng.standard_normal(k), rng.standard_normal(k)
    out = A @ Dual(x, dx)
    np.testing.assert_allclose(out.tangent, A @ dx, rtol=1e-12)


@pytest.mark.parametrize("name, dual_f, numpy_f", [
    ("sum", lambda a: a.sum(), np.sum),
    ("sum axis 0", lambda a: a.sum(axis=0), lambda a: np.sum(a, axis=0)),
    ("mean axis 1 keepdims", lambda a: a.mean(axis=1, keepdims=True), lambda a: np.mean(a, 1, keepdims=True)),
    ("reshape", lambda a: a.reshape(6, 2) * a.reshape(6, 2), lambda a: a.reshape(6, 2) ** 2),
    ("transpose", lambda a: a.T.sin(), lambda a: np.sin(a.T)),
    ("getitem", lambda a: a[1:, [0, 0, 3]].exp(), lambda a: np.exp(a[1:, [0, 0, 3]])),
])
def test_shape_ops_and_reductions(name, dual_f, numpy_f):
    rng = np.random.default_rng(7)
    x, v = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    out = dual_f(Dual(x, v))
    np.testing.assert_allclose(out.value, numpy_f(x), rtol=1e-12)
    np.testing.assert_allclose(out.tangent, central(numpy_f, [x], [v]), rtol=1e-6, atol=1e-8)


def test_lecture_example_seeding_x1():
    """z = x1 x2 + sin(x1) at (1, 2). Seeding x1 (tangents (1, 0)): dz/dx1 = x2 + cos(x1) = 2 + cos 1.
    Seeding x2 (tangents (0, 1)): dz/dx2 = x1 = 1. The value is 1*2 + sin 1."""
    z, dz_dx1 = jvp(lambda x1, x2: x1 * x2 + fm.sin(x1), (1.0, 2.0), (1.0, 0.0))
    assert z == pytest.approx(2 + np.sin(1.0), rel=1e-15)
    assert dz_dx1 == pytest.approx(2 + np.cos(1.0), rel=1e-15)
    _, dz_dx2 = jvp(lambda x1, x2: x1 * x2 + fm.sin(x1), (1.0, 2.0), (0.0, 1.0))
    assert dz_dx2 == pytest.approx(1.0, rel=1e-15)


def test_derivative_of_elementwise_and_scalar_functions():
    """d/dx x^3 = 3x^2 (elementwise); d/dx (x sin x) = sin x + x cos x at x = 2."""
    x = np.array([-1.0, 0.5, 2.0])
    np.testing.assert_allclose(derivative(lambda t: t ** 3, x), 3 * x ** 2, rtol=1e-14)
    assert derivative(lambda t: t * t.sin(), 2.0) == pytest.approx(np.sin(2.0) + 2 * np.cos(2.0), rel=1e-14)


def test_jvp_equals_jacobian_times_direction():
    """J v by one forward pass equals the central-difference Jacobian times v."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((4, 3))

    def f(x):
        return fm.tanh(A @ x) * (x[:1] ** 2).sum() + fm.exp(A @ x * 0.1)

    x, v = rng.standard_normal(3), rng.standard_normal(3)
    value, tangent = jvp(f, x, v)
    J = numerical_jacobian(lambda x: f(Dual(x)).value, x)
    np.testing.assert_allclose(value, f(Dual(x)).value)
    np.testing.assert_allclose(tangent, J @ v, rtol=1e-6, atol=1e-8)


def test_constant_result_has_zero_tangent():
    value, tangent = jvp(lambda x: np.ones(2), np.array([1.0, 2.0, 3.0]), np.ones(3))
    np.testing.assert_array_equal(tangent, np.zeros(2))


def test_power_of_a_negative_base_with_constant_exponent_is_finite():
    """d/dx x^3 = 3x^2 = 12 at x = -2, whether the exponent is a number or a constant dual."""
    assert (Dual(-2.0, 1.0) ** 3).tangent == pytest.approx(12.0)
    assert (Dual(-2.0, 1.0) ** Dual(3.0)).tangent == pytest.approx(12.0)
    assert (Dual(-2.0, 1.0) ** 0).tangent == 0.0


def test_bad_tangent_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"tangent of shape \(2,\).*value of shape \(3,\)"):
        Dual(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match=r"v\[0\] has shape \(2,\) but x\[0\] has shape \(3,\)"):
        jvp(lambda x: x, np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="tuple of 2 arrays"):
        jvp(lambda a, b: a * b, (1.0, 2.0), 1.0)


def test_numpy_functions_refuse_duals_instead_of_dropping_the_tangent():
    with pytest.raises(TypeError):
        np.sin(Dual(1.0, 1.0))


def test_a_tensor_result_is_rejected():
    from mytorch.tensor import Tensor

    with pytest.raises(TypeError, match="forward mode needs f written with Dual"):
        jvp(lambda x: Tensor(x.value), np.ones(2), np.ones(2))
