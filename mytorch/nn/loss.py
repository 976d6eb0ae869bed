"""Loss functions: ``loss(prediction, target)`` returns the scalar loss, ``loss.backward()`` differentiates it.

Each loss records its computation on the tape like any layer, keeps the
recorded 0-d output as ``loss_value`` and starts the engine's backward from
it with dL/dL = 1. Shapes are checked before anything is recorded:
mismatched batch sizes, wrong class counts and out-of-range labels raise a
ValueError naming the loss and both shapes.

``reduction`` is ``"mean"`` (the default, as in PyTorch) or ``"sum"``.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

import mytorch.nn.functional as F
from mytorch.autograd_engine import Autograd, current_engine
from mytorch.nn.module import Module

_REDUCTIONS = ("mean", "sum")


class Loss(Module):
    """Base class: ``forward`` returns the recorded scalar, ``backward()`` backpropagates it."""

    def __init__(self, autograd_engine: Autograd, reduction: str = "mean") -> None:
        super().__init__(autograd_engine)
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        self.loss_value: Optional[np.ndarray] = None

    def _reduce(self, per_element: np.ndarray) -> np.ndarray:
        self.loss_value = F.mean(per_element) if self.reduction == "mean" else F.sum(per_element)
        return self.loss_value

    def backward(self) -> None:
        """Run the engine's backward from the last loss value with divergence dL/dL = 1.

        Parameter gradients land in the layers' ``d`` arrays; input gradients in
        the engine's memory buffer.
        """
        if self.loss_value is None:
            raise RuntimeError(f"{self.short_name()}.backward: call the loss on a prediction and a target first")
        if self.autograd_engine is not current_engine():
            raise RuntimeError(f"{self.short_name()}.backward: this loss was built with an engine that is not "
                               "the live one (it was closed, or None); build the loss with the live engine")
        # BEGIN SOLUTION losses
        self.autograd_engine.backward(1.0, output=self.loss_value)
        # END SOLUTION

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


def _same_shape(loss: Loss, prediction: Any, target: Any) -> None:
    if np.shape(prediction) != np.shape(target):
        raise ValueError(f"{loss.short_name()}: prediction of shape {np.shape(prediction)} and target of shape "
                         f"{np.shape(target)}; expected equal shapes")


class _LazyName:
    """A loss's ``short_name()``, formatted only when an error message needs it (the checks run every step)."""

    def __init__(self, loss: Loss) -> None:
        self.loss = loss

    def __format__(self, spec: str) -> str:
        return format(self.loss.short_name(), spec)


def _check_logits_and_labels(loss: Loss, scores: Any, target: Any, what: str,
                             allow_probabilities: bool) -> None:
    """scores (batch, C); target integer labels (batch,) in 0..C-1, or (batch, C) rows if allowed."""
    shape, target_shape = np.shape(scores), np.shape(target)
    name = _LazyName(loss)
    if len(shape) != 2:
        swapped = F._is_labels(np.asarray(scores)) and len(np.shape(target)) == 2
        hint = ": integer labels came first; the arguments are (prediction, target), as in PyTorch" if swapped else ""
        raise ValueError(f"{name}: expected {what} of shape (batch, classes), got shape {shape}{hint}")
    batch, classes = shape
    target = np.asarray(target)
    if F._is_labels(target):
        if target_shape != (batch,):
            raise ValueError(f"{name}: {what} of shape {shape} needs integer labels of shape ({batch},), "
                             f"got labels of shape {target_shape}")
        if F._labels_out_of_range(target, classes):
            bad = target[(target < 0) | (target >= classes)][0]
            raise ValueError(f"{name}: label {bad} is out of range for {what} of shape {shape}: "
                             f"expected labels in 0..{classes - 1}")
    elif not allow_probabilities:
        raise ValueError(f"{name}: expected integer class labels of shape ({batch},), got an array of "
                         f"dtype {target.dtype} and shape {target_shape} (convert with .astype(int))")
    elif target_shape != shape:
        hint = " (integer labels must have an integer dtype: .astype(int))" if target_shape == (batch,) else ""
        raise ValueError(f"{name}: {what} of shape {shape} needs a one-hot target of shape {shape} or "
                         f"integer labels of shape ({batch},), got a target of shape {target_shape}{hint}")


class MSELoss(Loss):
    """L = mean over all elements of (y - t)^2 (``sum`` with reduction="sum").

    dL/dy = 2 (y - t) / n, n = number of elements. Shapes: prediction y and target t equal.
    """

    def forward(self, prediction: Any, target: Any) -> np.ndarray:
        _same_shape(self, prediction, target)
        # BEGIN SOLUTION losses
        # PROMPT: self._reduce(per_element) applies the reduction and keeps the result as self.loss_value
        return self._reduce(F.pow(F.sub(prediction, target), 2))
        # END SOLUTION


