"""Train an MLP on handwritten digits with MyTorch, from the data to the test accuracy.

The data: the UCI handwritten digits that ship inside scikit-learn
(``sklearn.datasets.load_digits``): 1797 images of 8x8 pixels with values
0..16, ten classes. 20% are held out for testing (stratified, fixed seed).

The model: 64 -> 128 -> ReLU -> 10 logits, softmax cross-entropy, Adam,
mini-batches of 32, a progress bar with the running loss, and, where
matplotlib is installed, the loss and accuracy curves saved as a PNG.

Run:
    pip install scikit-learn matplotlib       # or: pip install ".[demo]"
    python examples/train_digits.py           # --help for the options
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, TextIO

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from mytorch import Autograd, constant, no_grad  # noqa: E402
from mytorch.nn import MLP, SoftmaxCrossEntropy  # noqa: E402
from mytorch.optim import Adam  # noqa: E402


@dataclass
class History:
    """Per epoch: mean training loss and accuracies; the wall-clock time of the whole run."""

    loss: list = field(default_factory=list)
    train_accuracy: list = field(default_factory=list)
    test_accuracy: list = field(default_factory=list)
    seconds: float = 0.0


def load_digits_split(test_fraction: float = 0.2, seed: int = 0, standardise: bool = True) -> tuple:
    """(X_train, X_test, y_train, y_test): pixels scaled to [0, 1], then standardised with the
    training set's mean and standard deviation (never the test set's). Needs scikit-learn.

    Rows are the 64 pixels of an image, row by row. ``standardise=False`` keeps the pixels
    in [0, 1] (the image examples use one scale for every pixel)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X, y = digits.data / 16.0, digits.target
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_fraction, random_state=seed, stratify=y)
    if not standardise:
        return X_train, X_test, y_train, y_test
    mean, std = X_train.mean(axis=0), X_train.std(axis=0) + 1e-8  # some border pixels are always 0
    return (X_train - mean) / std, (X_test - mean) / std, y_train, y_test


def explain_missing_sklearn(error: ImportError) -> None:
    """What to install when scikit-learn, which brings the digits, is missing (on stderr)."""
    print(f"This example needs scikit-learn for the digits data ({error}). Install it with\n"
          "    pip install scikit-learn\n"
          'or, from the repository root, pip install ".[demo]" (scikit-learn and matplotlib).',
          file=sys.stderr)


def accuracy(model: MLP, X: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows whose largest logit is the label (nothing is recorded)."""
    with no_grad():
        return float(np.mean(model(X).argmax(axis=1) == y))


class ProgressBar:
    """A one-line progress bar on a terminal (redrawn with '\\r'); one line per epoch otherwise."""

    def __init__(self, stream: TextIO, width: int = 24) -> None:
        self.stream, self.width = stream, width
        self.live = hasattr(stream, "isatty") and stream.isatty()

    def _line(self, epoch: int, epochs: int, done: int, total: int, loss: float, extra: str = "") -> str:
        filled = self.width * done // total
        bar = "#" * filled + "-" * (self.width - filled)
        return f"epoch {epoch:>{len(str(epochs))}}/{epochs} [{bar}] {done:>{len(str(total))}}/{total} loss {loss:.4f}{extra}"

    def update(self, epoch: int, epochs: int, done: int, total: int, loss: float) -> None:
        if self.live:
            self.stream.write("\r" + self._line(epoch, epochs, done, total, loss))
            self.stream.flush()

    def end_epoch(self, epoch: int, epochs: int, total: int, loss: float, test_accuracy: float) -> None:
        line = self._line(epoch, epochs, total, total, loss, f"  test accuracy {100 * test_accuracy:.1f}%")
        self.stream.write(("\r" if self.live else "") + line + "\n")
        self.stream.flush()


def train(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
          hidden: Sequence[int] = (128,), epochs: int = 30, batch_size: int = 32, lr: float = 1e-3,
          weight_decay: float = 0.0, seed: int = 0, stream: Optional[TextIO] = sys.stdout) -> tuple:
    """Train an MLP (ReLU hidden layers, logits out) with softmax cross-entropy and Adam.

    Returns (model, History). ``stream=None`` trains silently. Uses its own
    ``Autograd`` engine, closed at the end (the trained model needs no engine
    to predict under ``no_grad()``).
    """
    classes = int(max(y_train.max(), y_test.max())) + 1
    rng = np.random.default_rng(seed)
    history = History()
    bar = ProgressBar(stream) if stream is not None else None
    start = time.perf_counter()
    with Autograd() as engine:
        model = MLP([X_train.shape[1], *hidden, classes], "relu", engine, rng=rng)
        criterion = SoftmaxCrossEntropy(engine)
        optimizer = Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        batches = -(-len(X_train) // batch_size)
        for epoch in range(1, epochs + 1):
            order = rng.permutation(len(X_train))
            running = 0.0
            for b in range(batches):
                rows = order[b * batch_size:(b + 1) * batch_size]
                engine.zero_grad()       # a fresh tape for this step
                optimizer.zero_grad()    # gradients accumulate until zeroed
                loss = criterion(model(constant(X_train[rows])), y_train[rows])  # data: no dL/dx computed
                criterion.backward()
                optimizer.step()
                running += (float(loss) - running) / (b + 1)  # mean of the epoch's batch losses so far
                if bar is not None:
                    bar.update(epoch, epochs, b + 1, batches, running)
            history.loss.append(running)
            history.train_accuracy.append(accuracy(model, X_train, y_train))
            history.test_accuracy.append(accuracy(model, X_test, y_test))
            if bar is not None:
                bar.end_epoch(epoch, epochs, batches, running, history.test_accuracy[-1])
        engine.zero_grad()
    history.seconds = time.perf_counter() - start
    return model, history


def save_plot(history: History, path: str) -> bool:
    """Loss and accuracy per epoch as a PNG; False (and nothing saved) without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    epochs = np.arange(1, len(history.loss) + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, history.loss)
    left.set(xlabel="epoch", ylabel="mean training loss", yscale="log", title="Softmax cross-entropy")
    right.plot(epochs, 100 * np.array(history.train_accuracy), label="train")
    right.plot(epochs, 100 * np.array(history.test_accuracy), label="test")
    right.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    parser.add_argument("--hidden", type=int, nargs="*", default=[128], help="hidden layer sizes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default="digits_training.png", help="where to save the curves (PNG)")
    parser.add_argument("--no-plot", action="store_true", help="do not save the curves")
    args = parser.parse_args(argv)

    try:
        X_train, X_test, y_train, y_test = load_digits_split(seed=args.seed)
    except ImportError as error:
        explain_missing_sklearn(error)
        return 1
    print(f"digits: {len(X_train)} training and {len(X_test)} test images of 8x8 pixels, 10 classes")
    model, history = train(X_train, y_train, X_test, y_test, hidden=args.hidden, epochs=args.epochs,
                           batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    print(model)
    if not args.no_plot:
        if save_plot(history, args.plot):
            print(f"saved the loss and accuracy curves to {args.plot}")
        else:
            print("matplotlib is not installed: no plot (pip install matplotlib)")
    print(f"trained in {history.seconds:.1f} s; final test accuracy: {100 * history.test_accuracy[-1]:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
