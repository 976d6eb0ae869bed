"""Gradient checks for layers: the tape's gradients of inputs AND parameters against central differences.

``mytorch.gradcheck`` compares the gradients the engine keeps in its memory
buffer. A layer's parameter gradients do not go there: the engine adds them
into the layer's own arrays (``dW``, ``db``) in place. ``check_module``
compares both kinds against central differences of the scalar
sum_k sum(divergence_k * output_k), perturbing each parameter in place.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np

from mytorch import current_engine, no_grad
from mytorch.nn.module import Module


def _outputs(result: Any) -> tuple:
    return tuple(result) if isinstance(result, (tuple, list)) else (result,)


def check_gradients(f: Callable[..., Any], inputs: Sequence[np.ndarray],
                    params: Sequence[tuple[str, np.ndarray, np.ndarray]], seed: int = 0,
                    eps: float = 1e-6, atol: float = 1e-6, rtol: float = 1e-5,
                    wrt: Optional[Sequence[int]] = None) -> dict:
    """Compare the tape's gradients of ``f(*inputs)`` with central differences, in float64.

    f records its computation and returns one output or a tuple of outputs.
    ``params`` are (name, parameter, gradient array) triples (``named_parameters()``):
    the gradient arrays must be zero on entry and are compared after backward.
    Every output k is backpropagated with a random divergence d_k, so the check
    covers every entry of the Jacobian. Floating-point inputs (those whose index is in
    ``wrt``, if given) are compared through the engine's memory buffer (zero if no
    gradient reached them).
    Raises AssertionError naming the first mismatching input or parameter;
    returns {name: analytic gradient}.
    """
    engine = current_engine()
    engine.zero_grad()
    outputs = _outputs(f(*inputs))
    rng = np.random.default_rng(seed)
    divergences = [rng.standard_normal(np.shape(o)) for o in outputs]
    for output, divergence in zip(outputs, divergences):
        engine.backward(divergence, output=output)

    analytic, targets = {}, {}
    for i, x in enumerate(inputs):
        if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating) and (wrt is None or i in wrt):
            buffer = engine.memory_buffer
            analytic[f"input {i}"] = np.array(buffer.get_param(x)) if buffer.is_in_memory(x) else np.zeros_like(x)
            targets[f"input {i}"] = x
    for name, param, grad in params:
        analytic[name] = np.array(grad)
        targets[name] = param
    engine.zero_grad()

    def objective() -> float:
        with no_grad():
            return float(sum(np.sum(d * o) for d, o in zip(divergences, _outputs(f(*inputs)))))

    for name, array in targets.items():
        numeric = np.zeros(array.shape)
        for k in range(array.size):
            original = array.flat[k]
            array.flat[k] = original + eps
            plus = objective()
            array.flat[k] = original - eps
            minus = objective()
            array.flat[k] = original
            numeric.flat[k] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(analytic[name], numeric, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of {name} (shape {array.shape}): tape vs central differences")
    return analytic


def check_module(module: Module, *inputs: Any, seed: int = 0, **tolerances: Any) -> dict:
    """``check_gradients`` for ``module(*inputs)``: every float input and every parameter of the module.

    The module's gradient arrays are zeroed first and afterwards.
    """
    module.zero_grad()
    try:
        return check_gradients(module, inputs, module.named_parameters(), seed=seed, **tolerances)
    finally:
        module.zero_grad()


def float64(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Standard normal samples of ``shape``."""
    return rng.standard_normal(shape)
