"""Cases for the ``Autograd`` engine (mytorch/autograd_engine.py).

They record operations through the raw ``add_operation`` API with backward
functions defined here (correct by construction), so they grade the engine
alone, not the student's backward functions.
"""

from __future__ import annotations

import numpy as np

from autograder.grading.cases import Case, register


def _sum_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    return g.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1), keepdims=True)


def mul_grad(grad_output, a, b):
    return _sum_to(grad_output * b, a.shape), _sum_to(grad_output * a, b.shape)


def add_grad(grad_output, a, b):
    return _sum_to(grad_output, a.shape), _sum_to(grad_output, b.shape)


def exp_grad(grad_output, a):
    return grad_output * np.exp(a)


def matmul_grad(grad_output, a, b):
    return grad_output @ b.T, a.T @ grad_output


def _normal(**shapes):
    return lambda rng: {name: rng.standard_normal(shape) for name, shape in shapes.items()}


def _record(sub, inputs):
    engine = sub.new_engine()
    a, b = inputs["a"], inputs["b"]
    c = a * b
    engine.add_operation([a, b], c, [None, None], mul_grad)
    op = engine.operation_list[-1]
    return {"operation_list holds one operation": len(engine.operation_list) == 1,
            "operation.inputs are the very arrays given": op.inputs[0] is a and op.inputs[1] is b,
            "operation.output is the very array given": op.output is c,
            "operation.backward_operation is the function given": op.backward_operation is mul_grad}


register(Case("engine.record", "Autograd.add_operation", _normal(a=(3,), b=(3,)), _record,
              lambda inputs: {"operation_list holds one operation": True,
                              "operation.inputs are the very arrays given": True,
                              "operation.output is the very array given": True,
                              "operation.backward_operation is the function given": True}))


def _single_op(sub, inputs):
    engine = sub.new_engine()
    a, b = inputs["a"], inputs["b"]
    engine.add_operation([a, b], a * b, [None, None], mul_grad)
    engine.backward(inputs["g"])
    return {"dL/da": engine.memory_buffer.get_param(a), "dL/db": engine.memory_buffer.get_param(b)}


register(Case("engine.single_op", "Autograd.backward", _normal(a=(3, 4), b=(3, 4), g=(3, 4)), _single_op,
              lambda i: {"dL/da": i["g"] * i["b"], "dL/db": i["g"] * i["a"]}))


def _chain(sub, inputs):
    """y = exp(a * b + c): three operations, replayed in reverse."""
    engine = sub.new_engine()
    a, b, c = inputs["a"], inputs["b"], inputs["c"]
    ab = a * b
    engine.add_operation([a, b], ab, [None, None], mul_grad)
    s = ab + c
    engine.add_operation([ab, c], s, [None, None], add_grad)
    engine.add_operation([s], np.exp(s), [None], exp_grad)
    engine.backward(inputs["g"])
    get = engine.memory_buffer.get_param
    return {"dL/da": get(a), "dL/db": get(b), "dL/dc": get(c)}


def _chain_expected(i):
    """dL/dc = g * exp(ab + c); dL/da = that * b; dL/db = that * a."""
    dc = i["g"] * np.exp(i["a"] * i["b"] + i["c"])
    return {"dL/da": dc * i["b"], "dL/db": dc * i["a"], "dL/dc": dc}


register(Case("engine.chain", "Autograd.backward", _normal(a=(2, 3), b=(2, 3), c=(2, 3), g=(2, 3)),
              _chain, _chain_expected))


def _shared_input(sub, inputs):
    """y = x * x + x: x feeds two operations, so its gradient is the sum of both paths."""
    engine = sub.new_engine()
    x = inputs["x"]
    square = x * x
    engine.add_operation([x, x], square, [None, None], mul_grad)
    engine.add_operation([square, x], square + x, [None, None], add_grad)
    engine.backward(inputs["g"])
    return {"dL/dx": engine.memory_buffer.get_param(x)}


register(Case("engine.shared_input", "Autograd.backward (gradient accumulation)", _normal(x=(4,), g=(4,)),
              _shared_input, lambda i: {"dL/dx": i["g"] * (2 * i["x"] + 1)}))


