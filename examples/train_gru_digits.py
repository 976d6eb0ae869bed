"""Train a GRU on handwritten digits read row by row, with MyTorch.

The classic pixel-rows sequence task: each 8x8 digit is a sequence of 8 steps,
step t being the 8 pixels of row t. A GRU reads the rows top to bottom and a
Linear layer classifies its last hidden state, so the recurrent layers are
trained end to end (backpropagation through time) on real data.

The data: scikit-learn's copy of the UCI digits with the split of
``train_digits.py`` (20% held out, stratified, fixed seed); pixels scaled to
[0, 1] and centred with the training set's mean pixel value.

The model: GRU(8, 64) -> last hidden state -> Linear(64, 10), softmax
cross-entropy, Adam, mini-batches of 32, with the progress bar and the loss
and accuracy curves of the MLP example.

Run:
    pip install scikit-learn matplotlib          # or: pip install ".[demo]"
    python examples/train_gru_digits.py          # --help for the options
    python examples/train_gru_digits.py --quick  # 3 epochs, what CI runs
"""

from __future__ import annotations

import os

# The products are small (a batch of 32 rows): one BLAS thread runs them faster than several.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Optional, Sequence, TextIO  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))         # the other examples' helpers

import mytorch.nn.functional as F  # noqa: E402
from mytorch import Autograd, constant  # noqa: E402
from mytorch.nn import GRU, Linear, Module  # noqa: E402
from mytorch.nn.module import Seed  # noqa: E402
from train_cnn_digits import QUICK_EPOCHS, fit, load_digit_images  # noqa: E402
from train_digits import explain_missing_sklearn, save_plot  # noqa: E402


class RowReader(Module):
    """Images (N, H, W) read as H steps of W features: GRU(W, hidden) -> last hidden state -> Linear(hidden, classes).

    The GRU takes (seq_len, batch, features), so the image's row axis becomes the first axis.
    """

    def __init__(self, width: int, hidden: int, classes: int, engine: Autograd, num_layers: int = 1,
                 rng: Seed = None) -> None:
        super().__init__(engine)
        self.gru = GRU(width, hidden, engine, num_layers=num_layers, rng=rng)
        self.head = Linear(hidden, classes, engine, rng=rng)

    def forward(self, images: Any) -> np.ndarray:
        if np.ndim(images) != 3 or np.shape(images)[2] != self.gru.input_size:
            raise ValueError(f"{self.short_name()}: expected images of shape (N, rows, {self.gru.input_size}), "
                             f"got shape {np.shape(images)}")
        if isinstance(images, np.ndarray):
            sequence = F.transpose(images, axes=(1, 0, 2))      # (rows, N, W): row t is step t
        else:  # data (a constant): no gradient flows back to it, so reorder it without recording
            sequence = constant(np.asarray(images).transpose(1, 0, 2))
        _, last = self.gru(sequence)                            # last: (num_layers, N, hidden)
        return self.head(F.getitem(last, -1))                   # the top layer's state after the last row

    def extra_repr(self) -> str:
        return f"width={self.gru.input_size}, hidden={self.gru.hidden_size}, classes={self.head.out_features}"


def train(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
          hidden: int = 64, epochs: int = 30, batch_size: int = 32, lr: float = 3e-3, seed: int = 0,
          stream: Optional[TextIO] = sys.stdout) -> tuple:
    """Train the row-reading GRU on images (n, H, W); returns (model, History)."""
    classes = int(max(y_train.max(), y_test.max())) + 1
    width = X_train.shape[-1]
    return fit(lambda engine, rng: RowReader(width, hidden, classes, engine, rng=rng), X_train, y_train, X_test,
               y_test, epochs, batch_size, lr, seed, stream)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EPOCHS} epochs only (a smoke test)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam's learning rate")
    parser.add_argument("--hidden", type=int, default=64, help="the GRU's hidden size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default="gru_digits_training.png", help="where to save the curves (PNG)")
    parser.add_argument("--no-plot", action="store_true", help="do not save the curves")
    args = parser.parse_args(argv)

    try:
        X_train, X_test, y_train, y_test = load_digit_images(seed=args.seed)
    except ImportError as error:
        explain_missing_sklearn(error)
        return 1
    X_train, X_test = X_train[:, 0], X_test[:, 0]  # (n, 8, 8): 8 rows of 8 pixels
    print(f"digits: {len(X_train)} training and {len(X_test)} test images, read as 8 rows of 8 pixels")
    epochs = QUICK_EPOCHS if args.quick else args.epochs
    model, history = train(X_train, y_train, X_test, y_test, hidden=args.hidden, epochs=epochs,
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
