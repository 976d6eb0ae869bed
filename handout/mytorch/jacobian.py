"""The Jacobian J[i, k] = d f(x)_i / d x_k, three ways.

For f: R^n -> R^m (x and f(x) of any shape, flattened in C order):

- reverse mode: one forward pass records f on the Autograd tape, then one
  backward pass per output i computes the vector-Jacobian product e_i^T J,
  row i. Cost: 1 forward + m backward passes.
- forward mode: one pass of f on dual numbers per input k computes the
  Jacobian-vector product J e_k, column k. Cost: n forward passes.
- numerical: central differences, two evaluations of f per input k.
  Cost: 2n evaluations, and only about 8 correct digits.

So reverse mode wins for a scalar loss of many inputs (m = 1), forward mode
for few inputs and many outputs (see examples/jacobian_costs.py).

What f receives. Reverse mode calls f with a float64 array that it must use
through recording operations: the F helpers (``F.tanh(F.matmul(A, x))``) or
the Tensor front end (``Tensor(x)`` wraps that very array). Forward mode
calls f with a ``Dual``. The numerical mode calls f with a plain array, with
recording switched off (``no_grad``). Tensor and Dual have the same operators
and methods (``@``, ``**``, ``.tanh()``, ``.sum()``, ...), so one function of
the form ``lambda x: g(Tensor(x) if reverse else x)`` serves all three; see
the README and hw_tests/test_jacobian.py.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from mytorch.autograd_engine import Autograd, is_recording, no_grad
from mytorch.forward_mode import Dual, _tangent_of
from mytorch.gradcheck import numerical_jacobian
from mytorch.tensor import Tensor

Function = Callable[[Any], Any]
MODES = ("reverse", "forward", "numerical")


def jacobian(f: Function, x: Any, mode: str = "reverse", eps: float = 1e-6) -> np.ndarray:
    """J[i, k] = d f(x)_i / d x_k, of shape (f(x).size, x.size), by ``mode``.

    mode: "reverse" (``jacobian_reverse``), "forward" (``jacobian_forward``)
    or "numerical" (``jacobian_numerical``, with step ``eps``). Each mode calls
    f with a different kind of argument; see the module docstring.
    """
    if mode == "reverse":
        return jacobian_reverse(f, x)
    if mode == "forward":
        return jacobian_forward(f, x)
    if mode == "numerical":
        return jacobian_numerical(f, x, eps)
    raise ValueError(f"jacobian: mode must be one of {MODES}, got {mode!r}")


def jacobian_reverse(f: Function, x: Any) -> np.ndarray:
    """J by reverse mode: row i = e_i^T J, one backward pass through the tape per output.

    f(x) is recorded once on the live engine (a temporary one if none is
    alive); then for each output i, ``engine.backward(e_i, output=y)`` sends
    the one-hot seed back and the gradient of x is row i. The memory buffer is
    cleared between rows because leaf gradients accumulate across passes.

    The live engine's tape and gradients are cleared before and after. If f
    writes gradients into arrays of its own (a layer's ``gradients_to_update``),
    those receive the sum of all rows. Shapes: x (...) with n elements, f(x)
    (...) with m elements, J (m, n).
    """
    if not is_recording():
        raise RuntimeError("jacobian_reverse: cannot record f inside no_grad(); call it outside.")
    x = np.array(x, dtype=np.float64)  # a private leaf, so its gradient is ours alone
    live = Autograd._live() if Autograd._live is not None else None
    engine = live if live is not None else Autograd()
    try:
        engine.zero_grad()
        y = _unwrap(f(x))
        if y is x:
            return np.eye(x.size)
        _check_recorded(engine, x, y)
        rows = []
        for i in range(y.size):
            seed = np.zeros(y.size)
            seed[i] = 1.0
            engine.memory_buffer.clear()  # keep the tape, forget the previous row's gradients
            engine.backward(seed.reshape(y.shape), output=y)
            buffer = engine.memory_buffer
            rows.append(np.array(buffer.get_param(x)).ravel() if buffer.is_in_memory(x) else np.zeros(x.size))
        return np.stack(rows) if rows else np.zeros((0, x.size))
    finally:
        engine.zero_grad()
        if live is None:
            engine.close()


def jacobian_forward(f: Function, x: Any) -> np.ndarray:
    """J by forward mode: column k = J e_k, one pass of f on ``Dual(x, e_k)`` per input.

    f must compute with dual-number operations (operators, ``Dual`` methods,
    ``mytorch.forward_mode`` functions). Shapes: x (...) with n elements,
    f(x) (...) with m elements, J (m, n).
    """
    x = np.array(x, dtype=np.float64)
    columns = []
    for k in range(x.size):
        seed = np.zeros(x.size)
        seed[k] = 1.0
        _, tangent = _tangent_of(f(Dual(x, seed.reshape(x.shape))), "jacobian_forward")
        columns.append(np.ravel(tangent))
    if not columns:
        return np.zeros((np.size(_plain(f, x)), 0))
    return np.stack(columns, axis=1)


def jacobian_numerical(f: Function, x: Any, eps: float = 1e-6) -> np.ndarray:
    """J by central differences: column k = (f(x + eps e_k) - f(x - eps e_k)) / (2 eps).

    f is called on plain float64 arrays with recording off (a Tensor result is
    unwrapped). Error about eps**2 |f'''| + ulp(f) / eps: roughly 1e-8 in float64.
    Shapes: x (...) with n elements, f(x) (...) with m elements, J (m, n).
    """
    return numerical_jacobian(lambda z: _plain(f, z), x, eps)


def _plain(f: Function, x: np.ndarray) -> np.ndarray:
    with no_grad():
        return np.asarray(_unwrap(f(x)), dtype=np.float64)


def _unwrap(y: Any) -> Any:
    if isinstance(y, Tensor):
        return y.data
    if isinstance(y, Dual):
        raise TypeError("jacobian: f returned a Dual; use mode='forward' for dual-number functions.")
    return y


def _check_recorded(engine: Autograd, x: np.ndarray, y: Any) -> None:
    """Refuse what would give a silently wrong (zero) Jacobian: f computed off the tape."""
    hint = ("write f with recording operations (mytorch.nn.functional helpers, or Tensor(x) "
            "operators) applied to the array f receives")
    if not isinstance(y, np.ndarray) or not any(op.output is y for op in engine.operation_list):
        raise ValueError(f"jacobian_reverse: f's output ({type(y).__name__}) was not recorded on the "
                         f"tape; {hint}.")
    if not any(inp is x and i not in op.constants
               for op in engine.operation_list for i, inp in enumerate(op.inputs)):
        raise ValueError(
            "jacobian_reverse: no recorded operation used x itself as a differentiable input, so "
            "the tape cannot differentiate with respect to it (plain NumPy on x, a view such as "
            f"x.reshape, or Tensor(x, requires_grad=False)); {hint}."
        )
