"""Cases for ``MemoryBuffer`` (mytorch/utils.py): gradients keyed by array identity."""

from __future__ import annotations

import numpy as np

from autograder.grading.cases import Case, register


def _normal(*shapes: tuple):
    return lambda rng: {f"x{i}": rng.standard_normal(shape) for i, shape in enumerate(shapes)}


def _accumulate(sub, inputs: dict) -> dict:
    x, g1, g2 = inputs["x0"], inputs["x1"], inputs["x2"]
    buffer = sub.utils.MemoryBuffer()
    buffer.add_spot(x)
    zeros = np.array(buffer.get_param(x), dtype=float)
    buffer.update_param(x, g1)
    buffer.update_param(x, g2)
    return {"add_spot gives zeros": zeros, "is_in_memory after add_spot": bool(buffer.is_in_memory(x)),
            "get_param after two update_param calls": buffer.get_param(x)}


register(Case(
    "buffer.accumulate", "MemoryBuffer.add_spot/update_param/get_param", _normal((3, 4), (3, 4), (3, 4)),
    _accumulate,
    lambda inputs: {"add_spot gives zeros": np.zeros((3, 4)), "is_in_memory after add_spot": True,
                    "get_param after two update_param calls": inputs["x1"] + inputs["x2"]}))


def _views(sub, inputs: dict) -> dict:
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
            "a fresh view W.T has no gradient": not buffer.is_in_memory(Wt)}


register(Case(
    "buffer.views", "MemoryBuffer keys (views and reused addresses)", _normal((3, 4), (2, 5), (3, 4), (4, 3), (2, 5), (10,)),
    _views,
    lambda inputs: {"gradient of W": inputs["x2"], "gradient of x": inputs["x4"],
                    "gradient of x.reshape(-1)": inputs["x5"], "a fresh view W.T has no gradient": True}))


def _set_clear(sub, inputs: dict) -> dict:
    x, g1, g2 = inputs["x0"], inputs["x1"], inputs["x2"]
    buffer = sub.utils.MemoryBuffer()
    buffer.update_param(x, g1)
    buffer.set_param(x, g2)
    after_set = np.array(buffer.get_param(x))
    buffer.clear()
    return {"get_param after set_param": after_set, "is_in_memory after clear": bool(buffer.is_in_memory(x))}


register(Case(
    "buffer.set_clear", "MemoryBuffer.set_param/clear", _normal((4,), (4,), (4,)), _set_clear,
    lambda inputs: {"get_param after set_param": inputs["x2"], "is_in_memory after clear": False}))
