"""Cases for the ``Autograd`` engine (mytorch/autograd_engine.py).

The test process records operations through the raw ``add_operation`` API with
backward functions of its own (``autograder.harness.calls``, correct by
construction), so these grade the engine alone, not the student's backward functions.
"""

from __future__ import annotations

import numpy as np

from autograder.grading.cases import scenario


def _normal(**shapes):
    return lambda rng: {name: rng.standard_normal(shape) for name, shape in shapes.items()}


scenario("engine.record", "Autograd.add_operation", _normal(a=(3,), b=(3,)),
         lambda inputs: {"operation_list holds one operation": True,
                         "operation.inputs are the very arrays given": True,
                         "operation.output is the very array given": True,
                         "operation.backward_operation is the function given": True})

scenario("engine.single_op", "Autograd.backward", _normal(a=(3, 4), b=(3, 4), g=(3, 4)),
         lambda i: {"dL/da": i["g"] * i["b"], "dL/db": i["g"] * i["a"]})


def _chain_expected(i):
    """y = exp(a * b + c): dL/dc = g * exp(ab + c); dL/da = that * b; dL/db = that * a."""
    dc = i["g"] * np.exp(i["a"] * i["b"] + i["c"])
    return {"dL/da": dc * i["b"], "dL/db": dc * i["a"], "dL/dc": dc}


scenario("engine.chain", "Autograd.backward", _normal(a=(2, 3), b=(2, 3), c=(2, 3), g=(2, 3)), _chain_expected)

# y = x * x + x: dy/dx = 2x + 1
scenario("engine.shared_input", "Autograd.backward (gradient accumulation)", _normal(x=(4,), g=(4,)),
         lambda i: {"dL/dx": i["g"] * (2 * i["x"] + 1)})

# z = x @ W.T + b: dL/dW = g^T x, dL/db = sum of g's rows, dL/dx = g W
scenario("engine.gradients_to_update", "Autograd.backward (gradients_to_update)",
         _normal(x=(5, 3), W=(4, 3), b=(4,), g=(5, 4)),
         lambda i: {"dW (through the view dW.T)": i["g"].T @ i["x"], "db": i["g"].sum(axis=0),
                    "dL/dx (memory buffer)": i["g"] @ i["W"]})

# y = 3 x^2 + 15 backpropagated k times without zero_grad: the leaf's gradient reads 6x k
scenario("engine.repeated_backward", "Autograd.backward (repeated calls)", _normal(x=(3,)),
         lambda i: {f"dy/dx after backward call {k}": 6 * k * i["x"] for k in (1, 2, 3)})

scenario("engine.zero_grad", "Autograd.zero_grad", _normal(a=(3,), b=(3,)),
         lambda i: {"operation_list empty after zero_grad": True, "memory buffer empty after zero_grad": True,
                    "dL/da of the next pass (not added to the old one)": i["b"]})

scenario("engine.other_output", "Autograd.backward (output=..., skipping unreached operations)",
         _normal(a=(3,), b=(3,), g=(3,)),
         lambda i: {"dL/da of the first result": i["g"] * i["b"], "backward calls of the unrelated operation": 0})
