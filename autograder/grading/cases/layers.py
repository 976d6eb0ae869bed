"""Cases for the layers: activations, Linear, losses, convolution and recurrent cells.

Each builds the student's layer on the student's engine, sets its parameters
to seeded values, runs the forward, backpropagates a seeded upstream gradient
and collects the output and every gradient (input, weights, biases, hidden
state). The oracle is a NumPy formula of the layer written here, and central
differences of that formula for the gradients. These are composite tests: on
a failure the grader also names the first primitive on the recorded tape
whose backward disagrees with the oracle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from autograder.grading import oracle
from autograder.grading.cases import Case, register
from autograder.harness.protocol import encode_param


@dataclass
class LayerSpec:
    """A layer under test: ``module.target(*args, engine, **kwargs)``; its parameters are set from the inputs."""

    name: str
    target: str  # the class, in mytorch/<module>.py
    shapes: dict  # name -> shape: the call's inputs first, then the parameters
    call: list  # names of the inputs the layer is called with
    params: dict  # input name -> layer attribute (the gradient is the attribute "d" + name)
    module: str  # "nn.linear"
    args: tuple  # the constructor's arguments before the engine
    kwargs: dict
    forward: Callable[..., np.ndarray]  # the NumPy oracle, arguments in ``shapes`` order
    domain: Callable[[np.random.Generator, tuple], np.ndarray] = field(
        default=lambda rng, shape: rng.standard_normal(shape))
    rtol: float = 1e-5
    atol: float = 1e-6


def layer_case(spec: LayerSpec) -> Case:
    def make_inputs(rng: np.random.Generator) -> dict:
        inputs = {name: spec.domain(rng, shape) for name, shape in spec.shapes.items()}
        out_shape = np.shape(spec.forward(*inputs.values()))
        inputs["upstream"] = rng.standard_normal(out_shape)
        return inputs

    def expected(inputs: dict) -> dict:
        arrays = [inputs[name] for name in spec.shapes]
        grads = oracle.numerical_vjp(spec.forward, arrays, inputs["upstream"])
        by_name = dict(zip(spec.shapes, grads))
        results = {"forward output": spec.forward(*arrays)}
        results.update({f"dL/d{name}": by_name[name] for name in spec.call})
        results.update({f"dL/d{attribute}": by_name[key] for key, attribute in spec.params.items()})
        return results

    plan = {"module": spec.module, "class": spec.target, "args": [encode_param(a) for a in spec.args],
            "kwargs": {key: encode_param(value) for key, value in spec.kwargs.items()},
            "call": list(spec.call), "params": dict(spec.params)}
    return register(Case(spec.name, spec.target, make_inputs, expected, "layer", plan, rtol=spec.rtol,
                         atol=spec.atol, probe_tape=True))


# ---------------------------------------------------------------- activations

def _activation(name: str, class_name: str, forward: Callable, shape: tuple = (4, 5), domain: Any = None,
                **kwargs: Any) -> Case:
    spec = LayerSpec(name, class_name, {"x": shape}, ["x"], {},
                     "nn.activation", (), kwargs, forward)
    if domain is not None:
        spec.domain = domain
    return layer_case(spec)


def _away_from_zero(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    x = rng.standard_normal(shape)
    return np.sign(x) * (np.abs(x) + 0.1)


def _with_extremes(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Normal values plus +-1000 in the first row: a stable layer stays finite there."""
    x = rng.standard_normal(shape) * 3
    x[0, :2] = (1000.0, -1000.0)
    return x


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


_activation("activation.identity", "Identity", lambda x: x)
_activation("activation.sigmoid", "Sigmoid", oracle.sigmoid, domain=_with_extremes)
_activation("activation.tanh", "Tanh", np.tanh, domain=_with_extremes)
_activation("activation.relu", "ReLU", lambda x: np.maximum(x, 0.0), domain=_away_from_zero)
_activation("activation.leaky_relu", "LeakyReLU", lambda x: np.where(x > 0, x, 0.2 * x),
            domain=_away_from_zero, slope=0.2)
