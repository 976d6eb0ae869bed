"""Train a small convolutional network on handwritten digits with MyTorch.

The data: scikit-learn's copy of the UCI digits, 8x8 images, with the split of
``train_digits.py`` (20% held out for testing, stratified, fixed seed); pixels
scaled to [0, 1] and centred with the training set's mean pixel value.

The model: Conv2d(1, 32, 3, padding=1) -> ReLU -> MaxPool2d(2) (4x4) ->
Conv2d(32, 64, 3, padding=1) -> ReLU -> MaxPool2d(2) (2x2) -> Flatten (256) ->
Linear(256, 10), softmax cross-entropy, Adam, mini-batches of 32, with the
progress bar and the loss and accuracy curves of the MLP example.

Run:
    pip install scikit-learn matplotlib          # or: pip install ".[demo]"
    python examples/train_cnn_digits.py          # --help for the options
    python examples/train_cnn_digits.py --quick  # 3 epochs, what CI runs
"""

from __future__ import annotations

import os

# These products are small (at most a few hundred rows): one BLAS thread runs them faster than
# several, which spend more time waking each other than multiplying, above all on a busy machine.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Optional, Sequence, TextIO  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))         # the MLP example's helpers

from mytorch import Autograd, constant, no_grad  # noqa: E402
from mytorch.nn import Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential, SoftmaxCrossEntropy  # noqa: E402
from mytorch.optim import Adam  # noqa: E402
from train_digits import (History, ProgressBar, explain_missing_sklearn, load_digits_split,  # noqa: E402
                          save_plot)

QUICK_EPOCHS = 3


def load_digit_images(seed: int = 0) -> tuple:
    """(X_train, X_test, y_train, y_test) with images (n, 1, 8, 8); needs scikit-learn.

    The split of ``train_digits.py``; pixels in [0, 1] minus the training images' mean pixel.
    """
    X_train, X_test, y_train, y_test = load_digits_split(seed=seed, standardise=False)
    centre = X_train.mean()
    return (X_train - centre).reshape(-1, 1, 8, 8), (X_test - centre).reshape(-1, 1, 8, 8), y_train, y_test


def make_cnn(engine: Autograd, channels: Sequence[int] = (32, 64), classes: int = 10, size: int = 8,
             rng: Optional[np.random.Generator] = None) -> Sequential:
    """Two blocks Conv2d(3x3, padding 1) -> ReLU -> MaxPool2d(2), then Flatten and Linear."""
    layers, previous = [], 1
    for c in channels:
        layers += [Conv2d(previous, c, 3, engine, padding=1, rng=rng), ReLU(engine), MaxPool2d(2, engine)]
        previous, size = c, size // 2
    layers += [Flatten(engine), Linear(previous * size * size, classes, engine, rng=rng)]
    return Sequential(*layers)


def accuracy(model: Module, X: np.ndarray, y: np.ndarray, batch_size: int = 500) -> float:
    """Fraction of inputs whose largest logit is the label (nothing is recorded)."""
    with no_grad():
        predictions = [model(X[i:i + batch_size]).argmax(axis=1) for i in range(0, len(X), batch_size)]
    return float(np.mean(np.concatenate(predictions) == y))


def fit(make_model: Callable[[Autograd, np.random.Generator], Module], X_train: np.ndarray,
        y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, epochs: int, batch_size: int = 32,
        lr: float = 3e-3, seed: int = 0, stream: Optional[TextIO] = sys.stdout) -> tuple:
    """Mini-batch training with softmax cross-entropy and Adam; returns (model, History).

    ``make_model(engine, rng)`` builds the model on the engine this function creates (and
    closes at the end: the trained model predicts under ``no_grad()`` without one).
    The examples on images and on sequences share this loop; the batch is the first axis of X.
    """
    rng = np.random.default_rng(seed)
    history = History()
    bar = ProgressBar(stream) if stream is not None else None
    start = time.perf_counter()
    with Autograd() as engine:
        model = make_model(engine, rng)
        criterion = SoftmaxCrossEntropy(engine)
        optimizer = Adam(model.parameters(), lr=lr)
        batches = -(-len(X_train) // batch_size)
        for epoch in range(1, epochs + 1):
            order = rng.permutation(len(X_train))
            running = 0.0
            for b in range(batches):
                rows = order[b * batch_size:(b + 1) * batch_size]
                engine.zero_grad()
                optimizer.zero_grad()
                loss = criterion(model(constant(X_train[rows])), y_train[rows])  # data: no dL/dx computed
                criterion.backward()
                optimizer.step()
                running += (float(loss) - running) / (b + 1)
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


def train(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
          channels: Sequence[int] = (32, 64), epochs: int = 20, batch_size: int = 32, lr: float = 3e-3,
          seed: int = 0, stream: Optional[TextIO] = sys.stdout) -> tuple:
    """Train the CNN on images (n, 1, H, W), H and W divisible by 4; returns (model, History)."""
    classes = int(max(y_train.max(), y_test.max())) + 1
    size = X_train.shape[-1]
    return fit(lambda engine, rng: make_cnn(engine, channels, classes, size, rng), X_train, y_train, X_test,
               y_test, epochs, batch_size, lr, seed, stream)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EPOCHS} epochs only (a smoke test)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam's learning rate")
    parser.add_argument("--channels", type=int, nargs=2, default=[32, 64], help="channels of the two convolutions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default="cnn_digits_training.png", help="where to save the curves (PNG)")
    parser.add_argument("--no-plot", action="store_true", help="do not save the curves")
    args = parser.parse_args(argv)

    try:
        X_train, X_test, y_train, y_test = load_digit_images(seed=args.seed)
    except ImportError as error:
        explain_missing_sklearn(error)
        return 1
    print(f"digits: {len(X_train)} training and {len(X_test)} test images of 1x8x8 pixels, 10 classes")
    epochs = QUICK_EPOCHS if args.quick else args.epochs
    model, history = train(X_train, y_train, X_test, y_test, channels=args.channels, epochs=epochs,
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
