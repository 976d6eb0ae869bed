"""Cases for the backward functions of ``mytorch/nn/functional.py``, called directly.

Each call feeds a backward function inputs and an upstream gradient and
compares what it returns with the central-difference vector-Jacobian product
of the NumPy forward (``oracle.PRIMITIVES``). Calls include broadcast pairs,
so a backward that forgets to unbroadcast loses those parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autograder.grading import oracle
from autograder.grading.cases import Case, register
from autograder.harness.protocol import encode_param


@dataclass
class Call:
    """One invocation of a backward function: input shapes, their domain, the non-differentiable params."""

    label: str
    shapes: dict  # input name -> shape
    params: dict = field(default_factory=dict)
    domain: str = "normal"  # normal | positive | away_from_zero
    labels: Any = None  # integer-label input: (name, number of classes)
    constants: dict = field(default_factory=dict)  # random arrays passed as keyword params, name -> shape
    # A call at a kink or a tie, where central differences say nothing: fixed inputs (name -> values,
    # their shapes in ``shapes``) and the rule the writeup states, rule(grad_output, *inputs) -> gradients.
    fixed: dict = field(default_factory=dict)
    rule: Any = None


def _draw(rng: np.random.Generator, shape: tuple, domain: str) -> np.ndarray:
    if domain == "positive":
        return rng.uniform(0.5, 2.0, size=shape)
    x = rng.standard_normal(shape)
    if domain == "away_from_zero":  # keep kinks (relu, abs) and ties farther than eps from every element
        x = np.sign(x) * (np.abs(x) + 0.1)
    return x


def backward_case(name: str, backward: str, calls: list, rtol: float = 1e-5, atol: float = 1e-6) -> Case:
    forward, _ = oracle.PRIMITIVES[backward]

    def make_inputs(rng: np.random.Generator) -> dict:
        inputs = {}
        for call in calls:
            arrays = [np.array(call.fixed[name], dtype=float) if name in call.fixed else _draw(rng, shape, call.domain)
                      for name, shape in call.shapes.items()]
            if call.labels is not None:
                label_name, classes = call.labels
                position = list(call.shapes).index(label_name)
                arrays[position] = rng.integers(0, classes, size=call.shapes[label_name])
            for input_name, array in zip(call.shapes, arrays):
                inputs[f"{call.label}/{input_name}"] = array
            for constant_name, shape in call.constants.items():
                inputs[f"{call.label}/{constant_name}"] = _draw(rng, shape, call.domain)
            output = forward(*arrays, **params_of(inputs, call))
            inputs[f"{call.label}/grad_output"] = rng.standard_normal(np.shape(output))
        return inputs

    def arrays_of(inputs: dict, call: Call) -> list:
        return [inputs[f"{call.label}/{n}"] for n in call.shapes]

    def params_of(inputs: dict, call: Call) -> dict:
        return {**call.params, **{n: inputs[f"{call.label}/{n}"] for n in call.constants}}

    def expected(inputs: dict) -> dict:
        results = {}
        for call in calls:
            if call.rule is not None:
                grads = call.rule(inputs[f"{call.label}/grad_output"], *arrays_of(inputs, call))
            else:
                grads = oracle.numerical_vjp(forward, arrays_of(inputs, call),
                                             inputs[f"{call.label}/grad_output"], params_of(inputs, call))
            results.update({f"{call.label}: dL/d{n}": g for n, g in zip(call.shapes, grads) if g is not None})
        return results

    plan = {"function": backward,
            "calls": [{"label": call.label, "inputs": list(call.shapes), "constants": list(call.constants),
                       "params": {key: encode_param(value) for key, value in call.params.items()}}
                      for call in calls]}
    return register(Case(name, backward, make_inputs, expected, "backward", plan, rtol=rtol, atol=atol))


def binary_calls(domain: str = "normal") -> list:
    """Same shapes, a bias broadcast over rows, a scalar, and size-1 axes on both sides."""
    return [Call("same shape", {"a": (3, 4), "b": (3, 4)}, domain=domain),
            Call("row broadcast", {"a": (5, 3), "b": (3,)}, domain=domain),
            Call("scalar b", {"a": (2, 3), "b": ()}, domain=domain),
            Call("size-1 axes", {"a": (4, 1), "b": (1, 3)}, domain=domain)]


# ---- elementwise, two inputs
backward_case("backward.add", "add_backward", binary_calls())
backward_case("backward.sub", "sub_backward", binary_calls())
backward_case("backward.mul", "mul_backward", binary_calls())
backward_case("backward.div", "div_backward", binary_calls("positive"))
backward_case("backward.pow", "pow_scalar_backward", [
    Call("cube", {"a": (3, 4)}, {"exponent": 3}),
    Call("square root", {"a": (5,)}, {"exponent": 0.5}, domain="positive"),
    Call("zero power", {"a": (2, 2)}, {"exponent": 0}),
])
backward_case("backward.pow_arrays", "pow_backward", [
    Call("array power", {"a": (3, 4), "b": (3, 4)}, domain="positive"),
    Call("broadcast exponent", {"a": (2, 3), "b": (3,)}, domain="positive"),
])
backward_case("backward.neg", "neg_backward", [Call("matrix", {"a": (3, 4)})])
backward_case("backward.maximum", "maximum_backward", [
    Call("same shape", {"a": (3, 4), "b": (3, 4)}, domain="away_from_zero"),
    Call("broadcast", {"a": (2, 3), "b": (3,)}, domain="away_from_zero"),
    # a tie sends half of the gradient to each input
    Call("ties", {"a": (3,), "b": (3,)}, fixed={"a": [1.0, 2.0, 3.0], "b": [1.0, 0.0, 3.0]},
         rule=lambda g, a, b: [g * np.array([0.5, 1.0, 0.5]), g * np.array([0.5, 0.0, 0.5])]),
])
backward_case("backward.minimum", "minimum_backward", [
    Call("same shape", {"a": (3, 4), "b": (3, 4)}, domain="away_from_zero"),
    Call("ties", {"a": (3,), "b": (3,)}, fixed={"a": [1.0, 2.0, 3.0], "b": [1.0, 0.0, 3.0]},
         rule=lambda g, a, b: [g * np.array([0.5, 0.0, 0.5]), g * np.array([0.5, 1.0, 0.5])]),
])

# ---- elementwise, one input
backward_case("backward.exp", "exp_backward", [Call("matrix", {"a": (3, 4)}), Call("scalar", {"a": ()})])
backward_case("backward.log", "log_backward", [Call("matrix", {"a": (3, 4)}, domain="positive")])
backward_case("backward.sqrt", "sqrt_backward", [Call("vector", {"a": (6,)}, domain="positive")])
backward_case("backward.sin", "sin_backward", [Call("matrix", {"a": (3, 4)})])
backward_case("backward.cos", "cos_backward", [Call("matrix", {"a": (3, 4)})])
backward_case("backward.tanh", "tanh_backward", [Call("matrix", {"a": (3, 4)})])
backward_case("backward.sigmoid", "sigmoid_backward", [Call("matrix", {"a": (3, 4)})])
backward_case("backward.relu", "relu_backward", [
    Call("matrix", {"a": (4, 5)}, domain="away_from_zero"),
    # at the kink relu' is 0, as PyTorch
    Call("at the kink", {"a": (3,)}, fixed={"a": [-1.0, 0.0, 2.0]}, rule=lambda g, a: [g * np.array([0.0, 0.0, 1.0])]),
])
backward_case("backward.abs", "abs_backward", [
    Call("matrix", {"a": (4, 5)}, domain="away_from_zero"),
    Call("at the kink", {"a": (3,)}, fixed={"a": [-2.0, 0.0, 3.0]}, rule=lambda g, a: [g * np.array([-1.0, 0.0, 1.0])]),
])
backward_case("backward.identity", "identity_backward", [Call("matrix", {"a": (3, 4)})])

# ---- reductions, shapes and indexing
backward_case("backward.sum", "sum_backward", [
    Call("all", {"a": (3, 4)}),
    Call("axis 0", {"a": (3, 4)}, {"axis": 0}),
    Call("axis -1 keepdims", {"a": (2, 3, 4)}, {"axis": -1, "keepdims": True}),
    Call("two axes", {"a": (2, 3, 4)}, {"axis": (0, 2)}),
])
backward_case("backward.mean", "mean_backward", [
    Call("all", {"a": (3, 4)}),
    Call("axis 1", {"a": (3, 4)}, {"axis": 1}),
    Call("axis 0 keepdims", {"a": (2, 3)}, {"axis": 0, "keepdims": True}),
])
backward_case("backward.max", "max_backward", [
    Call("all", {"a": (3, 4)}),
    Call("axis 1", {"a": (3, 4)}, {"axis": 1}),
    Call("axis 0 keepdims", {"a": (4, 2)}, {"axis": 0, "keepdims": True}),
    # k tied maxima get 1/k of the gradient each
    Call("ties, axis 1", {"a": (2, 3)}, {"axis": 1}, fixed={"a": [[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]},
         rule=lambda g, a: [g[:, None] * np.array([[0.0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])]),
])
backward_case("backward.min", "min_backward", [
    Call("all", {"a": (2, 3)}),
    Call("axis 1", {"a": (3, 4)}, {"axis": 1}),
    Call("ties, all", {"a": (1, 3)}, fixed={"a": [[1.0, 1.0, 3.0]]}, rule=lambda g, a: [g * np.array([[0.5, 0.5, 0.0]])]),
])
backward_case("backward.transpose", "transpose_backward", [
    Call("matrix", {"a": (3, 4)}),
    Call("permuted axes", {"a": (2, 3, 4)}, {"axes": (1, 2, 0)}),
    Call("negative axes", {"a": (2, 3, 4)}, {"axes": (-1, 0, -2)}),
])
backward_case("backward.reshape", "reshape_backward", [Call("flatten", {"a": (2, 3, 4)}, {"shape": (6, 4)})])
backward_case("backward.expand_dims", "expand_dims_backward", [Call("new axis 1", {"a": (3, 4)}, {"axis": 1})])
backward_case("backward.squeeze", "squeeze_backward", [
    Call("axis 1", {"a": (3, 1, 4)}, {"axis": 1}),
    Call("every size-1 axis", {"a": (1, 3, 1)}),
])
backward_case("backward.getitem", "getitem_backward", [
    Call("slice", {"a": (5, 4)}, {"index": (slice(1, 4), slice(None, None, 2))}),
    Call("repeated rows", {"a": (4, 3)}, {"index": (np.array([0, 2, 0, 0]),)}),
])
backward_case("backward.concatenate", "concatenate_backward", [
    Call("axis 1", {"a": (2, 3), "b": (2, 1), "c": (2, 2)}, {"axis": 1}),
])
backward_case("backward.stack", "stack_backward", [Call("axis 0", {"a": (2, 3), "b": (2, 3)}, {"axis": 0})])

# ---- matrix products
backward_case("backward.matmul", "matmul_backward", [
    Call("square", {"a": (3, 3), "b": (3, 3)}),
    Call("rectangular", {"a": (4, 3), "b": (3, 5)}),
])
backward_case("backward.matmul_batched", "matmul_backward", [
    Call("batched", {"a": (2, 3, 4), "b": (2, 4, 5)}),
    Call("broadcast weight", {"a": (2, 3, 4), "b": (4, 2)}),
    Call("matrix-vector", {"a": (3, 4), "b": (4,)}),
    Call("vector-matrix", {"a": (4,), "b": (4, 2)}),
    Call("vector-vector", {"a": (3,), "b": (3,)}),
])
backward_case("backward.outer", "outer_backward", [Call("vectors", {"a": (3,), "b": (4,)})])
backward_case("backward.matmul_constant_lhs", "matmul_constant_lhs_backward", [
    Call("data batch", {"b": (3, 5)}, constants={"lhs": (4, 3)}),
    Call("batched weight", {"b": (2, 3, 2)}, constants={"lhs": (2, 4, 3)}),
])

# ---- softmax and cross-entropy
backward_case("backward.softmax", "softmax_backward", [
    Call("rows", {"a": (3, 5)}), Call("axis 0", {"a": (4, 2)}, {"axis": 0})])
backward_case("backward.log_softmax", "log_softmax_backward", [Call("rows", {"a": (3, 5)})])
backward_case("backward.cross_entropy", "SoftmaxCrossEntropy_backward", [
    Call("integer labels", {"logits": (4, 5), "target": (4,)}, labels=("target", 5)),
    Call("one-hot batch of one", {"logits": (1, 3), "target": (1,)}, labels=("target", 3)),
])

# ---- convolution's own primitive
backward_case("backward.window_max", "window_max_backward", [
    Call("2x2 pooling", {"a": (2, 3, 4, 6)}, {"window_shape": (2, 2), "stride": (2, 2)}),
    Call("3x3 windows overlapping, stride 1", {"a": (1, 2, 5, 5)}, {"window_shape": (3, 3), "stride": (1, 1)}),
    Call("1-d, k 3, stride 2, the last element in no window", {"a": (2, 8)}, {"window_shape": (3,), "stride": (2,)}),
    # among tied maxima the first takes the window's gradient: windows (3 1 3), (3 2 0), (0 5 5)
    Call("ties: the first maximum", {"a": (7,)}, {"window_shape": (3,), "stride": (2,)},
         fixed={"a": [3.0, 1.0, 3.0, 2.0, 0.0, 5.0, 5.0]},
         rule=lambda g, a: [np.array([g[0], 0.0, g[1], 0.0, 0.0, g[2], 0.0])]),
])
