"""Cases for ``MemoryBuffer`` (mytorch/utils.py): gradients keyed by array identity."""

from __future__ import annotations

import numpy as np

from autograder.grading.cases import scenario


def _normal(*shapes: tuple):
    return lambda rng: {f"x{i}": rng.standard_normal(shape) for i, shape in enumerate(shapes)}


scenario("buffer.accumulate", "MemoryBuffer.add_spot/update_param/get_param", _normal((3, 4), (3, 4), (3, 4)),
         lambda inputs: {"add_spot gives zeros": np.zeros((3, 4)), "is_in_memory after add_spot": True,
                         "get_param after two update_param calls": inputs["x1"] + inputs["x2"]})

scenario("buffer.views", "MemoryBuffer keys (views and reused addresses)",
         _normal((3, 4), (2, 5), (3, 4), (4, 3), (2, 5), (10,)),
         lambda inputs: {"gradient of W": inputs["x2"], "gradient of x": inputs["x4"],
                         "gradient of x.reshape(-1)": inputs["x5"],
                         "W has a gradient and a fresh view W.T has none": True})

scenario("buffer.set_clear", "MemoryBuffer.set_param/clear", _normal((4,), (4,), (4,)),
         lambda inputs: {"get_param after set_param": inputs["x2"], "in memory before clear, not after": True,
                         "get_param after clear raises GradientNotFoundError": True})
