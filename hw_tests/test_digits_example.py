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
