"""The test process's half of every graded case: call the handin, name what it returned.

A case reaches the test process as a *runner* name, a JSON *plan* and the input
arrays. The runners below know how to call a student's backward function, layer,
loss, engine or memory buffer; none of them knows an expected value. What a
runner returns (named arrays, numbers, booleans) goes back to the grader, which
judges it against its oracle after this process has exited.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Callable, Optional

import numpy as np

from autograder.harness.protocol import decode_param


class Submission:
    """The student's ``mytorch`` as the runners see it."""

    def __init__(self) -> None:
        self.last_engine: Any = None  # the engine of a composite case, for the tape probe

    @staticmethod
    def module(name: str) -> ModuleType:
        return importlib.import_module(f"mytorch.{name}")

    @property
    def functional(self) -> ModuleType:
        return self.module("nn.functional")

    @property
    def utils(self) -> ModuleType:
        return self.module("utils")

    def new_engine(self) -> Any:
        """A fresh engine, releasing any earlier one (the singleton allows one at a time)."""
        if self.last_engine is not None:
            close = getattr(self.last_engine, "close", None)
            if callable(close):
                close()
            self.last_engine = None
        self.last_engine = self.module("autograd_engine").Autograd()
        return self.last_engine


class Raised:
    """A part the handin raised an exception for; the other parts of the test keep their points."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class SetupError(Exception):
    """The handin's object is not what the handout describes, so the test cannot even set it up."""


class WrongArity(Exception):
    """A backward function returned a different number of gradients than it has inputs."""

    def __init__(self, got: int, expected: int) -> None:
        super().__init__(f"returned {got} gradient(s) for {expected} input(s)")


def grads_by_name(names: list, result: Any, prefix: str = "") -> dict:
    """Name the gradients a backward function returned: {'dL/da': ..., 'dL/db': ...}.

    A lone array is accepted for a one-input function, as the engine accepts it.
    """
    grads = tuple(result) if isinstance(result, (tuple, list)) else (result,)
    if len(grads) != len(names):
        raise WrongArity(len(grads), len(names))
    return {f"{prefix}dL/d{n}": g for n, g in zip(names, grads)}


def buffer_gradient(engine: Any, array: np.ndarray) -> Optional[np.ndarray]:
    buffer = engine.memory_buffer
    return buffer.get_param(array) if buffer.is_in_memory(array) else None


# ---------------------------------------------------------------- generic runners

def run_backward(sub: Submission, inputs: dict, plan: dict) -> dict:
    """Call one backward function once per planned call: ``f(grad_output, *inputs, **params)``."""
    function = getattr(sub.functional, plan["function"])
    results = {}
    for call in plan["calls"]:
        label = call["label"]
        arrays = [inputs[f"{label}/{name}"] for name in call["inputs"]]
        params = {key: decode_param(value) for key, value in call["params"].items()}
        params.update({name: inputs[f"{label}/{name}"] for name in call["constants"]})
        try:
            returned = function(inputs[f"{label}/grad_output"], *arrays, **params)
        except (NotImplementedError, MemoryError):  # the whole function, not this call: said once for the test
            raise
        except Exception as error:  # this call's parts alone: the other calls are independent of it
            results.update({f"{label}: dL/d{name}": Raised(error) for name in call["inputs"]})
            continue
        results.update(grads_by_name(call["inputs"], returned, prefix=f"{label}: "))
    return results


def run_layer(sub: Submission, inputs: dict, plan: dict) -> dict:
    """Build the layer, set its parameters, run the forward, backpropagate ``upstream``."""
    engine = sub.new_engine()
    layer_class = getattr(sub.module(plan["module"]), plan["class"])
    args = [decode_param(a) for a in plan["args"]]
    kwargs = {key: decode_param(value) for key, value in plan["kwargs"].items()}
    layer = layer_class(*args, engine, **kwargs)
    for key, attribute in plan["params"].items():
        _set_parameter(layer, plan["class"], attribute, inputs[key])
    output = layer(*(inputs[name] for name in plan["call"]))
    engine.backward(inputs["upstream"], output=output)
    results = {"forward output": output}
    results.update({f"dL/d{name}": buffer_gradient(engine, inputs[name]) for name in plan["call"]})
    results.update({f"dL/d{attribute}": getattr(layer, "d" + attribute) for attribute in plan["params"].values()})
    return results


def _set_parameter(layer: Any, class_name: str, attribute: str, value: np.ndarray) -> None:
    """Set a parameter in place to the test's seeded values, saying what is wrong when it cannot be."""
    current = getattr(layer, attribute, None)
    if not isinstance(current, np.ndarray):
        raise SetupError(f"{class_name}.{attribute} is {type(current).__name__}, expected a NumPy array of "
                         f"shape {value.shape} (set in __init__)")
    if current.shape != value.shape:
        raise SetupError(f"{class_name}.{attribute} has shape {current.shape}, expected {value.shape}")
    current[...] = value


