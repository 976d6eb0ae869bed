"""Losses: values against closed forms, gradients against central differences and closed forms, bad input."""

import math
import re
import warnings

import numpy as np
import pytest

from layer_checks import check_module
from mytorch.nn.activation import LogSoftmax
from mytorch.nn.linear import Linear
from mytorch.nn.loss import BCELoss, BCEWithLogitsLoss, MSELoss, NLLLoss, SoftmaxCrossEntropy

pytestmark = pytest.mark.task10

BATCHES = [(1, 1), (1, 4), (5, 3), (8, 10)]  # (batch, classes or features)


def log_softmax_reference(z):
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def sigmoid_reference(x):
    return 1 / (1 + np.exp(-x))


def labels(rng, batch, classes):
    return rng.integers(0, classes, size=batch)


def grad_of(engine, x):
    return engine.memory_buffer.get_param(x)


# ---------------------------------------------------------------- MSE

@pytest.mark.parametrize("batch, features", BATCHES)
def test_mse_value_and_gradients(engine, rng, batch, features):
    y, t = rng.standard_normal((batch, features)), rng.standard_normal((batch, features))
    loss = MSELoss(engine)
    value = loss(y, t)
    assert value.shape == ()
    assert value == pytest.approx(sum((y.flat[k] - t.flat[k]) ** 2 for k in range(y.size)) / y.size, rel=1e-12)
    loss.backward()
    np.testing.assert_allclose(grad_of(engine, y), 2 * (y - t) / y.size, rtol=1e-12)
    check_module(MSELoss(engine), y, t, wrt=[0])  # the target needs no gradient
    check_module(MSELoss(engine, reduction="sum"), y, t, wrt=[0])  # the target needs no gradient


# ---------------------------------------------------------------- softmax cross-entropy

@pytest.mark.parametrize("batch, classes", BATCHES)
def test_cross_entropy_value_and_gradient(engine, rng, batch, classes):
    z, y = rng.standard_normal((batch, classes)) * 3, labels(rng, batch, classes)
    loss = SoftmaxCrossEntropy(engine)
    value = loss(z, y)
    assert value == pytest.approx(-np.mean(log_softmax_reference(z)[np.arange(batch), y]), rel=1e-12)
    loss.backward()
    expected = (np.exp(log_softmax_reference(z)) - np.eye(classes)[y]) / batch  # (softmax - one-hot) / N
    np.testing.assert_allclose(grad_of(engine, z), expected, rtol=1e-10, atol=1e-15)
    check_module(SoftmaxCrossEntropy(engine), z, y)


def test_cross_entropy_one_hot_equals_integer_labels(engine, rng):
    z, y = rng.standard_normal((6, 4)), labels(rng, 6, 4)
    one_hot = np.eye(4)[y]
    by_label = float(SoftmaxCrossEntropy(engine)(z, y))
    assert float(SoftmaxCrossEntropy(engine)(z, one_hot)) == pytest.approx(by_label, rel=1e-12)
    assert float(SoftmaxCrossEntropy(engine, reduction="sum")(z, y)) == pytest.approx(6 * by_label, rel=1e-12)
    check_module(SoftmaxCrossEntropy(engine), z, one_hot, wrt=[0])  # the target needs no gradient


def test_cross_entropy_is_stable_at_1000(engine):
    """Row [1000, -1000]: log softmax = [0, -2000] (e^-2000 vanishes), so -log p = 0 for label 0, 2000 for label 1."""
    z = np.array([[1000.0, -1000.0], [1000.0, -1000.0]])
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        loss = SoftmaxCrossEntropy(engine)
        value = loss(z, np.array([0, 1]))
        loss.backward()
    assert value == pytest.approx((0 + 2000) / 2)
    np.testing.assert_allclose(grad_of(engine, z), [[0, 0], [0.5, -0.5]], atol=1e-300)


