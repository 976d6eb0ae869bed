"""Primitive operations: each recording helper next to its backward function.

A recording helper (``add``, ``matmul``, ...) computes the forward with NumPy,
records it on the live ``Autograd`` engine and returns the output, so layers
read like their equations: ``z = F.add(F.matmul(x, W.T), b)``.

A backward function ``name_backward(grad_output, *inputs, **params)`` is the
vector-Jacobian product of its primitive: given dL/dy (the shape of the output
y) it returns dL/dx for every input x, each with x's shape, in input order
(``None`` where an input is not differentiable). Inputs broadcast as in NumPy;
every backward reduces its gradients with the one shared ``unbroadcast``.

Non-differentiable arguments (axis, shape, indices, an exponent given as a
Python number) are always passed the same way: as keyword arguments of the
helper, recorded as ``params`` of the operation, and passed back to the
backward function as the same keyword arguments.

Every helper also takes ``gradients_to_update``: one entry per array input,
an array that receives that input's gradient in place (a layer's ``dW``) or
``None`` (the gradient stays in the engine's memory buffer).
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np

from mytorch import autograd_engine
from mytorch.autograd_engine import current_engine
from mytorch.utils import float_dtype, unbroadcast

ArrayLike = Any
Targets = Optional[Sequence[Optional[np.ndarray]]]


def _record(output: Any, backward: Any, inputs: Sequence[ArrayLike],
            gradients_to_update: Targets = None, **params: Any) -> np.ndarray:
    """Record ``output`` on the live engine and return it as an ndarray."""
    if type(output) is not np.ndarray:
        output = np.asarray(output)  # NumPy reductions return scalars, not arrays
    if not autograd_engine._recording:
        return output
    if gradients_to_update is None:
        gradients_to_update = [None] * len(inputs)
    live = autograd_engine.Autograd._live  # current_engine(), inlined: this runs for every recorded operation
    engine = live() if live is not None else None
    if engine is None:
        current_engine()  # raises the error that explains how to create an engine
    engine.add_operation(inputs, output, gradients_to_update, backward, **params)
    return output


def _shape_error(op: str, inputs: Sequence[ArrayLike], error: Exception, expected: str = "") -> ValueError:
    shapes = ", ".join(str(np.shape(x)) for x in inputs)
    hint = f"; expected {expected}" if expected else ""
    return ValueError(f"{op}: cannot be applied to inputs of shapes {shapes}{hint} ({error})")


def _binary(op: str, fn: Any, a: ArrayLike, b: ArrayLike) -> np.ndarray:
    try:
        return fn(a, b)
    except ValueError as error:
        raise _shape_error(op, (a, b), error, "shapes that broadcast together") from None


# ---------------------------------------------------------------- elementwise, two inputs

def identity(a: ArrayLike, gradients_to_update: Targets = None) -> np.ndarray:
    """y = a (a copy)."""
    return _record(np.array(a, copy=True), identity_backward, [a], gradients_to_update)


def identity_backward(grad_output: np.ndarray, a: np.ndarray) -> np.ndarray:
    """dL/da = dL/dy.  Shapes: grad_output, a: any (equal)."""
    # BEGIN SOLUTION unary_backward
    return grad_output
    # END SOLUTION


def add(a: ArrayLike, b: ArrayLike, gradients_to_update: Targets = None) -> np.ndarray:
    """y = a + b (broadcasting)."""
    try:  # _binary, inlined: every Linear layer adds its bias
        output = np.add(a, b)
    except ValueError as error:
        raise _shape_error("add", (a, b), error, "shapes that broadcast together") from None
    return _record(output, add_backward, [a, b], gradients_to_update)


def add_backward(grad_output: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple:
    """dL/da = dL/dy, dL/db = dL/dy, each summed back to its input's shape."""
    # BEGIN SOLUTION elementwise_backward
    # PROMPT: sum the gradient back to each input's shape with unbroadcast
    return unbroadcast(grad_output, a.shape), unbroadcast(grad_output, b.shape)
    # END SOLUTION


def sub(a: ArrayLike, b: ArrayLike, gradients_to_update: Targets = None) -> np.ndarray:
    """y = a - b (broadcasting)."""
    return _record(_binary("sub", np.subtract, a, b), sub_backward, [a, b], gradients_to_update)