_activation("activation.gelu", "GELU", _gelu_tanh)
_activation("activation.softmax", "Softmax", lambda x: np.exp(oracle.log_softmax(x, axis=-1)),
            domain=_with_extremes)


# ---------------------------------------------------------------- Linear

def _linear(name: str, batch: int) -> Case:
    return layer_case(LayerSpec(
        name, "Linear", {"x": (batch, 3), "W": (4, 3), "b": (4,)}, ["x"], {"W": "W", "b": "b"},
        "nn.linear", (3, 4), {},
        lambda x, W, b: x @ W.T + b))


_linear("linear.batch", 5)
_linear("linear.batch_of_one", 1)


# ---------------------------------------------------------------- losses

@dataclass
class LossSpec:
    name: str
    class_name: str
    shape: tuple
    target: Callable[[np.random.Generator, tuple], np.ndarray]
    formula: Callable[[np.ndarray, np.ndarray], np.ndarray]  # NumPy oracle of the mean loss
    prediction: Callable[[np.random.Generator, tuple], np.ndarray] = field(
        default=lambda rng, shape: rng.standard_normal(shape))


def loss_case(spec: LossSpec) -> Case:
    def make_inputs(rng: np.random.Generator) -> dict:
        return {"prediction": spec.prediction(rng, spec.shape), "target": spec.target(rng, spec.shape)}

    def expected(inputs: dict) -> dict:
        grad, _ = oracle.numerical_vjp(spec.formula, [inputs["prediction"], inputs["target"]], np.array(1.0))
        return {"loss value": spec.formula(inputs["prediction"], inputs["target"]), "dL/dprediction": grad}

    return register(Case(spec.name, spec.class_name, make_inputs, expected, "loss", {"class": spec.class_name},
                         probe_tape=True))