def test_nll_of_log_softmax_is_cross_entropy(engine, rng):
    z, y = rng.standard_normal((5, 3)), labels(rng, 5, 3)
    nll = NLLLoss(engine)
    value = nll(LogSoftmax(engine)(z), y)
    assert value == pytest.approx(float(SoftmaxCrossEntropy(engine)(z, y)), rel=1e-12)
    nll.backward()
    np.testing.assert_allclose(grad_of(engine, z), (np.exp(log_softmax_reference(z)) - np.eye(3)[y]) / 5,
                               rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("batch, classes", BATCHES)
def test_nll_value_and_gradients(engine, rng, batch, classes):
    """L = -mean_i logp[i, y_i]: dL/dlogp = -1/N at (i, y_i), 0 elsewhere."""
    logp, y = rng.standard_normal((batch, classes)), labels(rng, batch, classes)
    loss = NLLLoss(engine)
    assert loss(logp, y) == pytest.approx(-sum(logp[i, y[i]] for i in range(batch)) / batch, rel=1e-12)
    loss.backward()
    np.testing.assert_allclose(grad_of(engine, logp), -np.eye(classes)[y] / batch)
    check_module(NLLLoss(engine), logp, y)
    check_module(NLLLoss(engine, reduction="sum"), logp, y)


# ---------------------------------------------------------------- binary cross-entropy

@pytest.mark.parametrize("shape", [(1,), (1, 1), (4, 3), (6,)])
def test_bce_value_and_gradients(engine, rng, shape):
    p, t = rng.uniform(0.05, 0.95, shape), rng.uniform(0, 1, shape)
    loss = BCELoss(engine)
    assert loss(p, t) == pytest.approx(-np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)), rel=1e-12)
    loss.backward()
    np.testing.assert_allclose(grad_of(engine, p), (p - t) / (p * (1 - p)) / p.size, rtol=1e-10)
    check_module(BCELoss(engine), p, t, wrt=[0])  # the target needs no gradient


