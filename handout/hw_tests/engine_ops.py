"""Primitives for the tests of tasks 1 and 2, with backward functions written here.

The engine's tests record through these rather than ``mytorch.nn.functional``: the
functional helpers' backward functions are tasks 3 to 7, and a test of task 2 must
pass as soon as tasks 1 and 2 are done. Each helper computes its forward with NumPy
and records it on the live engine exactly as a functional helper does (same
``add_operation`` call, same keyword params), so the engine cannot tell them apart.
The backward functions are plain, written for clarity, and not the library's.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from mytorch.autograd_engine import current_engine, is_recording
from mytorch.utils import unbroadcast


def _record(output: Any, backward: Any, inputs: Sequence[Any], gradients_to_update: Optional[list] = None,
            **params: Any) -> np.ndarray:
    output = np.asarray(output)
    if is_recording():
        targets = [None] * len(inputs) if gradients_to_update is None else gradients_to_update
        current_engine().add_operation(inputs, output, targets, backward, **params)
    return output


def _reduced(gradient: Any, like: Any) -> np.ndarray:
    """``gradient`` summed back to the shape of the (possibly broadcast) input ``like``."""
    return unbroadcast(np.asarray(gradient), np.shape(like))


# Each backward is named as the library's counterpart is, so the engine's messages read the same.

def add_backward(grad_output, a, b):
    return _reduced(grad_output, a), _reduced(grad_output, b)


def sub_backward(grad_output, a, b):
    return _reduced(grad_output, a), _reduced(-grad_output, b)


def mul_backward(grad_output, a, b):
    return _reduced(b * grad_output, a), _reduced(a * grad_output, b)


def square_backward(grad_output, a):
    return grad_output * (a + a)


def sin_backward(grad_output, a):
    return np.cos(a) * grad_output


def tanh_backward(grad_output, a):
    return (1.0 - np.tanh(a) ** 2) * grad_output


def identity_backward(grad_output, a):
    return grad_output.copy()


def sum_backward(grad_output, a):
    return np.ones(np.shape(a)) * grad_output


def matmul_backward(grad_output, a, b):
    """2-D only: dL/da = G b^T, dL/db = a^T G."""
    return np.dot(grad_output, np.transpose(b)), np.dot(np.transpose(a), grad_output)


def concatenate_backward(grad_output, *parts, axis=0):
    edges = np.cumsum([np.shape(p)[axis] for p in parts])[:-1]
    return tuple(np.split(grad_output, edges, axis=axis))


def stack_backward(grad_output, *parts, axis=0):
    return tuple(np.take(grad_output, k, axis=axis) for k in range(len(parts)))


def add(a, b, gradients_to_update=None):
    return _record(np.add(a, b), add_backward, [a, b], gradients_to_update)


def sub(a, b, gradients_to_update=None):
    return _record(np.subtract(a, b), sub_backward, [a, b], gradients_to_update)


def mul(a, b, gradients_to_update=None):
    return _record(np.multiply(a, b), mul_backward, [a, b], gradients_to_update)


def square(a, gradients_to_update=None):
    return _record(np.multiply(a, a), square_backward, [a], gradients_to_update)


def sin(a, gradients_to_update=None):
    return _record(np.sin(a), sin_backward, [a], gradients_to_update)


def tanh(a, gradients_to_update=None):
    return _record(np.tanh(a), tanh_backward, [a], gradients_to_update)


def identity(a, gradients_to_update=None):
    return _record(np.array(a, copy=True), identity_backward, [a], gradients_to_update)


def sum(a, gradients_to_update=None):  # noqa: A001 (named as the library's helper)
    return _record(np.sum(a), sum_backward, [a], gradients_to_update)


def matmul(a, b, gradients_to_update=None):
    return _record(np.dot(a, b), matmul_backward, [a, b], gradients_to_update)


def concatenate(parts, axis=0):
    return _record(np.concatenate(parts, axis=axis), concatenate_backward, list(parts), axis=axis)


def stack(parts, axis=0):
    return _record(np.stack(parts, axis=axis), stack_backward, list(parts), axis=axis)
