"""What the grader trusts: NumPy forward formulas, central differences, and the comparison.

Everything here runs in the grading process, never in the child that holds
the student's code, and uses nothing from ``mytorch``: the reference is graded
by the same oracle as every student.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np



def numerical_vjp(forward: Callable[..., Any], inputs: Sequence[np.ndarray], grad_output: np.ndarray,
                  params: Optional[dict] = None, eps: float = 1e-6) -> list:
    """d/d(inputs[i]) of sum(grad_output * forward(*inputs, **params)) by central differences.

    That is the vector-Jacobian product a backward function must return. Inputs
    that are not floating point (labels, indices) get ``None``.
    """
    params = params or {}
    arrays = [np.array(x, dtype=np.float64) if _is_float(x) else np.asarray(x) for x in inputs]
    g = np.asarray(grad_output, dtype=np.float64)
    grads: list = []
    for i, x in enumerate(arrays):
        if not _is_float(x):
            grads.append(None)
            continue
        grad = np.zeros_like(x)
        flat, grad_flat = x.reshape(-1), grad.reshape(-1)
        for k in range(flat.size):
            original = flat[k]
            flat[k] = original + eps
            plus = np.sum(g * forward(*arrays, **params))
            flat[k] = original - eps
            minus = np.sum(g * forward(*arrays, **params))
            flat[k] = original
            grad_flat[k] = (plus - minus) / (2 * eps)
        grads.append(grad)
    return grads


def _is_float(x: Any) -> bool:
    return np.issubdtype(np.asarray(x).dtype, np.floating)


def log_softmax(a: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = a - np.max(a, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(a)))  # the same function, written without exp overflow


def cross_entropy(logits: np.ndarray, target: np.ndarray, reduction: str = "mean") -> np.ndarray:
    if np.issubdtype(np.asarray(target).dtype, np.integer):
        target = np.eye(logits.shape[-1])[target]
    per_row = -np.sum(target * log_softmax(logits), axis=-1)
    return {"mean": np.mean, "sum": np.sum}.get(reduction, lambda v: v)(per_row)


def windows(a: np.ndarray, window_shape: tuple, stride: tuple) -> np.ndarray:
    """Every window of ``window_shape`` over a's last axes, ``stride`` apart: (*lead, *out, *window)."""
    d = len(window_shape)
    view = np.lib.stride_tricks.sliding_window_view(a, tuple(window_shape), axis=tuple(range(a.ndim - d, a.ndim)))
    return view[(Ellipsis,) + tuple(slice(None, None, s) for s in stride) + (slice(None),) * d]


def window_max(a: np.ndarray, window_shape: tuple, stride: tuple) -> np.ndarray:
    """The maximum of every window of ``window_shape`` over a's last axes, ``stride`` apart."""
    return windows(a, tuple(window_shape), tuple(stride)).max(axis=tuple(range(-len(window_shape), 0)))


def _axes(value: Any) -> Any:
    """JSON turns tuples into lists; NumPy wants tuples for axes and shapes."""
    return tuple(value) if isinstance(value, list) else value


def _reduction(fn: Callable) -> Callable:
    return lambda a, axis=None, keepdims=False: fn(a, axis=_axes(axis), keepdims=keepdims)


