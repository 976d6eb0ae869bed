"""Activations: forward against closed forms, gradients against central differences, stability at +-1000."""

import math
import warnings

import numpy as np
import pytest

from layer_checks import check_module
from mytorch.nn.activation import GELU, Identity, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh

pytestmark = pytest.mark.task8

SHAPES = [(1,), (1, 1), (3, 4), (2, 3, 2)]


def gelu_tanh(x):
    """x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), written out independently."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def softmax_reference(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


CLOSED_FORMS = {
    "identity": (lambda e: Identity(e), lambda x: x),
    "sigmoid": (lambda e: Sigmoid(e), lambda x: 1.0 / (1.0 + np.exp(-x))),
    "tanh": (lambda e: Tanh(e), np.tanh),
    "relu": (lambda e: ReLU(e), lambda x: np.where(x > 0, x, 0.0)),
    "leaky_relu": (lambda e: LeakyReLU(e, slope=0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    "leaky_relu_steep": (lambda e: LeakyReLU(e, slope=2.5), lambda x: np.where(x > 0, x, 2.5 * x)),
    "gelu": (lambda e: GELU(e), gelu_tanh),
    "softmax_last": (lambda e: Softmax(e), lambda x: softmax_reference(x, -1)),
    "softmax_first": (lambda e: Softmax(e, axis=0), lambda x: softmax_reference(x, 0)),
    "log_softmax": (lambda e: LogSoftmax(e), lambda x: np.log(softmax_reference(x, -1))),
}


def away_from_kinks(rng, shape):
    """|x| in [0.1, 3] with random signs: central differences stay off ReLU's kink at 0."""
    return rng.uniform(0.1, 3.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_closed_form(engine, rng, name, shape):
    make, reference = CLOSED_FORMS[name]
    x = away_from_kinks(rng, shape)
    y = make(engine)(x)
    assert y.shape == x.shape
    np.testing.assert_allclose(y, reference(x), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
@pytest.mark.parametrize("shape", SHAPES)
def test_gradient_matches_central_differences(engine, rng, name, shape):
    make, _ = CLOSED_FORMS[name]
    check_module(make(engine), away_from_kinks(rng, shape))


def test_derivatives_match_closed_forms(engine, rng):
    """sigmoid' = s (1 - s), tanh' = 1 - tanh^2, GELU' from the product and chain rules."""
    x = away_from_kinks(rng, (5,))
    c = math.sqrt(2 / math.pi)
    u = c * (x + 0.044715 * x ** 3)
    s = 1 / (1 + np.exp(-x))
    cases = [(Sigmoid(engine), s * (1 - s)),
             (Tanh(engine), 1 - np.tanh(x) ** 2),
             (GELU(engine), 0.5 * (1 + np.tanh(u)) + 0.5 * x * (1 - np.tanh(u) ** 2) * c * (1 + 3 * 0.044715 * x ** 2))]
    for layer, derivative in cases:
        engine.zero_grad()
        engine.backward(1.0, output=layer(x))
        np.testing.assert_allclose(engine.memory_buffer.get_param(x), derivative, rtol=1e-10,
                                   err_msg=type(layer).__name__)


def test_gradient_at_zero_follows_pytorch(engine):
    """At x = 0: ReLU' = 0, LeakyReLU' = slope (PyTorch's convention: x > 0 selects the identity branch)."""
    x = np.zeros(3)
    for layer, expected in [(ReLU(engine), 0.0), (LeakyReLU(engine, slope=0.2), 0.2)]:
        engine.zero_grad()
        engine.backward(1.0, output=layer(x))
        np.testing.assert_allclose(engine.memory_buffer.get_param(x), expected)


def test_gelu_tanh_approximation_is_within_5e_4_of_exact_gelu(engine):
    """Exact GELU = x/2 (1 + erf(x / sqrt 2)); the documented bound on the approximation error is 5e-4."""
    x = np.linspace(-8, 8, 4001)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x])
    assert np.abs(GELU(engine)(x) - exact).max() < 5e-4


def test_softmax_rows_are_distributions(engine, rng):
    y = Softmax(engine, axis=1)(rng.standard_normal((3, 4, 2)) * 10)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-12)
    assert (y > 0).all()


EXTREMES = np.array([-1000.0, -1.0, 0.0, 1.0, 1000.0])


@pytest.mark.parametrize("make, value, derivative", [
    # sigmoid(+-1000) = 1, 0 to double precision; its derivative s (1 - s) underflows to 0
    (Sigmoid, [0.0, 1 / (1 + math.e), 0.5, 1 / (1 + math.exp(-1)), 1.0],
     [0.0, math.e / (1 + math.e) ** 2, 0.25, math.e / (1 + math.e) ** 2, 0.0]),
    (Tanh, np.tanh(EXTREMES), 1 - np.tanh(EXTREMES) ** 2),
    (ReLU, [0.0, 0.0, 0.0, 1.0, 1000.0], [0.0, 0.0, 0.0, 1.0, 1.0]),
    # GELU(x) -> 0 for x -> -inf and x for x -> +inf, with derivative 0 and 1
    (GELU, [0.0, gelu_tanh(-1.0), 0.0, gelu_tanh(1.0), 1000.0], None),
])
def test_elementwise_activations_are_stable_at_1000(engine, make, value, derivative):
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        x = EXTREMES.copy()
        y = make(engine)(x)
        engine.backward(1.0, output=y)
        grad = engine.memory_buffer.get_param(x)
    np.testing.assert_allclose(y, value, rtol=1e-12, atol=1e-300)
    assert np.isfinite(grad).all()
    if derivative is not None:
        np.testing.assert_allclose(grad, derivative, rtol=1e-12, atol=1e-300)
    else:
        assert grad[0] == 0.0 and grad[-1] == 1.0


@pytest.mark.parametrize("make", [Softmax, LogSoftmax])
def test_softmax_is_stable_at_1000(engine, make):
    """softmax([1000, 0, -1000]) = [1, e^-1000, 0] = [1, 0, 0]; of [1000, 1000]: [1/2, 1/2]."""
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        x = np.array([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, -1000.0]])
        y = make(engine)(x)
        engine.backward(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), output=y)
        grad = engine.memory_buffer.get_param(x)
    if make is Softmax:
        np.testing.assert_allclose(y, [[1, 0, 0], [0.5, 0.5, 0]], atol=1e-300)
    else:
        np.testing.assert_allclose(y, [[0, -1000, -2000], [-math.log(2), -math.log(2), -2000 - math.log(2)]],
                                   rtol=1e-12)
    assert np.isfinite(grad).all()


def test_leaky_relu_large_inputs(engine):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = LeakyReLU(engine, slope=0.01)(EXTREMES)
    np.testing.assert_allclose(y, [-10.0, -0.01, 0.0, 1.0, 1000.0])


def test_softmax_axis_out_of_range_raises_before_recording(engine):
    before = len(engine.operation_list)
    with pytest.raises(ValueError, match=r"Softmax\(axis=2\).*shape \(3, 4\).*no axis 2"):
        Softmax(engine, axis=2)(np.zeros((3, 4)))
    assert len(engine.operation_list) == before


def test_activations_have_no_parameters(engine):
    for make, _ in CLOSED_FORMS.values():
        assert make(engine).parameters() == []