def run_loss(sub: Submission, inputs: dict, plan: dict) -> dict:
    engine = sub.new_engine()
    loss = getattr(sub.module("nn.loss"), plan["class"])(engine)
    value = loss(inputs["prediction"], inputs["target"])
    loss.backward()
    return {"loss value": value, "dL/dprediction": buffer_gradient(engine, inputs["prediction"])}


def run_scenario(sub: Submission, inputs: dict, plan: dict) -> dict:
    return SCENARIOS[plan["name"]](sub, inputs)


RUNNERS: dict[str, Callable[[Submission, dict, dict], dict]] = {
    "backward": run_backward, "layer": run_layer, "loss": run_loss, "scenario": run_scenario}


# ---------------------------------------------------------------- memory buffer scenarios

def _buffer_accumulate(sub: Submission, inputs: dict) -> dict:
    x, g1, g2 = inputs["x0"], inputs["x1"], inputs["x2"]
    buffer = sub.utils.MemoryBuffer()
    buffer.add_spot(x)
    zeros = np.array(buffer.get_param(x), dtype=float)
    buffer.update_param(x, g1)
    buffer.update_param(x, g2)
    return {"add_spot gives zeros": zeros, "is_in_memory after add_spot": bool(buffer.is_in_memory(x)),
            "get_param after two update_param calls": buffer.get_param(x)}


def _buffer_views(sub: Submission, inputs: dict) -> dict:
    W, x, g_w, g_wt, g_x, g_flat = (inputs[f"x{i}"] for i in range(6))
    buffer = sub.utils.MemoryBuffer()
    flat = x.reshape(-1)
    for array, grad in ((W, g_w), (W.T, g_wt), (x, g_x), (flat, g_flat)):
        buffer.update_param(array, grad)
    # A new view: same data pointer as W and the W.T above, and if the buffer let that W.T be
    # freed, possibly its id too. Either way it must not inherit a gradient.
    Wt = W.T
    return {"gradient of W": buffer.get_param(W), "gradient of x": buffer.get_param(x),
            "gradient of x.reshape(-1)": buffer.get_param(flat),
            # A buffer that stores nothing must not earn this part: W must have its gradient, the view none.
            "W has a gradient and a fresh view W.T has none": buffer.is_in_memory(W) and not buffer.is_in_memory(Wt)}


def _buffer_set_clear(sub: Submission, inputs: dict) -> dict:
    x, g1, g2 = inputs["x0"], inputs["x1"], inputs["x2"]
    buffer = sub.utils.MemoryBuffer()
    buffer.update_param(x, g1)
    buffer.set_param(x, g2)
    after_set = np.array(buffer.get_param(x))
    before = bool(buffer.is_in_memory(x))
    buffer.clear()
    try:
        buffer.get_param(x)
        raised = False
    except sub.utils.GradientNotFoundError:
        raised = True
    return {"get_param after set_param": after_set,
            "in memory before clear, not after": before and not bool(buffer.is_in_memory(x)),
            "get_param after clear raises GradientNotFoundError": raised}


# ---------------------------------------------------------------- engine scenarios
# They record through the raw add_operation API with backward functions written here (correct by
# construction), so they grade the student's engine alone, not the student's backward functions.

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


def _engine_record(sub: Submission, inputs: dict) -> dict:
    engine = sub.new_engine()
    a, b = inputs["a"], inputs["b"]
    c = a * b
    engine.add_operation([a, b], c, [None, None], mul_grad)
    op = engine.operation_list[-1]
    spots = len(engine.memory_buffer.memory)
    zeros = np.array(engine.memory_buffer.get_param(a), dtype=float)
    return {"operation_list holds one operation": len(engine.operation_list) == 1,
            "the memory buffer has a spot for each of the 2 inputs": spots == 2,
            "get_param of an input before backward (zeros)": zeros,
            "operation.inputs are the very arrays given": op.inputs[0] is a and op.inputs[1] is b,
            "operation.output is the very array given": op.output is c,
            "operation.backward_operation is the function given": op.backward_operation is mul_grad}


def _engine_single_op(sub: Submission, inputs: dict) -> dict:
    engine = sub.new_engine()
    a, b = inputs["a"], inputs["b"]
    engine.add_operation([a, b], a * b, [None, None], mul_grad)
    engine.backward(inputs["g"])
    return {"dL/da": engine.memory_buffer.get_param(a), "dL/db": engine.memory_buffer.get_param(b)}