def _layer_gradients(sub, inputs):
    """z = x @ W.T + b with dW (filled through its view dW.T) and db as gradients_to_update."""
    engine = sub.new_engine()
    x, W, b = inputs["x"], inputs["W"], inputs["b"]
    dW, db = np.zeros_like(W), np.zeros_like(b)
    Wt = W.T
    y = x @ Wt
    engine.add_operation([x, Wt], y, [None, dW.T], matmul_grad)
    engine.add_operation([y, b], y + b, [None, db], add_grad)
    engine.backward(inputs["g"])
    return {"dW (through the view dW.T)": dW, "db": db, "dL/dx (memory buffer)": engine.memory_buffer.get_param(x)}


register(Case("engine.gradients_to_update", "Autograd.backward (gradients_to_update)",
              _normal(x=(5, 3), W=(4, 3), b=(4,), g=(5, 4)), _layer_gradients,
              lambda i: {"dW (through the view dW.T)": i["g"].T @ i["x"], "db": i["g"].sum(axis=0),
                         "dL/dx (memory buffer)": i["g"] @ i["W"]}))


def _repeated(sub, inputs):
    """y = 3 x^2 + 15 backpropagated three times without zero_grad: dy/dx reads 6x, 12x, 18x."""
    engine = sub.new_engine()
    x = inputs["x"]
    square = x * x
    engine.add_operation([x, x], square, [None, None], mul_grad)
    three = np.full_like(x, 3.0)
    scaled = three * square
    engine.add_operation([three, square], scaled, [None, None], mul_grad)
    fifteen = np.full_like(x, 15.0)
    engine.add_operation([scaled, fifteen], scaled + fifteen, [None, None], add_grad)
    readings = {}
    for call in (1, 2, 3):
        engine.backward(np.ones_like(x))
        readings[f"dy/dx after backward call {call}"] = np.array(engine.memory_buffer.get_param(x))
    return readings


register(Case("engine.repeated_backward", "Autograd.backward (repeated calls)", _normal(x=(3,)), _repeated,
              lambda i: {f"dy/dx after backward call {k}": 6 * k * i["x"] for k in (1, 2, 3)}))


def _zero_grad(sub, inputs):
    engine = sub.new_engine()
    a, b = inputs["a"], inputs["b"]
    engine.add_operation([a, b], a * b, [None, None], mul_grad)
    engine.backward(1.0)
    engine.zero_grad()
    emptied = {"operation_list empty after zero_grad": len(engine.operation_list) == 0,
               "memory buffer empty after zero_grad": not engine.memory_buffer.is_in_memory(a)}
    engine.add_operation([a, b], a * b, [None, None], mul_grad)
    engine.backward(1.0)
    emptied["dL/da of the next pass (not added to the old one)"] = engine.memory_buffer.get_param(a)
    return emptied


register(Case("engine.zero_grad", "Autograd.zero_grad", _normal(a=(3,), b=(3,)), _zero_grad,
              lambda i: {"operation_list empty after zero_grad": True, "memory buffer empty after zero_grad": True,
                         "dL/da of the next pass (not added to the old one)": i["b"]}))


def _other_output(sub, inputs):
    """Two results on one tape; differentiate the first: the second's operation must not run."""
    engine = sub.new_engine()
    a, b = inputs["a"], inputs["b"]
    calls = []

    def counting_exp_grad(grad_output, a):
        calls.append(1)
        return exp_grad(grad_output, a)

    first = a * b
    engine.add_operation([a, b], first, [None, None], mul_grad)
    engine.add_operation([a], np.exp(a), [None], counting_exp_grad)
    engine.backward(inputs["g"], output=first)
    return {"dL/da of the first result": engine.memory_buffer.get_param(a),
            "backward calls of the unrelated operation": len(calls)}


register(Case("engine.other_output", "Autograd.backward (output=..., skipping unreached operations)",
              _normal(a=(3,), b=(3,), g=(3,)), _other_output,
              lambda i: {"dL/da of the first result": i["g"] * i["b"], "backward calls of the unrelated operation": 0}))
