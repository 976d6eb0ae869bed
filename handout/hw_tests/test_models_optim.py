"""Models (Sequential, MLP), parameter listing, optimizers (SGD, Adam) and training, including the digits example."""

import importlib.util
import io
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from layer_checks import check_module
from mytorch import Autograd
from mytorch.nn.activation import ReLU, Sigmoid, Tanh
from mytorch.nn.linear import Linear
from mytorch.nn.loss import MSELoss, SoftmaxCrossEntropy
from mytorch.nn.models import MLP, Sequential
from mytorch.optim import SGD, Adam


# ---------------------------------------------------------------- MLP and Sequential

def test_mlp_forward_is_the_composition(engine, rng):
    """MLP([3, 5, 2], "relu") = max(x W1^T + b1, 0) W2^T + b2: ReLU after the hidden layer, logits out."""
    model = MLP([3, 5, 2], "relu", engine, rng=0)
    first, second = model.layers[0], model.layers[2]
    assert [type(layer) for layer in model.layers] == [Linear, ReLU, Linear]
    x = rng.standard_normal((4, 3))
    expected = np.maximum(x @ first.W.T + first.b, 0) @ second.W.T + second.b
    np.testing.assert_allclose(model(x), expected, rtol=1e-12)


@pytest.mark.parametrize("sizes, batch", [([3, 4, 2], 1), ([2, 3], 5), ([4, 6, 5, 3], 3)])
def test_mlp_gradients_match_central_differences(engine, rng, sizes, batch):
    model = MLP(sizes, "tanh", engine, rng=1)
    grads = check_module(model, rng.standard_normal((batch, sizes[0])))
    assert len(grads) == 1 + 2 * (len(sizes) - 1)


def test_training_objective_gradients(engine, rng):
    """The whole training objective L(params) = CE(MLP(x), y): every parameter against central differences."""
    loss = SoftmaxCrossEntropy(engine)
    x, y = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)

    class Objective(MLP):
        def forward(self, x):
            return loss(super().forward(x), y)

    grads = check_module(Objective([3, 4, 3], "sigmoid", engine, rng=2), x)
    assert len(grads) == 5


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


def test_mlp_wrong_feature_count_names_the_linear_layer(engine):
    model = MLP([4, 3, 2], "relu", engine)
    with pytest.raises(ValueError, match=r"Linear\(in_features=4, out_features=3\): expected input of shape "
                                         r"\(batch, 4\), got shape \(2, 5\)"):
        model(np.zeros((2, 5)))
    assert engine.operation_list == []


def test_sequential_refuses_what_is_not_a_layer(engine):
    with pytest.raises(TypeError, match="Sequential: layer 1 is a function, not a Module"):
        Sequential(Linear(2, 2, engine), lambda x: x)


def test_parameters_are_listed_in_order_and_once(engine, rng):
    shared = Linear(3, 3, engine, rng=3)
    model = Sequential(shared, Tanh(engine), shared, Linear(3, 2, engine, rng=4))
    names = [name for name, _, _ in model.named_parameters()]
    assert names == ["layers.0.W", "layers.0.b", "layers.3.W", "layers.3.b"]
    assert model.parameters()[0][0] is shared.W and model.parameters()[0][1] is shared.dW
    # the shared layer's gradient is the sum over both of its uses
    check_module(model, rng.standard_normal((2, 3)))


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


def test_sgd_step_is_p_minus_lr_g_with_weight_decay():
    """p' = p - lr (g + wd p) = [1, -2] - 0.1 ([0.5, 0.5] + 0.01 [1, -2]) = [0.949, -2.048]."""
    pairs = one_parameter([1.0, -2.0], [0.5, 0.5])
    param = pairs[0][0]
    SGD(pairs, lr=0.1, weight_decay=0.01).step()
    np.testing.assert_allclose(param, [0.949, -2.048], rtol=1e-12)
    assert pairs[0][0] is param  # updated in place


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


def test_adam_first_step_moves_each_entry_by_lr_against_its_gradient():
    """t = 1: m_hat = g, v_hat = g^2, so p' = p - lr g / (|g| + eps), i.e. about lr in size, whatever |g| is."""
    pairs = one_parameter([0.0, 0.0, 0.0], [1e-3, -50.0, 2.0])
    Adam(pairs, lr=0.01).step()
    g = np.array([1e-3, -50.0, 2.0])
    np.testing.assert_allclose(pairs[0][0], -0.01 * g / (np.abs(g) + 1e-8), rtol=1e-12)


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


def test_zero_grad_zeroes_in_place():
    pairs = one_parameter([1.0, 2.0], [3.0, 4.0])
    grad = pairs[0][1]
    SGD(pairs).zero_grad()
    assert pairs[0][1] is grad and not grad.any()


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


# ---------------------------------------------------------------- the digits example