class SoftmaxCrossEntropy(Loss):
    """L = mean over the batch of -sum_c t_c log softmax(z)_c.

    z: logits (batch, C). t: integer labels (batch,) in 0..C-1 (one-hot rows
    are built from them), or one-hot / probability rows (batch, C).
    dL/dz = (softmax(z) - t) / batch. The fused primitive uses
    log softmax(z) = z - max(z) - log sum e^{z - max(z)}, so large logits
    neither overflow nor take log(0).
    """

    def forward(self, logits: Any, target: Any) -> np.ndarray:
        ndim = logits.ndim if type(logits) is np.ndarray else np.ndim(logits)  # (np.ndim is a Python function)
        if ndim != 2:  # the helper takes (batch..., C); this layer only (batch, C)
            _check_logits_and_labels(self, logits, target, "logits", allow_probabilities=True)
        try:
            # BEGIN SOLUTION losses
            # PROMPT: F.softmax_cross_entropy reduces by itself: keep its output as self.loss_value
            self.loss_value = F.softmax_cross_entropy(logits, target, reduction=self.reduction)
            return self.loss_value
            # END SOLUTION
        except ValueError:
            # The helper checks the labels and shapes (before recording anything) on every call;
            # for 2-D logits its checks and this layer's are the same, so this layer's run only
            # when the helper's fail, to give the message that names the layer. The checks then
            # cost one pass per step instead of two.
            _check_logits_and_labels(self, logits, target, "logits", allow_probabilities=True)
            raise


class NLLLoss(Loss):
    """L = mean over the batch of -logp[i, t_i]: the negative log-likelihood of the labels.

    logp: log-probabilities (batch, C), e.g. a ``LogSoftmax`` output; t:
    integer labels (batch,) in 0..C-1. dL/dlogp[i, c] = -1/batch where c = t_i, else 0.
    """

    def forward(self, log_probs: Any, target: Any) -> np.ndarray:
        _check_logits_and_labels(self, log_probs, target, "log-probabilities", allow_probabilities=False)
        # BEGIN SOLUTION losses
        rows = np.arange(np.shape(log_probs)[0])
        return self._reduce(F.neg(F.getitem(log_probs, (rows, np.asarray(target)))))
        # END SOLUTION


class BCELoss(Loss):
    """L = mean of -[t log p + (1 - t) log(1 - p)] over all elements.

    p: probabilities in [0, 1] (e.g. a ``Sigmoid`` output), t: targets in [0, 1], same shape.
    dL/dp = (p - t) / (p (1 - p)) / n. As in PyTorch, each log is clamped at -100, so
    p = 0 or 1 gives a finite loss (the clamped terms get zero gradient):
    log p is computed as log(max(p, e^-100)). Prefer ``BCEWithLogitsLoss``
    on raw scores: it is exact where the sigmoid saturates.
    """

    LOG_FLOOR = -100.0

    def forward(self, probabilities: Any, target: Any) -> np.ndarray:
        _same_shape(self, probabilities, target)
        p = np.asarray(probabilities)
        if p.size and (np.min(p) < 0 or np.max(p) > 1 or np.isnan(p).any()):
            raise ValueError(f"{self.short_name()}: expected probabilities in [0, 1] (a Sigmoid output), got "
                             f"values in [{np.min(p):.4g}, {np.max(p):.4g}]; use BCEWithLogitsLoss on raw scores")
        # BEGIN SOLUTION losses
        floor = np.exp(self.LOG_FLOOR)
        log_p = F.log(F.maximum(probabilities, floor))
        log_not_p = F.log(F.maximum(F.sub(1.0, probabilities), floor))
        per_element = F.neg(F.add(F.mul(target, log_p), F.mul(F.sub(1.0, target), log_not_p)))
        return self._reduce(per_element)
        # END SOLUTION


class BCEWithLogitsLoss(Loss):
    """L = mean of -[t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))] over all elements.

    x: raw scores (logits), t: targets in [0, 1], same shape. dL/dx = (sigmoid(x) - t) / n.
    Computed as a two-class softmax cross-entropy with logits (0, x) and
    target rows (1 - t, t): softmax((0, x))_2 = e^x / (1 + e^x) = sigmoid(x), and the
    log-sum-exp inside is log(1 + e^x) evaluated without overflow, with no
    kink at x = 0 (unlike max(x, 0) - x t + log(1 + e^-|x|), whose pieces
    have subgradients at 0 that do not add up to sigmoid(0) - t).
    """

    def forward(self, logits: Any, target: Any) -> np.ndarray:
        _same_shape(self, logits, target)
        # BEGIN SOLUTION losses
        two_class_logits = F.stack([np.zeros(np.shape(logits)), logits], axis=-1)
        two_class_target = F.stack([F.sub(1.0, target), target], axis=-1)
        self.loss_value = F.softmax_cross_entropy(two_class_logits, two_class_target, reduction=self.reduction)
        return self.loss_value
        # END SOLUTION


__all__ = ["Loss", "MSELoss", "SoftmaxCrossEntropy", "NLLLoss", "BCELoss", "BCEWithLogitsLoss"]
