"""The digits example, examples/train_digits.py: it trains, reaches 96% on the digits, explains a
missing scikit-learn, and saves its plot.

Staff only (the student kit does not ship examples/): see STAFF_TESTS in autograder/handout.py.
"""

import importlib.util
import io
import sys
from pathlib import Path

import numpy as np
import pytest

from mytorch import Autograd

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
