"""Models (Sequential, MLP), parameter listing, optimizers (SGD, Adam) and training.

The digits example (examples/train_digits.py, not in the student kit) is tested in test_digits_example.py."""

import tracemalloc

import numpy as np
import pytest

from layer_checks import check_module
from mytorch.nn.activation import ReLU, Sigmoid, Tanh
from mytorch.nn.linear import Linear
from mytorch.nn.loss import MSELoss, SoftmaxCrossEntropy
from mytorch.nn.models import MLP, Sequential
from mytorch.optim import SGD, Adam


# ---------------------------------------------------------------- MLP and Sequential

@pytest.mark.task9
def test_mlp_forward_is_the_composition(engine, rng):
    """MLP([3, 5, 2], "relu") = max(x W1^T + b1, 0) W2^T + b2: ReLU after the hidden layer, logits out."""
    model = MLP([3, 5, 2], "relu", engine, rng=0)
    first, second = model.layers[0], model.layers[2]
    assert [type(layer) for layer in model.layers] == [Linear, ReLU, Linear]
    x = rng.standard_normal((4, 3))
    expected = np.maximum(x @ first.W.T + first.b, 0) @ second.W.T + second.b
    np.testing.assert_allclose(model(x), expected, rtol=1e-12)


@pytest.mark.task9
@pytest.mark.parametrize("sizes, batch", [([3, 4, 2], 1), ([2, 3], 5), ([4, 6, 5, 3], 3)])
def test_mlp_gradients_match_central_differences(engine, rng, sizes, batch):
    model = MLP(sizes, "tanh", engine, rng=1)
    grads = check_module(model, rng.standard_normal((batch, sizes[0])))
    assert len(grads) == 1 + 2 * (len(sizes) - 1)


@pytest.mark.task10
def test_training_objective_gradients(engine, rng):
    """The whole training objective L(params) = CE(MLP(x), y): every parameter against central differences."""
    loss = SoftmaxCrossEntropy(engine)
    x, y = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)

    class Objective(MLP):
        def forward(self, x):
            return loss(super().forward(x), y)

    grads = check_module(Objective([3, 4, 3], "sigmoid", engine, rng=2), x)
    assert len(grads) == 5


@pytest.mark.task9
def test_mlp_activation_forms(engine):
    per_layer = MLP([2, 3, 3, 1], ["tanh", Sigmoid(engine), None], engine)
    assert [type(layer) for layer in per_layer.layers] == [Linear, Tanh, Linear, Sigmoid, Linear]
    every = MLP([2, 3, 1], ["relu", "sigmoid"], engine)
    assert [type(layer) for layer in every.layers] == [Linear, ReLU, Linear, Sigmoid]
    with pytest.raises(ValueError, match=r"MLP: sizes \[2, 3, 1\] make 2 Linear layers, so 2 activations"):
        MLP([2, 3, 1], ["relu"], engine)
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        MLP([2, 3, 1], "swish", engine)
    with pytest.raises(ValueError, match="at least the input and output sizes"):
        MLP([2], "relu", engine)


@pytest.mark.task9
def test_mlp_wrong_feature_count_names_the_linear_layer(engine):
    model = MLP([4, 3, 2], "relu", engine)
    with pytest.raises(ValueError, match=r"Linear\(in_features=4, out_features=3\): expected input of shape "
                                         r"\(batch, 4\), got shape \(2, 5\)"):
        model(np.zeros((2, 5)))
    assert engine.operation_list == []


@pytest.mark.task9
def test_sequential_refuses_what_is_not_a_layer(engine):
    with pytest.raises(TypeError, match="Sequential: layer 1 is a function, not a Module"):
        Sequential(Linear(2, 2, engine), lambda x: x)


@pytest.mark.task9
def test_parameters_are_listed_in_order_and_once(engine, rng):
    shared = Linear(3, 3, engine, rng=3)
    model = Sequential(shared, Tanh(engine), shared, Linear(3, 2, engine, rng=4))
    names = [name for name, _, _ in model.named_parameters()]
    assert names == ["layers.0.W", "layers.0.b", "layers.3.W", "layers.3.b"]
    assert model.parameters()[0][0] is shared.W and model.parameters()[0][1] is shared.dW
    # the shared layer's gradient is the sum over both of its uses
    check_module(model, rng.standard_normal((2, 3)))