# backward function name -> (NumPy forward, names of its inputs); "*" means any number of inputs.
PRIMITIVES: dict[str, tuple[Callable[..., Any], Sequence[str]]] = {
    "identity_backward": (lambda a: a, "a"),
    "add_backward": (np.add, "ab"),
    "sub_backward": (np.subtract, "ab"),
    "mul_backward": (np.multiply, "ab"),
    "div_backward": (np.divide, "ab"),
    "neg_backward": (np.negative, "a"),
    "pow_scalar_backward": (lambda a, exponent: np.power(a, exponent), "a"),
    "pow_backward": (np.power, "ab"),
    "maximum_backward": (np.maximum, "ab"),
    "minimum_backward": (np.minimum, "ab"),
    "sqrt_backward": (np.sqrt, "a"),
    "log_backward": (np.log, "a"),
    "exp_backward": (np.exp, "a"),
    "sin_backward": (np.sin, "a"),
    "cos_backward": (np.cos, "a"),
    "tanh_backward": (np.tanh, "a"),
    "sigmoid_backward": (sigmoid, "a"),
    "relu_backward": (lambda a: np.maximum(a, 0.0), "a"),
    "abs_backward": (np.abs, "a"),
    "sum_backward": (_reduction(np.sum), "a"),
    "mean_backward": (_reduction(np.mean), "a"),
    "max_backward": (_reduction(np.max), "a"),
    "min_backward": (_reduction(np.min), "a"),
    "matmul_backward": (np.matmul, "ab"),
    "outer_backward": (np.outer, "ab"),
    "matmul_constant_lhs_backward": (lambda b, lhs: np.matmul(lhs, b), ("b",)),
    "transpose_backward": (lambda a, axes=None: np.transpose(a, _axes(axes)), "a"),
    "reshape_backward": (lambda a, shape: np.reshape(a, _axes(shape)), "a"),
    "expand_dims_backward": (lambda a, axis: np.expand_dims(a, _axes(axis)), "a"),
    "squeeze_backward": (lambda a, axis=None: np.squeeze(a, _axes(axis)), "a"),
    "getitem_backward": (lambda a, index: a[index], "a"),
    "concatenate_backward": (lambda *arrays, axis=0: np.concatenate(arrays, axis=axis), "*"),
    "stack_backward": (lambda *arrays, axis=0: np.stack(arrays, axis=axis), "*"),
    "softmax_backward": (lambda a, axis=-1: np.exp(log_softmax(a, axis)), "a"),
    "log_softmax_backward": (log_softmax, "a"),
    "SoftmaxCrossEntropy_backward": (cross_entropy, ("logits", "target")),
    "pad_backward": (lambda a, pad_width, value=0.0: np.pad(a, pad_width, constant_values=value), "a"),
    "sliding_windows_backward": (lambda a, window_shape, stride: windows(a, window_shape, stride), "a"),
    "window_max_backward": (lambda a, window_shape, stride: window_max(a, window_shape, stride), "a"),
}


def input_names(backward_name: str, count: int) -> list:
    names = PRIMITIVES.get(backward_name, (None, "*"))[1]
    if names == "*" or len(names) != count:
        return [f"x{i}" for i in range(count)]
    return list(names)


def compare(target: str, part: str, got: Any, expected: Any, rtol: float, atol: float) -> Optional[str]:
    """None when ``got`` matches ``expected``; otherwise a one-line reason a student can act on."""
    what = f"{target}: {part}"
    expected = np.asarray(expected)
    if got is None:
        return f"{what} is None, expected an array of shape {expected.shape}"
    got = np.asarray(got)
    if got.dtype.kind not in "biuf":
        return f"{what} has dtype {got.dtype}, expected a real number array"
    if got.shape != expected.shape:
        return f"{what} has shape {got.shape}, expected {expected.shape}"
    got, expected = got.astype(np.float64), expected.astype(np.float64)
    bad_values = ~np.isfinite(got) & np.isfinite(expected)
    if bad_values.any():
        index = tuple(int(i) for i in np.argwhere(bad_values)[0])
        return f"{what} contains {got[index]} at index {index} where {expected[index]:.6g} was expected"
    with np.errstate(invalid="ignore"):
        error = np.where(np.isfinite(expected), np.abs(got - expected), np.where(got == expected, 0.0, np.inf))
        ok = error <= atol + rtol * np.abs(np.nan_to_num(expected, posinf=0.0, neginf=0.0))
    if ok.all():
        return None
    index = tuple(int(i) for i in np.unravel_index(np.argmax(np.where(ok, -1.0, error)), error.shape))
    return (f"{what} is wrong: max abs error {float(np.max(error)):.3g}, {_max_relative(error, expected, atol)} "
            f"(tolerances atol {atol:g}, rtol {rtol:g}); first bad element at index {index}: "
            f"got {got[index]:.6g}, expected {expected[index]:.6g}")


def _max_relative(error: np.ndarray, expected: np.ndarray, atol: float) -> str:
    """Relative error over the elements whose expected value is not ~0 (relative to 0 means nothing)."""
    sizable = np.abs(expected) > atol
    if not sizable.any():
        return "max rel error n/a (expected values are all ~0)"
    return f"max rel error {float(np.max(error[sizable] / np.abs(expected[sizable]))):.3g}"