def _labels(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    return rng.integers(0, shape[-1], size=shape[:-1])


def _one_hot(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    return np.eye(shape[-1])[_labels(rng, shape)]


def _probabilities(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    return rng.uniform(0.05, 0.95, size=shape)


def _nll(log_probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return -np.mean(log_probs[np.arange(len(labels)), labels])


def _bce(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    return -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))


loss_case(LossSpec("loss.mse", "MSELoss", (4, 3), lambda rng, s: rng.standard_normal(s),
                   lambda y, t: np.mean((y - t) ** 2)))
loss_case(LossSpec("loss.cross_entropy_labels", "SoftmaxCrossEntropy", (5, 4), _labels, oracle.cross_entropy))
loss_case(LossSpec("loss.cross_entropy_one_hot", "SoftmaxCrossEntropy", (3, 6), _one_hot, oracle.cross_entropy))
loss_case(LossSpec("loss.nll", "NLLLoss", (5, 4), _labels, _nll,
                   prediction=lambda rng, s: oracle.log_softmax(rng.standard_normal(s))))
loss_case(LossSpec("loss.bce", "BCELoss", (4, 3), _probabilities, _bce, prediction=_probabilities))
loss_case(LossSpec("loss.bce_with_logits", "BCEWithLogitsLoss", (4, 3), _probabilities,
                   lambda x, t: _bce(oracle.sigmoid(x), t)))


# ---------------------------------------------------------------- convolution

def _conv(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """y[n, o, p] = b[o] + sum_{c, j} W[o, c, j] x_pad[n, c, p * stride + j], for 1-D or 2-D p and j."""
    d = W.ndim - 2
    x = np.pad(x, ((0, 0), (0, 0)) + ((padding, padding),) * d)
    windows = sliding_window_view(x, W.shape[2:], axis=tuple(range(2, 2 + d)))
    windows = windows[(slice(None), slice(None)) + (slice(None, None, stride),) * d]
    letters = "hw"[:d]
    y = np.einsum(f"nc{letters}{letters.upper()},oc{letters.upper()}->no{letters}", windows, W)
    return y + b.reshape((1, -1) + (1,) * d)


layer_case(LayerSpec(
    "conv.conv1d", "Conv1d", {"x": (2, 3, 9), "W": (4, 3, 3), "b": (4,)}, ["x"], {"W": "W", "b": "b"},
    "nn.conv", (3, 4, 3), {"stride": 2, "padding": 1},
    lambda x, W, b: _conv(x, W, b, stride=2, padding=1)))
layer_case(LayerSpec(
    "conv.conv2d", "Conv2d", {"x": (2, 2, 6, 5), "W": (3, 2, 3, 2), "b": (3,)}, ["x"], {"W": "W", "b": "b"},
    "nn.conv", (2, 3, (3, 2)), {"stride": 1, "padding": 1},
    lambda x, W, b: _conv(x, W, b, stride=1, padding=1)))
layer_case(LayerSpec(
    "conv.conv2d_strided", "Conv2d", {"x": (1, 2, 7, 7), "W": (2, 2, 3, 3), "b": (2,)}, ["x"],
    {"W": "W", "b": "b"},
    "nn.conv", (2, 2, 3), {"stride": 2, "padding": 0},
    lambda x, W, b: _conv(x, W, b, stride=2, padding=0)))


def _pool(x: np.ndarray, reduce: Callable) -> np.ndarray:
    """2x2 windows, stride 2, over the last two axes."""
    windows = sliding_window_view(x, (2, 2), axis=(2, 3))[:, :, ::2, ::2]
    return reduce(windows, axis=(-2, -1))


layer_case(LayerSpec(
    "conv.max_pool", "MaxPool2d", {"x": (2, 3, 4, 6)}, ["x"], {},
    "nn.conv", (2,), {}, lambda x: _pool(x, np.max)))
layer_case(LayerSpec(
    "conv.avg_pool", "AvgPool2d", {"x": (2, 2, 4, 4)}, ["x"], {},
    "nn.conv", (2,), {}, lambda x: _pool(x, np.mean)))
layer_case(LayerSpec(
    "conv.flatten", "Flatten", {"x": (3, 2, 2, 3)}, ["x"], {},
    "nn.conv", (), {}, lambda x: x.reshape(x.shape[0], -1)))


# ---------------------------------------------------------------- recurrent cells

_CELL_PARAMS = {"W_ih": "W_ih", "W_hh": "W_hh", "b_ih": "b_ih", "b_hh": "b_hh"}


def _rnn_cell(x, h, W_ih, W_hh, b_ih, b_hh):
    return np.tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)


def _gru_cell(x, h, W_ih, W_hh, b_ih, b_hh):
    """PyTorch's GRUCell: gates stacked r, z, n."""
    gx, gh = x @ W_ih.T + b_ih, h @ W_hh.T + b_hh
    H = h.shape[1]
    r = oracle.sigmoid(gx[:, :H] + gh[:, :H])
    z = oracle.sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
    n = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
    return (1 - z) * n + z * h


def _cell(name: str, class_name: str, gates: int, forward: Callable, batch: int) -> Case:
    hidden, features = 3, 4
    shapes = {"x": (batch, features), "h": (batch, hidden), "W_ih": (gates * hidden, features),
              "W_hh": (gates * hidden, hidden), "b_ih": (gates * hidden,), "b_hh": (gates * hidden,)}
    return layer_case(LayerSpec(
        name, class_name, shapes, ["x", "h"], _CELL_PARAMS,
        "nn.rnn", (features, hidden), {}, forward))


_cell("rnn.rnn_cell", "RNNCell", 1, _rnn_cell, batch=2)
_cell("rnn.rnn_cell_batch_of_one", "RNNCell", 1, _rnn_cell, batch=1)
_cell("rnn.gru_cell", "GRUCell", 3, _gru_cell, batch=2)