@pytest.mark.task9
def test_module_zero_grad_zeroes_every_gradient_in_place(engine, rng):
    model = MLP([3, 4, 2], "relu", engine, rng=5)
    grads = [grad for _, grad in model.parameters()]
    engine.backward(1.0, output=model(rng.standard_normal((3, 3))))
    assert all(g.any() for g in grads[::2])  # the weights received gradient
    model.zero_grad()
    assert all(g is h and not g.any() for g, (_, h) in zip(grads, model.parameters()))


# ---------------------------------------------------------------- optimizers: one step against the formulas

def one_parameter(values, grads):
    return [(np.array(values, dtype=float), np.array(grads, dtype=float))]


@pytest.mark.task0
def test_sgd_step_is_p_minus_lr_g_with_weight_decay():
    """p' = p - lr (g + wd p) = [1, -2] - 0.1 ([0.5, 0.5] + 0.01 [1, -2]) = [0.949, -2.048]."""
    pairs = one_parameter([1.0, -2.0], [0.5, 0.5])
    param = pairs[0][0]
    SGD(pairs, lr=0.1, weight_decay=0.01).step()
    np.testing.assert_allclose(param, [0.949, -2.048], rtol=1e-12)
    assert pairs[0][0] is param  # updated in place


@pytest.mark.task0
def test_sgd_momentum_two_steps():
    """p = 1, g1 = 2, g2 = 1, lr = 0.1, m = 0.9: v1 = 2, p1 = 0.8; v2 = 0.9*2 + 1 = 2.8, p2 = 0.8 - 0.28 = 0.52.
    Nesterov: p1 = 1 - 0.1 (2 + 0.9*2) = 0.62; p2 = 0.62 - 0.1 (1 + 0.9*2.8) = 0.268."""
    for nesterov, expected in [(False, (0.8, 0.52)), (True, (0.62, 0.268))]:
        pairs = one_parameter([1.0], [2.0])
        param, grad = pairs[0]
        optimizer = SGD(pairs, lr=0.1, momentum=0.9, nesterov=nesterov)
        optimizer.step()
        np.testing.assert_allclose(param, [expected[0]], rtol=1e-12)
        grad[...] = 1.0
        optimizer.step()
        np.testing.assert_allclose(param, [expected[1]], rtol=1e-12)


@pytest.mark.task0
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_step_allocates_no_parameter_sized_temporary(momentum):
    """The update goes through a scratch array kept by the optimizer (W -= lr * dW would allocate lr * dW)."""
    W, dW = np.ones((128, 128)), np.full((128, 128), 2.0)
    optimizer = SGD([(W, dW)], lr=0.25, momentum=momentum)
    optimizer.step()  # the first step with momentum allocates the velocity, once
    tracemalloc.start()
    try:
        optimizer.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < W.nbytes // 8, peak
    # without momentum W = 1 - 2 (0.25 * 2) = 0; with it v1 = 2, v2 = 0.9 * 2 + 2 = 3.8, W = 1 - 0.25 (2 + 3.8) = -0.45
    np.testing.assert_allclose(W, 0.0 if not momentum else -0.45, rtol=1e-12, atol=1e-15)


@pytest.mark.task0
def test_adam_first_step_moves_each_entry_by_lr_against_its_gradient():
    """t = 1: m_hat = g, v_hat = g^2, so p' = p - lr g / (|g| + eps), i.e. about lr in size, whatever |g| is."""
    pairs = one_parameter([0.0, 0.0, 0.0], [1e-3, -50.0, 2.0])
    Adam(pairs, lr=0.01).step()
    g = np.array([1e-3, -50.0, 2.0])
    np.testing.assert_allclose(pairs[0][0], -0.01 * g / (np.abs(g) + 1e-8), rtol=1e-12)