def _engine_chain(sub: Submission, inputs: dict) -> dict:
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


def _engine_shared_input(sub: Submission, inputs: dict) -> dict:
    """y = x * x + x: x feeds two operations, so its gradient is the sum of both paths."""
    engine = sub.new_engine()
    x = inputs["x"]
    square = x * x
    engine.add_operation([x, x], square, [None, None], mul_grad)
    engine.add_operation([square, x], square + x, [None, None], add_grad)
    engine.backward(inputs["g"])
    return {"dL/dx": engine.memory_buffer.get_param(x)}


def _engine_gradients_to_update(sub: Submission, inputs: dict) -> dict:
    """z = x @ W.T + b with dW (filled through its view dW.T) and db as gradients_to_update."""
    engine = sub.new_engine()
    x, W, b = inputs["x"], inputs["W"], inputs["b"]
    dW, db = np.zeros_like(W), np.zeros_like(b)
    Wt = W.T
    y = x @ Wt
    engine.add_operation([x, Wt], y, [None, dW.T], matmul_grad)
    engine.add_operation([y, b], y + b, [None, db], add_grad)
    engine.backward(inputs["g"])
    results = {"dW (through the view dW.T)": dW, "db": db,
               "dL/dx (memory buffer)": np.array(engine.memory_buffer.get_param(x))}
    # A gradients_to_update array on an intermediate input receives its gradient, which also flows on.
    engine = sub.new_engine()
    y = x @ Wt
    engine.add_operation([x, Wt], y, [None, None], matmul_grad)
    dy = np.zeros_like(y)
    engine.add_operation([y, b], y + b, [dy, None], add_grad)
    engine.backward(inputs["g"])
    results.update({"dy (the array given for an intermediate)": dy,
                    "dL/dx through that intermediate": engine.memory_buffer.get_param(x)})
    return results


def _engine_repeated(sub: Submission, inputs: dict) -> dict:
    """y = 3 x^2 + 15 backpropagated three times without zero_grad."""
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
        # An intermediate's gradient is this pass's, never compounded across calls.
        readings[f"dy/d(x^2) after backward call {call}"] = np.array(engine.memory_buffer.get_param(square))
    return readings


def _engine_zero_grad(sub: Submission, inputs: dict) -> dict:
    engine = sub.new_engine()
    a, b = inputs["a"], inputs["b"]
    engine.add_operation([a, b], a * b, [None, None], mul_grad)
    engine.backward(1.0)
    recorded, had_gradient = len(engine.operation_list), bool(engine.memory_buffer.is_in_memory(a))
    engine.zero_grad()
    # Each part needs the state before zero_grad too: an engine that records and stores nothing earns neither.
    emptied = {"operation_list: 1 operation, then none after zero_grad":
               recorded == 1 and len(engine.operation_list) == 0,
               "memory buffer: a gradient for a, then none after zero_grad":
               had_gradient and not engine.memory_buffer.is_in_memory(a)}
    engine.add_operation([a, b], a * b, [None, None], mul_grad)
    engine.backward(1.0)
    emptied["dL/da of the next pass (not added to the old one)"] = engine.memory_buffer.get_param(a)
    return emptied


def _engine_other_output(sub: Submission, inputs: dict) -> dict:
    """Two results on one tape; differentiate the first: the second's operation must not run."""
    engine = sub.new_engine()
    a, b = inputs["a"], inputs["b"]
    calls = {"mul": 0, "exp": 0}

    def counting_mul_grad(grad_output, a, b):
        calls["mul"] += 1
        return mul_grad(grad_output, a, b)

    def counting_exp_grad(grad_output, a):
        calls["exp"] += 1
        return exp_grad(grad_output, a)

    first = a * b
    engine.add_operation([a, b], first, [None, None], counting_mul_grad)
    engine.add_operation([a], np.exp(a), [None], counting_exp_grad)
    engine.backward(inputs["g"], output=first)
    return {"dL/da of the first result": engine.memory_buffer.get_param(a),
            "the first result's operation ran once, the unrelated one not at all":
            calls["mul"] == 1 and calls["exp"] == 0}


SCENARIOS: dict[str, Callable[[Submission, dict], dict]] = {
    "buffer.accumulate": _buffer_accumulate,
    "buffer.views": _buffer_views,
    "buffer.set_clear": _buffer_set_clear,
    "engine.record": _engine_record,
    "engine.single_op": _engine_single_op,
    "engine.chain": _engine_chain,
    "engine.shared_input": _engine_shared_input,
    "engine.gradients_to_update": _engine_gradients_to_update,
    "engine.repeated_backward": _engine_repeated,
    "engine.zero_grad": _engine_zero_grad,
    "engine.other_output": _engine_other_output,
}