def sub_backward(grad_output: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple:
    """dL/da = dL/dy, dL/db = -dL/dy, each summed back to its input's shape."""
    # BEGIN SOLUTION elementwise_backward
    return unbroadcast(grad_output, a.shape), unbroadcast(-grad_output, b.shape)
    # END SOLUTION


def mul(a: ArrayLike, b: ArrayLike, gradients_to_update: Targets = None) -> np.ndarray:
    """y = a * b (elementwise, broadcasting)."""
    return _record(_binary("mul", np.multiply, a, b), mul_backward, [a, b], gradients_to_update)


def mul_backward(grad_output: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple:
    """dL/da = dL/dy * b, dL/db = dL/dy * a, each summed back to its input's shape."""
    # BEGIN SOLUTION elementwise_backward
    return unbroadcast(grad_output * b, a.shape), unbroadcast(grad_output * a, b.shape)
    # END SOLUTION


def div(a: ArrayLike, b: ArrayLike, gradients_to_update: Targets = None) -> np.ndarray:
    """y = a / b (elementwise, broadcasting)."""
    return _record(_binary("div", np.true_divide, a, b), div_backward, [a, b], gradients_to_update)


def div_backward(grad_output: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple:
    """dL/da = dL/dy / b, dL/db = -dL/dy * a / b**2, each summed back to its input's shape."""
    # BEGIN SOLUTION elementwise_backward
    grad_a = grad_output / b
    return unbroadcast(grad_a, a.shape), unbroadcast(-grad_a * a / b, b.shape)
    # END SOLUTION


def pow(a: ArrayLike, b: ArrayLike, gradients_to_update: Targets = None) -> np.ndarray:
    """y = a ** b.

    With ``b`` a Python or NumPy number the exponent is a constant parameter
    (``pow_scalar_backward``); with ``b`` an array (or ``a`` a constant base and
    ``b`` an array) both are inputs (``pow_backward``).
    """
    if isinstance(b, (int, float, np.number)) and not isinstance(b, bool):
        output = np.power(a, b)
        return _record(output, pow_scalar_backward, [a], gradients_to_update, exponent=b)
    return _record(_binary("pow", np.power, a, b), pow_backward, [a, b], gradients_to_update)


def pow_scalar_backward(grad_output: np.ndarray, a: np.ndarray, exponent: float) -> np.ndarray:
    """y = a**p with a constant p: dL/da = dL/dy * p * a**(p-1) (zero for p = 0)."""
    # BEGIN SOLUTION elementwise_backward
    if exponent == 0:
        return np.zeros_like(grad_output * a)
    return grad_output * exponent * np.power(a, exponent - 1)
    # END SOLUTION


def pow_backward(grad_output: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple:
    """y = a**b: dL/da = dL/dy * b * a**(b-1), dL/db = dL/dy * a**b * ln(a).

    At a = 0 with b >= 0 the limit of a**b * ln(a) is 0, so dL/db is 0 there
    (as in PyTorch); for a < 0 it is NaN, as ln(a) is not real. Where b = 0,
    a**0 = 1 does not depend on a, so dL/da is 0 (also at a = 0, where
    b * a**(b-1) would be 0 * inf).
    """
    # BEGIN SOLUTION elementwise_backward
    with np.errstate(divide="ignore", invalid="ignore"):
        grad_a = grad_output * np.where(b == 0, 0.0, b * np.power(a, b - 1.0))
        log_a = np.log(np.where(a == 0, 1.0, a))
        grad_b = grad_output * np.power(a, b) * np.where((a == 0) & (b >= 0), 0.0, log_a)
    return unbroadcast(grad_a, a.shape), unbroadcast(grad_b, np.shape(b))
    # END SOLUTION


def maximum(a: ArrayLike, b: ArrayLike, gradients_to_update: Targets = None) -> np.ndarray:
    """y = max(a, b) elementwise (broadcasting)."""
    return _record(_binary("maximum", np.maximum, a, b), maximum_backward, [a, b], gradients_to_update)


def maximum_backward(grad_output: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple:
    """dL/da = dL/dy where a > b, dL/db = dL/dy where b > a; a tie splits dL/dy in half."""
    # BEGIN SOLUTION elementwise_backward
    share_a = (a > b) + 0.5 * (a == b)
    return unbroadcast(grad_output * share_a, a.shape), unbroadcast(grad_output * (1.0 - share_a), b.shape)
    # END SOLUTION


def minimum(a: ArrayLike, b: ArrayLike, gradients_to_update: Targets = None) -> np.ndarray:
    """y = min(a, b) elementwise (broadcasting)."""
    return _record(_binary("minimum", np.minimum, a, b), minimum_backward, [a, b], gradients_to_update)


def minimum_backward(grad_output: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple:
    """dL/da = dL/dy where a < b, dL/db = dL/dy where b < a; a tie splits dL/dy in half."""
    # BEGIN SOLUTION elementwise_backward
    share_a = (a < b) + 0.5 * (a == b)
    return unbroadcast(grad_output * share_a, a.shape), unbroadcast(grad_output * (1.0 - share_a), b.shape)
    # END SOLUTION


# ---------------------------------------------------------------- elementwise, one input

def neg(a: ArrayLike, gradients_to_update: Targets = None) -> np.ndarray:
    """y = -a."""
    return _record(np.negative(a), neg_backward, [a], gradients_to_update)


def neg_backward(grad_output: np.ndarray, a: np.ndarray) -> np.ndarray:
    """dL/da = -dL/dy."""
    # BEGIN SOLUTION elementwise_backward
    return -grad_output
    # END SOLUTION


def sqrt(a: ArrayLike, gradients_to_update: Targets = None) -> np.ndarray:
    """y = sqrt(a)."""
    return _record(np.sqrt(a), sqrt_backward, [a], gradients_to_update)


def sqrt_backward(grad_output: np.ndarray, a: np.ndarray) -> np.ndarray:
    """dL/da = dL/dy / (2 sqrt(a))."""
    # BEGIN SOLUTION unary_backward
    return grad_output / (2.0 * np.sqrt(a))
    # END SOLUTION


def log(a: ArrayLike, gradients_to_update: Targets = None) -> np.ndarray:
    """y = ln(a)."""
    return _record(np.log(a), log_backward, [a], gradients_to_update)


def log_backward(grad_output: np.ndarray, a: np.ndarray) -> np.ndarray:
    """dL/da = dL/dy / a."""
    # BEGIN SOLUTION unary_backward
    return grad_output / a
    # END SOLUTION


def exp(a: ArrayLike, gradients_to_update: Targets = None) -> np.ndarray:
    """y = e**a."""
    return _record(np.exp(a), exp_backward, [a], gradients_to_update)


def exp_backward(grad_output: np.ndarray, a: np.ndarray) -> np.ndarray:
    """dL/da = dL/dy * e**a."""
    # BEGIN SOLUTION unary_backward
    return grad_output * np.exp(a)
    # END SOLUTION


def sin(a: ArrayLike, gradients_to_update: Targets = None) -> np.ndarray:
    """y = sin(a)."""
    return _record(np.sin(a), sin_backward, [a], gradients_to_update)


def sin_backward(grad_output: np.ndarray, a: np.ndarray) -> np.ndarray:
    """dL/da = dL/dy * cos(a)."""
    # BEGIN SOLUTION unary_backward
    return grad_output * np.cos(a)
    # END SOLUTION


def cos(a: ArrayLike, gradients_to_update: Targets = None) -> np.ndarray:
    """y = cos(a)."""
    return _record(np.cos(a), cos_backward, [a], gradients_to_update)


def cos_backward(grad_output: np.ndarray, a: np.ndarray) -> np.ndarray:
    """dL/da = -dL/dy * sin(a)."""
    # BEGIN SOLUTION unary_backward
    return -grad_output * np.sin(a)
    # END SOLUTION


def tanh(a: ArrayLike, gradients_to_update: Targets = None) -> np.ndarray:
    """y = tanh(a)."""
    return _record(np.tanh(a), tanh_backward, [a], gradients_to_update)


def tanh_backward(grad_output: np.ndarray, a: np.ndarray) -> np.ndarray:
    """dL/da = dL/dy * (1 - tanh(a)**2)."""
    # BEGIN SOLUTION unary_backward
    t = np.tanh(a)
    return grad_output * (1.0 - t * t)
    # END SOLUTION


def stable_sigmoid(a: ArrayLike) -> np.ndarray:
    """1 / (1 + e**-a) without overflow: e**-|a| never exceeds 1."""
    a = np.asarray(a)
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0, e) / (1.0 + e)


def sigmoid(a: ArrayLike, gradients_to_update: Targets = None) -> np.ndarray:
    """y = 1 / (1 + e**-a), computed without overflow."""
    return _record(stable_sigmoid(a), sigmoid_backward, [a], gradients_to_update)


def sigmoid_backward(grad_output: np.ndarray, a: np.ndarray) -> np.ndarray:
    """dL/da = dL/dy * s(a) * (1 - s(a))."""
    # BEGIN SOLUTION unary_backward
    # PROMPT: stable_sigmoid(a) above computes s(a) without overflow
    s = stable_sigmoid(a)
    return grad_output * s * (1.0 - s)
    # END SOLUTION


def relu(a: ArrayLike, gradients_to_update: Targets = None) -> np.ndarray:
    """y = max(a, 0)."""
    return _record(np.maximum(a, 0), relu_backward, [a], gradients_to_update)


def relu_backward(grad_output: np.ndarray, a: np.ndarray) -> np.ndarray:
    """dL/da = dL/dy where a > 0, else 0 (0 at a = 0, as in PyTorch)."""
    # BEGIN SOLUTION unary_backward
    return grad_output * (a > 0)
    # END SOLUTION


def abs(a: ArrayLike, gradients_to_update: Targets = None) -> np.ndarray:
    """y = |a|."""
    return _record(np.abs(a), abs_backward, [a], gradients_to_update)


def abs_backward(grad_output: np.ndarray, a: np.ndarray) -> np.ndarray:
    """dL/da = dL/dy * sign(a) (0 at a = 0)."""
    # BEGIN SOLUTION unary_backward
    return grad_output * np.sign(a)
    # END SOLUTION


# ---------------------------------------------------------------- reductions

def _normalize_axes(axis: Any, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    return tuple(sorted(int(ax) % ndim if ndim else 0 for ax in axes))


def _expand_reduced(grad_output: np.ndarray, a: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    """Give a reduction's gradient back its reduced axes (as size 1)."""
    # BEGIN SOLUTION reduction_shape_backward
    # PROMPT: _normalize_axes(axis, a.ndim) lists the reduced axes, non-negative and sorted
    if keepdims or a.ndim == 0:
        return grad_output
    return np.expand_dims(grad_output, _normalize_axes(axis, a.ndim))
    # END SOLUTION


def _reduce(op: str, fn: Any, a: ArrayLike, axis: Any, keepdims: bool) -> Any:
    try:
        return fn(a, axis=axis, keepdims=keepdims)
    except (ValueError, TypeError) as error:  # AxisError is a ValueError
        raise _shape_error(op, (a,), error, f"an axis within the input's {np.ndim(a)} dimensions") from None


def sum(a: ArrayLike, axis: Any = None, keepdims: bool = False,
        gradients_to_update: Targets = None) -> np.ndarray:
    """y = sum of a over ``axis`` (all axes by default)."""
    output = _reduce("sum", np.sum, a, axis, keepdims)
    return _record(output, sum_backward, [a], gradients_to_update, axis=axis, keepdims=keepdims)


def sum_backward(grad_output: np.ndarray, a: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """dL/da = dL/dy copied along the summed axes.  Shapes: a (...), grad_output a's shape without ``axis``."""
    # BEGIN SOLUTION reduction_shape_backward
    expanded = _expand_reduced(grad_output, a, axis, keepdims)
    return np.array(np.broadcast_to(expanded, a.shape))
    # END SOLUTION


def mean(a: ArrayLike, axis: Any = None, keepdims: bool = False,
         gradients_to_update: Targets = None) -> np.ndarray:
    """y = mean of a over ``axis`` (all axes by default)."""
    output = _reduce("mean", np.mean, a, axis, keepdims)
    return _record(output, mean_backward, [a], gradients_to_update, axis=axis, keepdims=keepdims)


def mean_backward(grad_output: np.ndarray, a: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """dL/da = dL/dy / n copied along the averaged axes, n = number of averaged elements."""
    # BEGIN SOLUTION reduction_shape_backward
    count = np.prod([a.shape[ax] for ax in _normalize_axes(axis, a.ndim)]) if a.ndim else 1
    return sum_backward(grad_output, a, axis, keepdims) / count
    # END SOLUTION


def _extremum_backward(grad_output: np.ndarray, a: np.ndarray, extremum: np.ndarray,
                       axis: Any, keepdims: bool) -> np.ndarray:
    """Route dL/dy to the elements that attain the extremum, shared equally among ties."""
    # BEGIN SOLUTION reduction_shape_backward
    hits = a == extremum
    share = hits / np.sum(hits, axis=axis, keepdims=True)
    return share * _expand_reduced(grad_output, a, axis, keepdims)
    # END SOLUTION


def max(a: ArrayLike, axis: Any = None, keepdims: bool = False,
        gradients_to_update: Targets = None) -> np.ndarray:
    """y = max of a over ``axis`` (all axes by default)."""
    output = _reduce("max", np.max, a, axis, keepdims)
    return _record(output, max_backward, [a], gradients_to_update, axis=axis, keepdims=keepdims)


def max_backward(grad_output: np.ndarray, a: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """dL/da = dL/dy at the maximal elements along ``axis``, 0 elsewhere; k tied maxima get 1/k each."""
    # BEGIN SOLUTION reduction_shape_backward
    return _extremum_backward(grad_output, a, np.max(a, axis=axis, keepdims=True), axis, keepdims)
    # END SOLUTION


def min(a: ArrayLike, axis: Any = None, keepdims: bool = False,
        gradients_to_update: Targets = None) -> np.ndarray:
    """y = min of a over ``axis`` (all axes by default)."""
    output = _reduce("min", np.min, a, axis, keepdims)
    return _record(output, min_backward, [a], gradients_to_update, axis=axis, keepdims=keepdims)


def min_backward(grad_output: np.ndarray, a: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """dL/da = dL/dy at the minimal elements along ``axis``, 0 elsewhere; k tied minima get 1/k each."""
    # BEGIN SOLUTION reduction_shape_backward
    return _extremum_backward(grad_output, a, np.min(a, axis=axis, keepdims=True), axis, keepdims)
    # END SOLUTION


# ---------------------------------------------------------------- linear algebra

def matmul(a: ArrayLike, b: ArrayLike, gradients_to_update: Targets = None) -> np.ndarray:
    """y = a @ b: 2-D, batched (leading axes broadcast) or with a 1-D operand, as ``np.matmul``."""
    constant_lhs = isinstance(b, np.ndarray) and not isinstance(a, np.ndarray)
    if constant_lhs:  # a Constant's array directly: np.asarray would go through its Python __array__
        lhs = a.array if type(a) is autograd_engine.Constant else np.asarray(a)
    else:
        lhs = a
    try:
        output = np.matmul(lhs, b)
    except ValueError as error:
        raise _shape_error("matmul", (a, b), error,
                           "(..., n, k) @ (..., k, m) with matching k and broadcastable batch axes") from None
    if constant_lhs:
        # a is a constant (data): its gradient would be thrown away, so do not compute it
        targets = None if gradients_to_update is None else gradients_to_update[1:]
        return _record(output, matmul_constant_lhs_backward, [b], targets, lhs=lhs)
    return _record(output, matmul_backward, [a, b], gradients_to_update)


def _is_transposed_view(b: np.ndarray) -> bool:
    """Whether b is laid out column by column, as the view W.T that Linear multiplies by.

    Its gradient is then best computed in that same layout, ``(dL/dy^T a)^T``: adding it
    into the matching view dW.T walks both arrays through memory in order. (The same
    holds for a left operand seen transposed, as a convolution's columns: the backward
    of the steps that built it then reads its gradient in memory order.)
    """
    return b.flags.f_contiguous and not b.flags.c_contiguous


def matmul_backward(grad_output: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple:
    """dL/da = dL/dy @ b^T, dL/db = a^T @ dL/dy (transposing the last two axes).

    Shapes: a (..., n, k), b (..., k, m), grad_output (..., n, m); batch axes
    are summed back to each input's shape. A 1-D a is treated as (1, k), a 1-D
    b as (k, 1), as in ``np.matmul``.
    """
    # BEGIN SOLUTION matmul_backward
    if a.ndim == 2 and b.ndim == 2:
        # each gradient laid out like its input when that is a transposed view: see _is_transposed_view
        grad_a = (b @ grad_output.T).T if _is_transposed_view(a) else grad_output @ b.T
        grad_b = (grad_output.T @ a).T if _is_transposed_view(b) else a.T @ grad_output
        return grad_a, grad_b
    a2 = a if a.ndim > 1 else a.reshape(1, -1)
    b2 = b if b.ndim > 1 else b.reshape(-1, 1)
    g = np.asarray(grad_output)
    if b.ndim == 1:
        g = g[..., np.newaxis]
    if a.ndim == 1:
        g = np.expand_dims(g, -2)
    grad_a = np.matmul(g, np.swapaxes(b2, -1, -2))
    grad_b = np.matmul(np.swapaxes(a2, -1, -2), g)
    return unbroadcast(grad_a, a2.shape).reshape(a.shape), unbroadcast(grad_b, b2.shape).reshape(b.shape)
    # END SOLUTION


def matmul_constant_lhs_backward(grad_output: np.ndarray, b: np.ndarray, lhs: np.ndarray) -> np.ndarray:
    """y = lhs @ b with a constant lhs: dL/db = lhs^T @ dL/dy, the second half of ``matmul_backward``.

    Shapes as in ``matmul_backward`` with a = lhs.
    """
    # BEGIN SOLUTION matmul_backward
    if lhs.ndim == 2 and b.ndim == 2:
        return (grad_output.T @ lhs).T if _is_transposed_view(b) else lhs.T @ grad_output
    return matmul_backward(grad_output, lhs, b)[1]  # rare shapes: the general rule, discarding dL/dlhs
    # END SOLUTION


def outer(a: ArrayLike, b: ArrayLike, gradients_to_update: Targets = None) -> np.ndarray:
    """y[i, j] = a[i] * b[j] (inputs are flattened, as in ``np.outer``)."""
    return _record(np.outer(a, b), outer_backward, [a, b], gradients_to_update)


def outer_backward(grad_output: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple:
    """dL/da = dL/dy @ b, dL/db = (dL/dy)^T @ a.  Shapes: a (m,), b (n,), grad_output (m, n)."""
    # BEGIN SOLUTION matmul_backward
    return (grad_output @ b.ravel()).reshape(a.shape), (grad_output.T @ a.ravel()).reshape(b.shape)
    # END SOLUTION


# ---------------------------------------------------------------- shape and indexing

def transpose(a: ArrayLike, axes: Optional[Sequence[int]] = None,
              gradients_to_update: Targets = None) -> np.ndarray:
    """y = a with its axes permuted (reversed by default), as ``np.transpose``."""
    try:
        output = np.transpose(a, axes)
    except ValueError as error:
        raise _shape_error("transpose", (a,), error, f"axes, a permutation of range({np.ndim(a)})") from None
    return _record(output, transpose_backward, [a], gradients_to_update, axes=axes)


def transpose_backward(grad_output: np.ndarray, a: np.ndarray, axes: Optional[Sequence[int]] = None) -> np.ndarray:
    """dL/da = dL/dy with the inverse permutation of ``axes`` applied."""
    # BEGIN SOLUTION reduction_shape_backward
    if axes is None:
        return np.transpose(grad_output)
    return np.transpose(grad_output, np.argsort([ax % a.ndim for ax in axes]))
    # END SOLUTION


def reshape(a: ArrayLike, shape: Sequence[int], gradients_to_update: Targets = None) -> np.ndarray:
    """y = a reshaped to ``shape`` (one entry may be -1)."""
    try:
        output = np.reshape(a, shape)
    except ValueError as error:
        raise _shape_error("reshape", (a,), error, f"a shape with {np.size(a)} elements") from None
    return _record(output, reshape_backward, [a], gradients_to_update, shape=shape)


def reshape_backward(grad_output: np.ndarray, a: np.ndarray, shape: Any = None) -> np.ndarray:
    """dL/da = dL/dy reshaped back to a's shape."""
    # BEGIN SOLUTION reduction_shape_backward
    return np.reshape(grad_output, a.shape)
    # END SOLUTION


def expand_dims(a: ArrayLike, axis: Any, gradients_to_update: Targets = None) -> np.ndarray:
    """y = a with a new size-1 axis at ``axis``."""
    try:
        output = np.expand_dims(a, axis)
    except ValueError as error:
        raise _shape_error("expand_dims", (a,), error, "a valid position for the new axis") from None
    return _record(output, expand_dims_backward, [a], gradients_to_update, axis=axis)


def expand_dims_backward(grad_output: np.ndarray, a: np.ndarray, axis: Any = None) -> np.ndarray:
    """dL/da = dL/dy with the added axis removed (reshaped to a's shape)."""
    # BEGIN SOLUTION reduction_shape_backward
    return np.reshape(grad_output, a.shape)
    # END SOLUTION


def squeeze(a: ArrayLike, axis: Any = None, gradients_to_update: Targets = None) -> np.ndarray:
    """y = a without its size-1 axes (or only ``axis``)."""
    try:
        output = np.squeeze(a, axis)
    except ValueError as error:
        raise _shape_error("squeeze", (a,), error, "axes of size 1") from None
    return _record(output, squeeze_backward, [a], gradients_to_update, axis=axis)


def squeeze_backward(grad_output: np.ndarray, a: np.ndarray, axis: Any = None) -> np.ndarray:
    """dL/da = dL/dy with the removed size-1 axes restored (reshaped to a's shape)."""
    # BEGIN SOLUTION reduction_shape_backward
    return np.reshape(grad_output, a.shape)
    # END SOLUTION


def _is_basic_index(index: Any) -> bool:
    """Basic indexing (ints, slices, None, ...) selects each element at most once."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, np.integer, slice, type(None), type(Ellipsis))) and not isinstance(p, bool)
               for p in parts)


def getitem(a: ArrayLike, index: Any, gradients_to_update: Targets = None) -> np.ndarray:
    """y = a[index]: basic slicing or integer-array (advanced) indexing."""
    if isinstance(index, list):
        index = np.asarray(index)
    try:
        output = np.asarray(a)[index]
    except (IndexError, ValueError, TypeError) as error:
        raise _shape_error("getitem", (a,), error, "an index within the input's bounds") from None
    return _record(output, getitem_backward, [a], gradients_to_update, index=index)


def getitem_backward(grad_output: np.ndarray, a: np.ndarray, index: Any = None) -> np.ndarray:
    """dL/da = zeros of a's shape with dL/dy added at ``index``.

    An element picked k times by an integer-array index receives the sum of
    its k gradients (``np.add.at``), not just the last one.
    """
    # BEGIN SOLUTION reduction_shape_backward
    grad = np.zeros(a.shape, dtype=float_dtype(np.asarray(grad_output)))
    if _is_basic_index(index):
        grad[index] = grad_output
    else:
        np.add.at(grad, index, grad_output)
    return grad
    # END SOLUTION


def concatenate(arrays: Sequence[ArrayLike], axis: int = 0, gradients_to_update: Targets = None) -> np.ndarray:
    """y = the arrays joined along an existing ``axis``."""
    try:
        output = np.concatenate(arrays, axis=axis)
    except ValueError as error:
        raise _shape_error("concatenate", arrays, error, f"equal shapes except along axis {axis}") from None
    return _record(output, concatenate_backward, list(arrays), gradients_to_update, axis=axis)


def concatenate_backward(grad_output: np.ndarray, *arrays: np.ndarray, axis: int = 0) -> tuple:
    """dL/d(arrays[i]) = the slice of dL/dy along ``axis`` where arrays[i] was placed."""
    # BEGIN SOLUTION reduction_shape_backward
    ends = np.cumsum([x.shape[axis] for x in arrays])[:-1]
    return tuple(np.split(grad_output, ends, axis=axis))
    # END SOLUTION


def stack(arrays: Sequence[ArrayLike], axis: int = 0, gradients_to_update: Targets = None) -> np.ndarray:
    """y = the arrays (all of one shape) stacked along a new ``axis``."""
    try:
        output = np.stack(arrays, axis=axis)
    except ValueError as error:
        raise _shape_error("stack", arrays, error, "arrays of equal shape") from None
    return _record(output, stack_backward, list(arrays), gradients_to_update, axis=axis)


def stack_backward(grad_output: np.ndarray, *arrays: np.ndarray, axis: int = 0) -> tuple:
    """dL/d(arrays[i]) = dL/dy taken at position i of the new ``axis``."""
    # BEGIN SOLUTION reduction_shape_backward
    return tuple(np.take(grad_output, i, axis=axis) for i in range(len(arrays)))
    # END SOLUTION


# ---------------------------------------------------------------- softmax and cross-entropy

def _log_softmax(a: np.ndarray, axis: int) -> np.ndarray:
    """a - logsumexp(a): shifting by the maximum keeps exp from overflowing."""
    shifted = a - a.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(a: ArrayLike, axis: int = -1, gradients_to_update: Targets = None) -> np.ndarray:
    """y = e**a / sum(e**a) along ``axis``."""
    return _record(np.exp(_log_softmax(np.asarray(a), axis)), softmax_backward, [a], gradients_to_update, axis=axis)


def softmax_backward(grad_output: np.ndarray, a: np.ndarray, axis: int = -1) -> np.ndarray:
    """dL/da = s * (dL/dy - sum(dL/dy * s, axis)), s = softmax(a)."""
    # BEGIN SOLUTION softmax_backward
    # PROMPT: _log_softmax(a, axis) above computes log softmax(a) without overflow
    s = np.exp(_log_softmax(a, axis))
    return s * (grad_output - np.sum(grad_output * s, axis=axis, keepdims=True))
    # END SOLUTION


def log_softmax(a: ArrayLike, axis: int = -1, gradients_to_update: Targets = None) -> np.ndarray:
    """y = a - log(sum(e**a)) along ``axis``."""
    return _record(_log_softmax(np.asarray(a), axis), log_softmax_backward, [a], gradients_to_update, axis=axis)


def log_softmax_backward(grad_output: np.ndarray, a: np.ndarray, axis: int = -1) -> np.ndarray:
    """dL/da = dL/dy - softmax(a) * sum(dL/dy, axis)."""
    # BEGIN SOLUTION softmax_backward
    s = np.exp(_log_softmax(a, axis))
    return grad_output - s * np.sum(grad_output, axis=axis, keepdims=True)
    # END SOLUTION


_REDUCTIONS = ("mean", "sum", "none")


def _is_labels(target: np.ndarray) -> bool:
    """Integer class labels (as opposed to one-hot or probability rows)."""
    return target.dtype.kind in "iu"


def _labels_out_of_range(labels: np.ndarray, classes: int) -> bool:
    """Whether any label lies outside 0..classes-1, with one reduction.

    Seen as unsigned integers of the same width (a free view), negative labels
    become huge, so a single maximum catches both ends.
    """
    if not labels.size:
        return False
    if labels.dtype.kind == "i":
        unsigned = labels.view(_UNSIGNED.get(labels.dtype) or labels.dtype.str.replace("i", "u"))
    else:
        unsigned = labels
    return int(np.maximum.reduce(unsigned, axis=None)) >= classes  # (ndarray.max adds a Python wrapper)


# the unsigned integer type of each native signed one's width (other byte orders build it from the name)
_UNSIGNED = {np.dtype(f"int{bits}"): np.dtype(f"uint{bits}") for bits in (8, 16, 32, 64)}


def _label_positions(rows: np.ndarray, labels: np.ndarray) -> tuple:
    """``(flat, at)``: rows (batch..., C) seen as (n, C), and the index of each row's label in it.

    ``flat[at]`` picks each row's entry at its label; ``flat`` is a view when rows is contiguous.
    """
    flat = rows.reshape(-1, rows.shape[-1])
    return flat, (np.arange(flat.shape[0]), labels.ravel())


def _minus_one_hot(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """probabilities - onehot(labels), computed in place (probabilities must be a fresh contiguous array)."""
    flat, at = _label_positions(probabilities, labels)
    flat[at] -= 1.0
    return probabilities


def _not_probability_rows(target: np.ndarray) -> np.ndarray:
    """Per row: whether it is far (1e-3) from a probability row (non-negative, summing to 1)."""
    return (target.min(axis=-1) < -1e-3) | (np.abs(target.sum(axis=-1) - 1.0) > 1e-3)


def _check_cross_entropy(logits: np.ndarray, target: np.ndarray, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"softmax_cross_entropy: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if logits.ndim < 1:
        problem = "expected logits of shape (batch, classes)"
    elif _is_labels(target):
        classes = logits.shape[-1]
        if target.shape != logits.shape[:-1]:
            problem = f"integer labels must have shape {logits.shape[:-1]} (one label per row of logits)"
        elif _labels_out_of_range(target, classes):
            bad = target[(target < 0) | (target >= classes)].ravel()[0]
            problem = f"label {bad} is out of range for {classes} classes (labels must be in 0..{classes - 1})"
        else:
            return
    elif target.shape != logits.shape:
        problem = (f"a one-hot or probability target must have the logits' shape {logits.shape}, "
                   f"integer labels the shape {logits.shape[:-1]}")
    elif target.size and _not_probability_rows(target).any():
        # Logits given as the target would make a silently wrong (even negative) loss: the usual cause is
        # the argument order of a handout whose losses took the target first. (The tolerance leaves room
        # for a gradient check that nudges the target.)
        row = int(np.argmax(_not_probability_rows(target).reshape(-1)))
        problem = (f"a one-hot or probability target needs rows of non-negative numbers summing to 1, and row "
                   f"{row} sums to {float(target.reshape(-1, target.shape[-1])[row].sum()):.4g}; the arguments "
                   "are (logits, target), logits first, as in PyTorch")
    else:
        return
    raise ValueError(f"softmax_cross_entropy: logits of shape {logits.shape}, target of shape {target.shape}; "
                     f"{problem}")


def softmax_cross_entropy(logits: ArrayLike, target: ArrayLike, reduction: str = "mean",
                          gradients_to_update: Targets = None) -> np.ndarray:
    """L = -sum_c t_c log softmax(logits)_c per row, then the mean (or sum) over rows.

    logits: (batch..., C). target: integer labels (batch...) or one-hot /
    probability rows (batch..., C). Computed with log-sum-exp, so large logits
    neither overflow nor produce log(0).
    """
    logits, target = np.asarray(logits), np.asarray(target)
    _check_cross_entropy(logits, target, reduction)
    log_probs = _log_softmax(logits, -1)
    if _is_labels(target):  # -log p at each row's label
        flat, at = _label_positions(log_probs, target)
        per_row = -flat[at].reshape(target.shape)
    else:
        per_row = -(target * log_probs).sum(axis=-1)
    output = per_row
    if reduction != "none":
        output = np.add.reduce(per_row, axis=None)  # ndarray.mean would add a Python wrapper's overhead
        if reduction == "mean":
            output = output / per_row.size
    return _record(output, SoftmaxCrossEntropy_backward, [logits, target], gradients_to_update,
                   reduction=reduction, log_probs=log_probs)


def SoftmaxCrossEntropy_backward(grad_output: np.ndarray, logits: np.ndarray, target: np.ndarray,
                                 reduction: str = "mean", log_probs: Optional[np.ndarray] = None) -> tuple:
    """dL/dlogits = (softmax(logits) - t) * dL/dy, divided by the row count for ``mean``.

    dL/dtarget = -log softmax(logits) * dL/dy for probability targets; integer
    labels are not differentiable (``None``). Shapes: logits (batch..., C),
    target (batch...) labels or (batch..., C) rows, grad_output that of the loss.
    log_probs: log softmax(logits) if the forward saved it (the recording helper
    does, so backward need not recompute it); computed here when None.
    """
    # BEGIN SOLUTION softmax_backward
    # PROMPT: for integer labels, _minus_one_hot(probabilities, target) is probabilities - onehot(target)
    rows = math.prod(logits.shape[:-1]) if reduction == "mean" else 1
    if np.ndim(grad_output) == 0:  # a scalar loss: one Python number scales every row
        upstream = float(grad_output) / rows
    else:
        upstream = (grad_output / rows)[..., np.newaxis]
    if log_probs is None:
        log_probs = _log_softmax(logits, -1)
    if _is_labels(target):
        grad = _minus_one_hot(np.exp(log_probs), target)
        grad *= upstream  # in place: grad is this function's own fresh array
        return grad, None
    return (np.exp(log_probs) - target) * upstream, -log_probs * upstream
    # END SOLUTION


# ---- convolution support

def _as_tuple_of(value: Any, d: int, name: str) -> tuple:
    """An int or a sequence of d ints, as a tuple of d ints."""
    values = (value,) * d if np.ndim(value) == 0 else tuple(value)
    if d == 0 or len(values) != d or any(int(v) != v for v in values):
        raise ValueError(f"{name}: expected an int or {d} ints, got {value!r}")
    return tuple(int(v) for v in values)


def pad(a: ArrayLike, pad_width: Sequence[Sequence[int]], value: float = 0.0,
        gradients_to_update: Targets = None) -> np.ndarray:
    """y = a surrounded by ``value``: ``pad_width[i] = (before_i, after_i)`` entries on axis i.

    Shapes: a (n_0, ..., n_{d-1}) -> y (n_0 + before_0 + after_0, ...).
    Every element of a appears once in y, shifted by the ``before`` amounts;
    the padding is constant. So dL/da = dL/dy[before_0 : before_0 + n_0, ...].
    """
    a_shape = np.shape(a)
    widths = [tuple(int(w) for w in pair) for pair in pad_width] if np.ndim(pad_width) else []
    if len(widths) != len(a_shape) or any(len(w) != 2 or w[0] < 0 or w[1] < 0 for w in widths):
        raise ValueError(f"pad: input of shape {a_shape} needs pad_width with one (before, after) pair "
                         f"of non-negative ints per axis ({len(a_shape)} pairs), got {pad_width!r}")
    output = np.pad(a, widths, mode="constant", constant_values=value)
    return _record(output, pad_backward, [a], gradients_to_update, pad_width=tuple(widths), value=value)


def pad_backward(grad_output: np.ndarray, a: np.ndarray, pad_width: Any = (), value: float = 0.0) -> np.ndarray:
    """dL/da = dL/dy with the padding cut off.  Shapes: grad_output (padded), result a.shape."""
    # BEGIN SOLUTION convolution
    inner = tuple(slice(before, before + n) for (before, _), n in zip(pad_width, a.shape))
    return grad_output[inner]  # a view: the engine never adds into a gradient a backward function returned
    # END SOLUTION


def sliding_windows(a: ArrayLike, window_shape: Any, stride: Any = 1,
                    gradients_to_update: Targets = None) -> np.ndarray:
    """Every window of ``window_shape`` over the last d axes of a, taken every ``stride`` steps.

    Shapes: a (*lead, n_1, ..., n_d) -> y (*lead, o_1, ..., o_d, k_1, ..., k_d),
    o_i = (n_i - k_i) // s_i + 1, with

        y[..., p_1, ..., p_d, j_1, ..., j_d] = a[..., p_1 s_1 + j_1, ..., p_d s_d + j_d].

    This is im2col without the reshape: a convolution is a matmul of these
    windows with the kernel, a pooling layer a max or mean over the window axes.
    The output is a read-only view of a (no copy). Windows overlap when
    s < k, so an element of a is read by several windows and its gradient is
    the sum over all of them:

        dL/da[..., i] = sum over (p, j) with p s + j = i of dL/dy[..., p, j].
    """
    shape = np.shape(a)
    d = 1 if np.ndim(window_shape) == 0 else len(window_shape)
    kernel = _as_tuple_of(window_shape, d, "sliding_windows: window_shape")
    steps = _as_tuple_of(stride, d, "sliding_windows: stride")
    # (min, max, sum and abs are recording helpers in this module: avoid the builtins' names here)
    if len(shape) < d or any(k < 1 for k in kernel + steps) or any(k > n for k, n in zip(kernel, shape[-d:])):
        raise ValueError(f"sliding_windows: input of shape {shape} with window {kernel} and stride {steps}; "
                         f"expected positive windows and strides, and the last {d} axes at least as "
                         "large as the window")
    axes = tuple(range(len(shape) - d, len(shape)))
    windows = np.lib.stride_tricks.sliding_window_view(np.asarray(a), kernel, axis=axes)
    output = windows[(Ellipsis,) + tuple(slice(None, None, s) for s in steps) + (slice(None),) * d]
    return _record(output, sliding_windows_backward, [a], gradients_to_update,
                   window_shape=kernel, stride=steps)


def sliding_windows_backward(grad_output: np.ndarray, a: np.ndarray, window_shape: Any = (),
                             stride: Any = ()) -> np.ndarray:
    """dL/da: every window position's gradient added back where it was read.

    One strided slice per offset j inside the window: for each j, the windows'
    entries j come from a[..., j + p s] for p = 0..o-1, so
    grad_a[..., j::s][:o] += grad_output[..., j]. Shapes: grad_output
    (*lead, *o, *k), result a.shape.
    """
    d = 1 if np.ndim(window_shape) == 0 else len(window_shape)
    # BEGIN SOLUTION convolution
    window_shape = _as_tuple_of(window_shape, d, "sliding_windows_backward: window_shape")
    stride = _as_tuple_of(stride, d, "sliding_windows_backward: stride")
    out_shape = grad_output.shape[grad_output.ndim - 2 * d:grad_output.ndim - d]
    grad = np.zeros(a.shape, dtype=float_dtype(np.asarray(grad_output)))
    for offset in np.ndindex(*window_shape):
        read = tuple(slice(j, j + s * (o - 1) + 1, s) for j, s, o in zip(offset, stride, out_shape))
        grad[(Ellipsis,) + read] += grad_output[(Ellipsis,) + offset]
    return grad
    # END SOLUTION


def _window_reads(window_shape: tuple, stride: tuple, out_shape: tuple) -> list:
    """For every offset j inside the window (row-major), the index of a[..., p s + j] for all p at once."""
    return [(Ellipsis,) + tuple(slice(j, j + s * (o - 1) + 1, s) for j, s, o in zip(offset, stride, out_shape))
            for offset in np.ndindex(*window_shape)]


def _window_argmax(a: np.ndarray, window_shape: tuple, stride: tuple, nan_aware: bool = False) -> tuple:
    """(y, argmax): each window's maximum and the row-major offset of its first maximal element.

    One pass per offset j: a[..., p s + j] over all p is a strided view, compared with the
    running maximum; a strict > keeps the first of tied maxima. A NaN is the maximum of its
    window (np.maximum propagates it), so its offset must win too: that takes one more pass
    per offset, made only when the result holds a NaN.
    """
    d = len(window_shape)
    out_shape = tuple((n - k) // s + 1 for n, k, s in zip(a.shape[a.ndim - d:], window_shape, stride))
    reads = _window_reads(window_shape, stride, out_shape)
    best = np.array(a[reads[0]])
    argmax = np.zeros(best.shape, dtype=np.uint8 if len(reads) < 256 else np.intp)
    better, step = np.empty(best.shape, dtype=bool), np.empty_like(argmax)
    for index, read in enumerate(reads[1:], start=1):
        candidate = a[read]
        np.greater(candidate, best, out=better)
        if nan_aware:
            better |= np.isnan(candidate)
        np.maximum(candidate, best, out=best)
        # argmax = index where better, else unchanged: index >= argmax, so (index - argmax) * better
        # is never negative (masked copies, np.copyto(where=), cost several times more)
        np.subtract(index, argmax, out=step)
        step *= better
        argmax += step
    if not nan_aware and best.dtype.kind in "fc" and np.isnan(np.add.reduce(best, axis=None)):
        return _window_argmax(a, window_shape, stride, nan_aware=True)  # (a sum is NaN if any term is)
    return best, argmax


def window_max(a: ArrayLike, window_shape: Any, stride: Any = None,
               gradients_to_update: Targets = None) -> np.ndarray:
    """y = the maximum of every window of ``window_shape`` over the last d axes of a, ``stride`` apart.

    Shapes: a (*lead, n_1, ..., n_d) -> y (*lead, o_1, ..., o_d), o_i = (n_i - k_i) // s_i + 1,

        y[..., p] = max over j < k of a[..., p s + j]      (p, j, k, s: d-dimensional)

    the value of ``max(sliding_windows(a, k, s), axis=<the d window axes>)`` in one primitive.
    ``stride`` defaults to the window (windows side by side, as a pooling layer). The forward
    also finds where each maximum is (its offset j*, row-major in the window, the first one
    among ties) and records it, so backward need not search the windows again:

        dL/da[..., i] = sum over windows p with p s + j*(p) = i of dL/dy[..., p].

    A tie sends all of dL/dy to the first maximal element (as PyTorch's max pooling), not
    shares of it as ``max_backward`` does. A window holding NaN has the maximum NaN, and its
    gradient goes to the (last) NaN, as in PyTorch.
    """
    shape = np.shape(a)
    d = 1 if np.ndim(window_shape) == 0 else len(window_shape)
    kernel = _as_tuple_of(window_shape, d, "window_max: window_shape")
    steps = kernel if stride is None else _as_tuple_of(stride, d, "window_max: stride")
    if len(shape) < d or any(k < 1 for k in kernel + steps) or any(k > n for k, n in zip(kernel, shape[-d:])):
        raise ValueError(f"window_max: input of shape {shape} with window {kernel} and stride {steps}; "
                         f"expected positive windows and strides, and the last {d} axes at least as "
                         "large as the window")
    output, argmax = _window_argmax(np.asarray(a), kernel, steps)
    return _record(output, window_max_backward, [a], gradients_to_update,
                   window_shape=kernel, stride=steps, argmax=argmax)


def window_max_backward(grad_output: np.ndarray, a: np.ndarray, window_shape: Any = (), stride: Any = (),
                        argmax: Optional[np.ndarray] = None) -> np.ndarray:
    """dL/da: each window's dL/dy added at the element that was its maximum, zero elsewhere.

    Shapes: grad_output (*lead, o_1, ..., o_d), result a.shape. argmax (the grad_output's
    shape): the row-major offset j* of each window's maximum, as the forward recorded it;
    computed from a when None (first maximum among ties). Overlapping windows (s < k) that
    share a maximal element add their gradients there.
    """
    d = 1 if np.ndim(window_shape) == 0 else len(window_shape)
    # BEGIN SOLUTION convolution
    # PROMPT: one strided view of the gradient per offset j in the window (as sliding_windows_backward);
    # PROMPT: add dL/dy * (argmax == j) into it
    window_shape = _as_tuple_of(window_shape, d, "window_max_backward: window_shape")
    stride = _as_tuple_of(stride, d, "window_max_backward: stride")
    if argmax is None:
        argmax = _window_argmax(a, window_shape, stride)[1]
    # laid out in memory as a is (zeros_like and empty_like keep the order of a's axes in memory), so
    # that the elementwise backward before this one, such as relu's, reads both arrays in one order
    out_shape = grad_output.shape[grad_output.ndim - d:]
    side_by_side = all(s >= k for s, k in zip(stride, window_shape))  # each element in one window at most
    tiled = stride == window_shape and all(o * k == n for o, k, n in zip(out_shape, window_shape, a.shape[-d:]))
    dtype = float_dtype(np.asarray(grad_output))
    # windows that tile a exactly write every element below: no need to zero it first
    grad = np.empty_like(a, dtype=dtype) if tiled else np.zeros_like(a, dtype=dtype)
    for index, read in enumerate(_window_reads(window_shape, stride, out_shape)):
        if side_by_side:
            np.multiply(grad_output, argmax == index, out=grad[read])
        else:
            grad[read] += grad_output * (argmax == index)
    return grad
    # END SOLUTION