@pytest.mark.task0
def test_adam_two_steps_with_weight_decay():
    """b1 = 0.9, b2 = 0.999, lr = 0.1, wd = 0.5; p0 = 1, dL/dp = 2 then 0.5:
    g1 = 2 + 0.5*1 = 2.5: m1 = 0.25, v1 = 0.00625, p1 = 1 - 0.1 * 2.5 / (2.5 + eps) = 0.9 (to 1e-9).
    g2 = 0.5 + 0.5*0.9 = 0.95: m2 = 0.9*0.25 + 0.1*0.95 = 0.32, v2 = 0.999*0.00625 + 0.001*0.9025 = 0.00714625,
    m_hat = 0.32 / 0.19, v_hat = 0.00714625 / 0.001999, p2 = 0.9 - 0.1 m_hat / (sqrt(v_hat) + eps)."""
    pairs = one_parameter([1.0], [2.0])
    param, grad = pairs[0]
    optimizer = Adam(pairs, lr=0.1, weight_decay=0.5)
    optimizer.step()
    np.testing.assert_allclose(param, [0.9], rtol=1e-8)
    grad[...] = 0.5
    optimizer.step()
    p1 = 1 - 0.1 * 2.5 / (2.5 + 1e-8)
    expected = p1 - 0.1 * (0.32 / 0.19) / (np.sqrt(0.00714625 / 0.001999) + 1e-8)
    np.testing.assert_allclose(param, [expected], rtol=1e-10)


@pytest.mark.task0
def test_zero_grad_zeroes_in_place():
    pairs = one_parameter([1.0, 2.0], [3.0, 4.0])
    grad = pairs[0][1]
    SGD(pairs).zero_grad()
    assert pairs[0][1] is grad and not grad.any()


@pytest.mark.task0
@pytest.mark.parametrize("make, pattern", [
    (lambda: SGD([], lr=0.1), "no parameters"),
    (lambda: SGD(one_parameter([1.0], [1.0]), lr=0.0), "learning rate must be positive"),
    (lambda: SGD(one_parameter([1.0], [1.0]), momentum=1.5), r"momentum must be in \[0.0, 1.0\)"),
    (lambda: SGD(one_parameter([1.0], [1.0]), nesterov=True), "nesterov"),
    (lambda: Adam(one_parameter([1.0], [1.0]), betas=(0.9, 1.0)), r"betas\[1\]"),
    (lambda: Adam([(np.zeros((2, 3)), np.zeros((3, 2)))]), r"shape \(2, 3\) but its gradient has shape \(3, 2\)"),
    (lambda: Adam([np.zeros(3)]), r"not a \(parameter, gradient\) pair"),
])
def test_optimizer_bad_arguments(make, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        make()


@pytest.mark.task0
def test_optimizer_accepts_a_module(engine):
    model = MLP([2, 2], "relu", engine)
    assert len(Adam(model).params) == 2


# ---------------------------------------------------------------- training

def blobs():
    """Three well-separated Gaussian blobs in the plane, 20 points each (fixed seed)."""
    rng = np.random.default_rng(0)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    labels = np.repeat(np.arange(3), 20)
    return centers[labels] + 0.5 * rng.standard_normal((60, 2)), labels


@pytest.mark.task10
@pytest.mark.parametrize("name, make", [
    ("SGD", lambda params: SGD(params, lr=0.5)),
    ("SGD+momentum", lambda params: SGD(params, lr=0.1, momentum=0.9)),
    ("Adam", lambda params: Adam(params, lr=0.05)),
])
def test_each_optimizer_reduces_the_loss_tenfold(engine, name, make):
    X, y = blobs()
    model, criterion = MLP([2, 16, 3], "tanh", engine, rng=0), SoftmaxCrossEntropy(engine)
    optimizer = make(model.parameters())
    losses = []
    for _ in range(60):
        engine.zero_grad()
        optimizer.zero_grad()
        losses.append(float(criterion(model(X), y)))
        criterion.backward()
        optimizer.step()
    assert losses[-1] < losses[0] / 10, f"{name}: loss {losses[0]:.4f} -> {losses[-1]:.4f}"


@pytest.mark.task10
def test_regression_with_mse(engine):
    """Fit y = sin(x) on [-2, 2] (64 points) with a 1-16-1 tanh MLP: MSE falls tenfold with Adam."""
    x = np.linspace(-2, 2, 64).reshape(-1, 1)
    y = np.sin(x)
    model, criterion = MLP([1, 16, 1], "tanh", engine, rng=1), MSELoss(engine)
    optimizer = Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(200):
        engine.zero_grad()
        optimizer.zero_grad()
        losses.append(float(criterion(model(x), y)))
        criterion.backward()
        optimizer.step()
    assert losses[-1] < losses[0] / 10
