"""Gradient storage for the autograd engine.

The 11-785 handout keyed gradients by an array's data pointer. Two arrays can
share a data pointer (``W`` and its view ``W.T``, ``x`` and ``x.reshape(...)``),
and a freed temporary's address is soon reused, so pointer keys mix up
gradients. ``MemoryBuffer`` keys by object identity (``id``) instead and keeps
a reference to every array it holds a gradient for: a keyed array cannot be
freed, so its id cannot be reused while the entry exists, and every view gets
a gradient of its own.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np


class GradientNotFoundError(KeyError):
    """Raised by ``MemoryBuffer.get_param`` for an array with no stored gradient."""

    def __str__(self) -> str:  # KeyError would print the message inside quotes
        return str(self.args[0])


def describe(array: object) -> str:
    """Short description of an array for error messages: shape and dtype."""
    if isinstance(array, np.ndarray):
        return f"array of shape {array.shape} and dtype {array.dtype}"
    return f"{type(array).__name__} {array!r}"


class MemoryBuffer:
    """Maps arrays (by identity) to the gradient of the loss with respect to them.

    ``memory`` maps ``id(array)`` to the gradient, an array of the same shape (or None for a
    spot no gradient has reached yet: ``get_param`` reads it as zeros).
    ``_arrays`` keeps each keyed array alive (see the module docstring).
    """

    def __init__(self) -> None:
        self.memory: dict[int, Optional[np.ndarray]] = {}
        self._arrays: dict[int, np.ndarray] = {}

    @staticmethod
    def get_memory_loc(np_array: np.ndarray) -> int:
        """The key under which ``np_array``'s gradient is stored: its identity."""
        return id(np_array)

    def is_in_memory(self, np_array: np.ndarray) -> bool:
        """Whether a gradient slot exists for this very array object."""
        raise NotImplementedError("Task 1: Memory buffer — see Task 1 in README.md")

    def add_spot(self, np_array: np.ndarray) -> None:
        """Make a spot for ``np_array``'s gradient, zero until one arrives, unless it already has one.

        (The reference stores None in the spot and makes the zeros only if ``get_param`` asks for
        them before a gradient arrives: the engine adds a spot for every input it records.)
        """
        raise NotImplementedError("Task 1: Memory buffer — see Task 1 in README.md")

    def update_param(self, np_array: np.ndarray, gradient: np.ndarray) -> None:
        """Accumulate: gradient(np_array) += gradient (an array with no spot yet gets one)."""
        _check_shape("update_param", np_array, gradient)
        raise NotImplementedError("Task 1: Memory buffer — see Task 1 in README.md")

    def set_param(self, np_array: np.ndarray, gradient: np.ndarray) -> None:
        """Overwrite the gradient of ``np_array`` with a copy of ``gradient``."""
        _check_shape("set_param", np_array, gradient)
        raise NotImplementedError("Task 1: Memory buffer — see Task 1 in README.md")

    def get_param(self, np_array: np.ndarray) -> np.ndarray:
        """The stored gradient of ``np_array`` (the buffer's own array, not a copy)."""
        # for an array with no spot, raise GradientNotFoundError (above) with a message that says why;
        # a spot no gradient has reached yet reads as zeros of the array's shape
        raise NotImplementedError("Task 1: Memory buffer — see Task 1 in README.md")

    def has_gradient(self, np_array: np.ndarray) -> bool:
        """Whether a gradient has reached ``np_array`` (a spot still waiting for one has none)."""
        return self.memory.get(id(np_array)) is not None

    def clear(self) -> None:
        """Forget every gradient and release every array."""
        raise NotImplementedError("Task 1: Memory buffer — see Task 1 in README.md")

    def __len__(self) -> int:
        return len(self.memory)


def float_dtype(np_array: object) -> np.dtype:
    """The dtype of a gradient for ``np_array``: its own if floating, else float64."""
    dtype = np_array.dtype if isinstance(np_array, np.ndarray) else np.asarray(np_array).dtype
    return dtype if dtype.kind in "fc" else np.dtype(np.float64)


def _private_copy(gradient: Any, np_array: object) -> np.ndarray:
    """A new gradient array the buffer owns, in a floating dtype wide enough for both arguments."""
    dtype = float_dtype(np_array)
    if isinstance(gradient, np.ndarray) and gradient.dtype == dtype:
        return gradient.copy()
    return np.array(gradient, dtype=np.result_type(gradient, dtype))


def _check_shape(method: str, np_array: object, gradient: np.ndarray) -> None:
    if np.shape(gradient) != np.shape(np_array):
        raise ValueError(
            f"MemoryBuffer.{method}: gradient of shape {np.shape(gradient)} does not match "
            f"the {describe(np_array)}; a gradient always has its array's shape."
        )


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Reduce a gradient computed for a broadcast result back to ``shape``.

    Broadcasting copies an input along new leading axes and along its size-1
    axes, so the gradient sums over exactly those axes. A shape that does not
    broadcast to ``grad.shape`` is an error (never a silent reshape).
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra == 1 and grad.shape[1:] == shape:  # the common case: a bias added to every row
        return np.add.reduce(grad, axis=0)  # grad.sum(axis=0) without ndarray.sum's Python wrapper
    if extra < 0 or any(n not in (1, m) for n, m in zip(shape, grad.shape[extra:])):
        raise ValueError(f"unbroadcast: a gradient of shape {grad.shape} cannot be summed back to shape "
                         f"{tuple(shape)}; that shape does not broadcast to the gradient's.")
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1)
    return grad.sum(axis=axes).reshape(shape) if axes else grad.reshape(shape)