def load_example():
    path = Path(__file__).resolve().parent.parent / "examples" / "train_digits.py"
    spec = importlib.util.spec_from_file_location("train_digits", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def synthetic_digits(rng, classes=10, features=64, per_class=40, noise=1.0):
    """Ten noisy prototypes in 64 dimensions: a stand-in for the digits that needs no scikit-learn."""
    prototypes = rng.standard_normal((classes, features))
    labels = np.repeat(np.arange(classes), per_class)
    X = prototypes[labels] + noise * rng.standard_normal((labels.size, features))
    order = rng.permutation(labels.size)
    return X[order], labels[order]


def test_example_training_function_learns_synthetic_data():
    example = load_example()
    rng = np.random.default_rng(0)
    X, y = synthetic_digits(rng)
    split = 300
    stream = io.StringIO()
    model, history = example.train(X[:split], y[:split], X[split:], y[split:], hidden=(32,), epochs=5,
                                   batch_size=32, lr=3e-3, stream=stream)
    assert history.test_accuracy[-1] >= 0.8  # chance is 0.1
    assert history.loss[-1] < history.loss[0]
    lines = stream.getvalue().splitlines()  # not a terminal: one progress line per epoch
    assert len(lines) == 5 and lines[-1].startswith("epoch 5/5 [") and "loss" in lines[-1]
    assert example.accuracy(model, X[split:], y[split:]) == history.test_accuracy[-1]
    assert Autograd._live is None or Autograd._live() is None  # the example closed its engine


def test_example_reaches_96_percent_on_the_digits():
    pytest.importorskip("sklearn")
    example = load_example()
    X_train, X_test, y_train, y_test = example.load_digits_split(seed=0)
    _, history = example.train(X_train, y_train, X_test, y_test, stream=None)
    assert history.test_accuracy[-1] >= 0.96


def test_example_explains_how_to_install_scikit_learn(monkeypatch, capsys):
    for name in ["sklearn"] + [name for name in sys.modules if name.startswith("sklearn.")]:
        monkeypatch.setitem(sys.modules, name, None)  # importing it now raises ImportError
    assert load_example().main(["--no-plot"]) == 1
    err = capsys.readouterr().err
    assert "pip install scikit-learn" in err and 'pip install ".[demo]"' in err


def test_example_saves_a_plot(tmp_path):
    pytest.importorskip("matplotlib")
    example = load_example()
    history = example.History(loss=[1.0, 0.5], train_accuracy=[0.5, 0.9], test_accuracy=[0.4, 0.8])
    path = tmp_path / "curves.png"
    assert example.save_plot(history, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- the CNN and GRU digits examples

def load_network_example(name):
    examples = Path(__file__).resolve().parent.parent / "examples"
    sys.path.insert(0, str(examples))  # they import the MLP example's helpers
    try:
        spec = importlib.util.spec_from_file_location(name, examples / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(examples))
    return module


def synthetic_images(rng, classes=10, per_class=60, size=8, noise=0.5):
    """Ten random 8x8 prototype images (blurred, as strokes are), each seen with pixel noise and a
    shift of up to one pixel: a stand-in for the digits that needs no scikit-learn."""
    prototypes = rng.standard_normal((classes, size + 2, size + 2))
    prototypes = (prototypes + np.roll(prototypes, 1, axis=1) + np.roll(prototypes, 1, axis=2)) / 3
    labels = np.repeat(np.arange(classes), per_class)
    shifts = rng.integers(0, 3, size=(labels.size, 2))
    images = np.stack([prototypes[k, i:i + size, j:j + size] for k, (i, j) in zip(labels, shifts)])
    images += noise * rng.standard_normal(images.shape)
    order = rng.permutation(labels.size)
    return images[order], labels[order]


@pytest.mark.parametrize("name", ["train_cnn_digits", "train_gru_digits"])
def test_network_example_quick_mode_lowers_the_loss_on_synthetic_images(name):
    """The examples' own training code in quick mode, on images the test makes (no scikit-learn needed)."""
    example = load_network_example(name)
    X, y = synthetic_images(np.random.default_rng(1))
    if name == "train_cnn_digits":
        X = X[:, np.newaxis]  # (n, 1, 8, 8) images; the GRU reads (n, 8, 8) as 8 rows
    split, stream = 480, io.StringIO()
    model, history = example.train(X[:split], y[:split], X[split:], y[split:], epochs=example.QUICK_EPOCHS,
                                   stream=stream)
    assert len(history.loss) == example.QUICK_EPOCHS == 3
    assert history.loss[-1] < 0.8 * history.loss[0]  # about 2.2 (= ln 10, chance) down to 0.7 to 1.4
    assert history.test_accuracy[-1] > 0.3  # chance is 0.1; 0.7 to 0.75 after 3 epochs
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and lines[-1].startswith("epoch 3/3 [") and "test accuracy" in lines[-1]
    assert Autograd._live is None or Autograd._live() is None  # the example closed its engine


@pytest.mark.parametrize("name, target", [("train_cnn_digits", 0.985), ("train_gru_digits", 0.95)])
def test_network_example_reaches_its_accuracy_on_the_digits(name, target, capsys):
    """The full runs documented in the README (a few seconds each); the quick mode through main()."""
    pytest.importorskip("sklearn")
    example = load_network_example(name)
    assert example.main(["--quick", "--no-plot"]) == 0
    assert "final test accuracy" in capsys.readouterr().out
    X_train, X_test, y_train, y_test = example.load_digit_images(seed=0)
    if name == "train_gru_digits":
        X_train, X_test = X_train[:, 0], X_test[:, 0]
    _, history = example.train(X_train, y_train, X_test, y_test, stream=None)
    assert history.test_accuracy[-1] >= target
    assert history.loss[-1] < history.loss[0]


@pytest.mark.parametrize("name", ["train_cnn_digits", "train_gru_digits"])
def test_network_examples_explain_how_to_install_scikit_learn(monkeypatch, capsys, name):
    example = load_network_example(name)
    for module in ["sklearn"] + [module for module in sys.modules if module.startswith("sklearn.")]:
        monkeypatch.setitem(sys.modules, module, None)
    assert example.main(["--quick", "--no-plot"]) == 1
    assert "pip install scikit-learn" in capsys.readouterr().err


def test_row_reader_names_itself_and_the_expected_shape_on_bad_input(engine):
    example = load_network_example("train_gru_digits")
    model = example.RowReader(8, 4, 10, engine, rng=0)
    with pytest.raises(ValueError, match=r"RowReader\(width=8, hidden=4, classes=10\): expected images of shape "
                                         r"\(N, rows, 8\), got shape \(2, 8, 7\)"):
        model(np.zeros((2, 8, 7)))
