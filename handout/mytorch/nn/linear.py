"""The fully connected layer."""

from __future__ import annotations

from typing import Any

import numpy as np

import mytorch.nn.functional as F
from mytorch.autograd_engine import Autograd, Constant
from mytorch.nn.module import Module, Seed, make_rng, uniform_init


_HAS_SHAPE = (np.ndarray, Constant)  # the usual inputs: arrays, and data as constant(x)


class Linear(Module):
    """z = x W^T + b.

    Shapes: x (batch, in_features) -> z (batch, out_features); W (out_features,
    in_features), b (out_features,). Any number of leading axes is allowed in
    place of ``batch`` (x (..., in_features)), as in PyTorch.

    Gradients (filled in place in ``dW`` and ``db`` by the engine's backward):
        dL/dx = dL/dz W,   dL/dW = (dL/dz)^T x,   dL/db = sum over the batch of dL/dz.

    Initialisation, as PyTorch's default: W and b drawn from U(-1/sqrt(in), 1/sqrt(in)).
    ``rng`` (a seed or a ``np.random.Generator``) makes it reproducible.
    ``bias=False`` leaves out b.
    """

    def __init__(self, in_features: int, out_features: int, autograd_engine: Autograd,
                 bias: bool = True, rng: Seed = None) -> None:
        super().__init__(autograd_engine)
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Linear: in_features and out_features must be positive, "
                             f"got {in_features} and {out_features}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        rng = make_rng(rng)
        self.add_parameter("W", uniform_init(rng, (out_features, in_features), in_features))
        self.bias = bias
        if bias:
            self.add_parameter("b", uniform_init(rng, (out_features,), in_features))

    def forward(self, x: Any) -> np.ndarray:
        """z = x W^T + b for x of shape (batch, in_features); returns (batch, out_features)."""
        shape = x.shape if type(x) in _HAS_SHAPE else np.shape(x)  # (np.shape is a Python function)
        if len(shape) < 1 or shape[-1] != self.in_features:
            raise ValueError(f"{self.short_name()}: expected input of shape (batch, {self.in_features}), "
                             f"got shape {shape}")
        raise NotImplementedError("Task 9: Linear layer — see Task 9 in README.md")

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}" + (
            "" if self.bias else ", bias=False")


__all__ = ["Linear"]