def test_bce_clamps_log_at_minus_100_like_pytorch(engine):
    """p = 0 with t = 1 costs -log(max(0, e^-100)) = 100; p = 1 with t = 0 likewise; exact p = t costs 0."""
    with warnings.catch_warnings(), np.errstate(divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        value = BCELoss(engine)(np.array([0.0, 1.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0, 1.0]))
    assert value == pytest.approx((100 + 100 + 0 + 0) / 4, rel=1e-12)


@pytest.mark.parametrize("shape", [(1,), (1, 1), (4, 3), (6,)])
def test_bce_with_logits_value_and_gradients(engine, rng, shape):
    x, t = rng.standard_normal(shape) * 3, rng.uniform(0, 1, shape)
    s = sigmoid_reference(x)
    loss = BCEWithLogitsLoss(engine)
    assert loss(x, t) == pytest.approx(-np.mean(t * np.log(s) + (1 - t) * np.log(1 - s)), rel=1e-12)
    loss.backward()
    np.testing.assert_allclose(grad_of(engine, x), (s - t) / x.size, rtol=1e-10)
    check_module(BCEWithLogitsLoss(engine), x, t, wrt=[0])  # the target needs no gradient
    check_module(BCEWithLogitsLoss(engine, reduction="sum"), x, t, wrt=[0])  # the target needs no gradient


def test_bce_with_logits_gradient_at_zero_is_sigmoid_0_minus_t(engine):
    """dL/dx = (sigmoid(0) - t) / n = (1/2 - t) / n exactly at x = 0 (a kinked formula would lose the 1/2)."""
    x, t = np.zeros(4), np.array([0.0, 1.0, 0.25, 1.0])
    loss = BCEWithLogitsLoss(engine)
    assert loss(x, t) == pytest.approx(math.log(2))  # -log(1/2) whatever t is
    loss.backward()
    np.testing.assert_allclose(grad_of(engine, x), (0.5 - t) / 4, rtol=1e-12)


def test_bce_with_logits_is_stable_at_1000(engine):
    """x = 1000, t = 0 costs log(1 + e^1000) = 1000 (to double precision); x = -1000, t = 0 costs 0."""
    x, t = np.array([1000.0, -1000.0, 1000.0, -1000.0]), np.array([0.0, 0.0, 1.0, 1.0])
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        loss = BCEWithLogitsLoss(engine)
        value = loss(x, t)
        loss.backward()
    assert value == pytest.approx((1000 + 0 + 0 + 1000) / 4)
    np.testing.assert_allclose(grad_of(engine, x), [0.25, 0.0, 0.0, -0.25], atol=1e-300)


# ---------------------------------------------------------------- backward and the model behind it

def test_backward_starts_at_the_loss_and_fills_layer_gradients(engine, rng):
    """For z = x W^T + b and L = mean CE: dL/dW = G^T x with G = (softmax(z) - onehot) / N."""
    layer, loss = Linear(3, 4, engine, rng=0), SoftmaxCrossEntropy(engine)
    x, y = rng.standard_normal((5, 3)), labels(rng, 5, 4)
    z = layer(x)
    loss(z, y)
    layer(x)  # recorded after the loss: backward must start at the loss anyway
    loss.backward()
    G = (np.exp(log_softmax_reference(z)) - np.eye(4)[y]) / 5
    np.testing.assert_allclose(layer.dW, G.T @ x, rtol=1e-10)
    np.testing.assert_allclose(layer.db, G.sum(axis=0), rtol=1e-10, atol=1e-15)


def test_backward_before_forward_raises(engine):
    with pytest.raises(RuntimeError, match="call the loss"):
        MSELoss(engine).backward()


def test_unknown_reduction_raises(engine):
    with pytest.raises(ValueError, match="reduction"):
        MSELoss(engine, reduction="max")


# ---------------------------------------------------------------- bad input, before anything is recorded

BAD = [
    (MSELoss, np.zeros((4, 3)), np.zeros((5, 3)), [r"MSELoss\(\)", r"\(4, 3\)", r"\(5, 3\)"]),
    (SoftmaxCrossEntropy, np.zeros((4, 3)), np.array([0, 1, 2]), [r"SoftmaxCrossEntropy\(\)", r"\(4, 3\)", r"\(3,\)"]),
    (SoftmaxCrossEntropy, np.zeros((4, 3)), np.array([0, 1, 3, 0]), [r"label 3 is out of range", r"0\.\.2"]),
    (SoftmaxCrossEntropy, np.zeros((4, 3)), np.array([0, -1, 1, 0]), [r"label -1 is out of range"]),
    (SoftmaxCrossEntropy, np.zeros((4, 3)), np.zeros((4, 2)), [r"one-hot target of shape \(4, 3\)", r"\(4, 2\)"]),
    (SoftmaxCrossEntropy, np.zeros((4, 3)), np.zeros(4), [r"\(4,\)", r"astype\(int\)"]),
    (SoftmaxCrossEntropy, np.zeros(3), np.array([0]), [r"\(batch, classes\)", r"\(3,\)"]),
    (NLLLoss, np.zeros((2, 3)), np.array([0, 5]), [r"NLLLoss\(\)", r"label 5", r"\(2, 3\)"]),
    (NLLLoss, np.zeros((2, 3)), np.zeros((2, 3)), [r"integer class labels of shape \(2,\)"]),
    (NLLLoss, np.zeros((2, 3)), np.array([0, -1]), [r"label -1", r"0\.\.2"]),
    (BCELoss, np.full((2, 2), 0.5), np.zeros((2, 3)), [r"BCELoss\(\)", r"\(2, 2\)", r"\(2, 3\)"]),
    (BCELoss, np.array([0.5, 1.5]), np.zeros(2), [r"probabilities in \[0, 1\]", "BCEWithLogitsLoss"]),
    (BCEWithLogitsLoss, np.zeros(3), np.zeros(4), [r"BCEWithLogitsLoss\(\)", r"\(3,\)", r"\(4,\)"]),
]


@pytest.mark.parametrize("make, prediction, target, patterns", BAD)
def test_bad_input_raises_naming_the_loss_and_shapes(engine, make, prediction, target, patterns):
    before = len(engine.operation_list)
    with pytest.raises(ValueError) as info:
        make(engine)(prediction, target)
    assert str(info.value).startswith(f"{make.__name__}()")
    for pattern in patterns:
        assert re.search(pattern, str(info.value)), (pattern, str(info.value))
    assert len(engine.operation_list) == before


def test_a_target_given_first_is_a_clear_error_not_a_wrong_loss(engine):
    """Old code written for losses that took the target first: labels or one-hot rows, then the logits."""
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    labels = np.array([0, 1])
    one_hot = np.eye(3)[labels]
    loss = SoftmaxCrossEntropy(engine)
    with pytest.raises(ValueError, match=r"row 0 sums to 1\.5; the arguments are \(logits, target\)"):
        loss(one_hot, logits)  # logits as the target: row 0 sums to 2 - 1 + 0.5 = 1.5
    with pytest.raises(ValueError, match=r"integer labels came first; the arguments are \(prediction, target\)"):
        loss(labels, logits)
    soft = np.array([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5]])  # real probability rows are fine
    assert float(loss(logits, soft)) > 0
