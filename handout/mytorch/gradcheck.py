"""Gradient checking: the tape's gradients against central finite differences.

Central differences approximate df/dx_k by (f(x + eps e_k) - f(x - eps e_k)) / (2 eps),
with an error of order eps**2 (plus rounding of order ulp(f) / eps), so in
float64 with eps = 1e-6 they agree with an exact gradient to about 1e-8.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from mytorch.autograd_engine import Autograd

Function = Callable[..., Any]


def numerical_jacobian(f: Function, x: Any, eps: float = 1e-6) -> np.ndarray:
    """J[i, k] = d f(x)_i / d x_k by central differences; shape (f(x).size, x.size).

    ``f`` maps an array to an array (or scalar); x is copied to float64 first.
    """
    x = np.array(x, dtype=np.float64)
    columns = []
    flat = x.reshape(-1)
    for k in range(flat.size):
        original = flat[k]
        flat[k] = original + eps
        plus = np.array(f(x), dtype=np.float64).ravel()
        flat[k] = original - eps
        minus = np.array(f(x), dtype=np.float64).ravel()
        flat[k] = original
        columns.append((plus - minus) / (2 * eps))
    return np.stack(columns, axis=1) if columns else np.zeros((np.size(f(x)), 0))


def numerical_gradient(f: Function, inputs: Sequence[Any], divergence: Any = 1.0,
                       eps: float = 1e-6) -> list:
    """d/d(inputs[i]) of the scalar sum(divergence * f(*inputs)), for every input, by central differences.

    Inputs are copied to float64; integer inputs (labels, indices) are passed
    unchanged and get ``None``.
    """
    arrays = [_as_float64(x) for x in inputs]
    gradients = []
    for i, x in enumerate(arrays):
        if not _differentiable(x):
            gradients.append(None)
            continue

        def scalar(xi: np.ndarray, i: int = i) -> float:
            args = arrays[:i] + [xi] + arrays[i + 1:]
            return float(np.sum(np.asarray(divergence) * np.asarray(f(*args), dtype=np.float64)))

        gradients.append(numerical_jacobian(scalar, x, eps).reshape(np.shape(x)))
    return gradients


@dataclass
class InputCheck:
    """The comparison for one input: tape (analytic) against central differences (numeric)."""

    index: int
    analytic: np.ndarray
    numeric: np.ndarray
    max_abs_error: float
    max_rel_error: float
    ok: bool


@dataclass
class GradcheckResult:
    ok: bool
    max_abs_error: float
    max_rel_error: float
    atol: float
    rtol: float
    inputs: list = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"gradcheck {'passed' if self.ok else 'FAILED'}: max abs error {self.max_abs_error:.3g}, "
                 f"max rel error {self.max_rel_error:.3g} (atol {self.atol:g}, rtol {self.rtol:g})"]
        for check in self.inputs:
            lines.append(f"  input {check.index} of shape {check.numeric.shape}: "
                         f"{'ok' if check.ok else 'MISMATCH'}, max abs error {check.max_abs_error:.3g}, "
                         f"max rel error {check.max_rel_error:.3g}")
        return "\n".join(lines)


def gradcheck(f: Function, *inputs: Any, eps: float = 1e-6, atol: float = 1e-6, rtol: float = 1e-5,
              seed: int = 0, divergence: Optional[Any] = None,
              raise_exception: bool = True) -> GradcheckResult:
    """Check the tape's gradients of ``f`` against central differences, in float64.

    ``f(*inputs)`` must record its computation on the live engine (for example
    through ``mytorch.nn.functional``) and return its output. The output is
    backpropagated with ``divergence`` (by default random normal numbers from
    ``seed``, so every entry of the Jacobian counts) and the gradient of every
    floating-point input is compared with the numerical gradient of
    sum(divergence * f). An element passes when |analytic - numeric| <=
    atol + rtol * |numeric|. The live engine's tape is cleared; if no engine
    exists, a temporary one is used.

    Raises AssertionError with the report when a gradient disagrees, unless
    ``raise_exception`` is False.
    """
    arrays = [_as_float64(x) for x in inputs]
    engine, temporary = _engine()
    try:
        def run(*args: Any) -> np.ndarray:
            engine.zero_grad()
            return f(*args)

        output = run(*arrays)
        if divergence is None:
            divergence = np.random.default_rng(seed).standard_normal(np.shape(output))
        engine.backward(divergence, output=output)
        analytic = [_tape_gradient(engine, x) for x in arrays]
        numeric = numerical_gradient(run, arrays, divergence, eps)
        engine.zero_grad()
    finally:
        if temporary:
            engine.close()

    checks = [_compare(i, a, n, atol, rtol) for i, (a, n) in enumerate(zip(analytic, numeric)) if n is not None]
    result = GradcheckResult(
        ok=all(c.ok for c in checks),
        max_abs_error=max((c.max_abs_error for c in checks), default=0.0),
        max_rel_error=max((c.max_rel_error for c in checks), default=0.0),
        atol=atol, rtol=rtol, inputs=checks)
    if raise_exception and not result.ok:
        raise AssertionError(str(result))
    return result


def _engine() -> tuple:
    live = Autograd._live() if Autograd._live is not None else None
    return (live, False) if live is not None else (Autograd(), True)


def _tape_gradient(engine: Autograd, x: np.ndarray) -> Optional[np.ndarray]:
    if not _differentiable(x):
        return None
    if engine.memory_buffer.is_in_memory(x):
        return np.array(engine.memory_buffer.get_param(x))
    return np.zeros_like(x)  # the output does not depend on x


def _compare(index: int, analytic: np.ndarray, numeric: np.ndarray, atol: float, rtol: float) -> InputCheck:
    error = np.abs(analytic - numeric)
    rel = error / np.maximum(np.abs(numeric), np.finfo(np.float64).tiny)
    with np.errstate(invalid="ignore"):
        ok = analytic.shape == numeric.shape and bool(np.all(error <= atol + rtol * np.abs(numeric)))
    return InputCheck(index, analytic, numeric,
                      float(np.max(error, initial=0.0)), float(np.max(rel, initial=0.0)), ok)


def _as_float64(x: Any) -> Any:
    x = np.asarray(x)
    return np.array(x, dtype=np.float64) if _differentiable(x) else x


def _differentiable(x: Any) -> bool:
    return np.issubdtype(np.asarray(x).dtype, np.floating)
