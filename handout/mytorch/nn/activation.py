"""Activation functions, each a composition of recorded primitives.

All of them are elementwise except ``Softmax`` and ``LogSoftmax`` (along an
axis); none has parameters. Each is stable for large inputs: no overflow, no
``inf - inf``, for inputs of +-1000 and beyond.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import mytorch.nn.functional as F
from mytorch.autograd_engine import Autograd
from mytorch.nn.module import Module


class Identity(Module):
    """y = x (a recorded copy).  dy/dx = 1.  Shapes: any -> same."""

    def __init__(self, autograd_engine: Autograd) -> None:
        super().__init__(autograd_engine)

    def forward(self, x: Any) -> np.ndarray:
        raise NotImplementedError("Task 8: Activations — see Task 8 in README.md")


class Sigmoid(Module):
    """y = 1 / (1 + e^-x).  dy/dx = y (1 - y).  Shapes: any -> same.

    The sigmoid primitive evaluates e^-|x| only, which never overflows.
    """

    def __init__(self, autograd_engine: Autograd) -> None:
        super().__init__(autograd_engine)

    def forward(self, x: Any) -> np.ndarray:
        raise NotImplementedError("Task 8: Activations — see Task 8 in README.md")


class Tanh(Module):
    """y = tanh(x).  dy/dx = 1 - y^2.  Shapes: any -> same."""

    def __init__(self, autograd_engine: Autograd) -> None:
        super().__init__(autograd_engine)

    def forward(self, x: Any) -> np.ndarray:
        raise NotImplementedError("Task 8: Activations — see Task 8 in README.md")


class ReLU(Module):
    """y = max(x, 0).  dy/dx = 1 for x > 0, else 0 (0 at x = 0, as PyTorch).  Shapes: any -> same."""

    def __init__(self, autograd_engine: Autograd) -> None:
        super().__init__(autograd_engine)

    def forward(self, x: Any) -> np.ndarray:
        raise NotImplementedError("Task 8: Activations — see Task 8 in README.md")


class LeakyReLU(Module):
    """y = x for x > 0, slope * x otherwise; written as y = slope x + (1 - slope) max(x, 0).

    dy/dx = 1 for x > 0, slope for x <= 0 (slope at 0, as PyTorch: relu's
    derivative there is 0). Works for any slope. Shapes: any -> same.
    """

    def __init__(self, autograd_engine: Autograd, slope: float = 0.01) -> None:
        super().__init__(autograd_engine)
        self.slope = float(slope)

    def forward(self, x: Any) -> np.ndarray:
        raise NotImplementedError("Task 8: Activations — see Task 8 in README.md")

    def extra_repr(self) -> str:
        return f"slope={self.slope}"


class GELU(Module):
    """GELU with the tanh approximation (PyTorch's ``GELU(approximate='tanh')``):

        y = x/2 (1 + tanh(u)),   u = sqrt(2/pi) (x + 0.044715 x^3),
        dy/dx = (1 + tanh(u))/2 + x/2 (1 - tanh(u)^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2).

    The exact GELU, x Phi(x) = x/2 (1 + erf(x / sqrt 2)), needs erf, which
    NumPy lacks; the approximation differs from it by less than 5e-4.
    Shapes: any -> same. At x = +-1000, u = +-4.5e7: tanh saturates to +-1
    without overflow (x^3 overflows only beyond |x| ~ 1e102).
    """

    def __init__(self, autograd_engine: Autograd) -> None:
        super().__init__(autograd_engine)

    def forward(self, x: Any) -> np.ndarray:
        raise NotImplementedError("Task 8: Activations — see Task 8 in README.md")


class Softmax(Module):
    """y_i = e^{x_i} / sum_j e^{x_j} along ``axis``.

    dL/dx = y * (dL/dy - sum(dL/dy * y, axis)). The primitive subtracts the
    maximum along the axis first, so e^x never overflows. Shapes: any -> same.
    """

    def __init__(self, autograd_engine: Autograd, axis: int = -1) -> None:
        super().__init__(autograd_engine)
        self.axis = int(axis)

    def forward(self, x: Any) -> np.ndarray:
        _check_axis(self, x, self.axis)
        raise NotImplementedError("Task 8: Activations — see Task 8 in README.md")

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class LogSoftmax(Softmax):
    """y_i = x_i - log sum_j e^{x_j} along ``axis`` (log-sum-exp with the maximum subtracted).

    dL/dx = dL/dy - softmax(x) * sum(dL/dy, axis). Shapes: any -> same.
    Followed by ``NLLLoss`` it gives the softmax cross-entropy.
    """

    def forward(self, x: Any) -> np.ndarray:
        _check_axis(self, x, self.axis)
        raise NotImplementedError("Task 8: Activations — see Task 8 in README.md")


def _check_axis(layer: Module, x: Any, axis: int) -> None:
    shape = np.shape(x)
    if not -len(shape) <= axis < len(shape):
        raise ValueError(f"{layer.short_name()}: input of shape {shape} has no axis {axis}; "
                         f"expected an input with at least {axis + 1 if axis >= 0 else -axis} dimensions")


ACTIVATIONS = {"identity": Identity, "sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU,
               "leaky_relu": LeakyReLU, "gelu": GELU, "softmax": Softmax, "log_softmax": LogSoftmax}

__all__ = ["Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "GELU", "Softmax", "LogSoftmax", "ACTIVATIONS"]
