"""Optional cross-checks against torch.nn in float64: forward values and every gradient.

The weights are copied from the MyTorch layer into the PyTorch one. Skipped
cleanly when PyTorch is not installed; nothing else depends on it.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mytorch.nn import (GELU, GRU, RNN, AvgPool1d, AvgPool2d, BCELoss, BCEWithLogitsLoss, Conv1d,  # noqa: E402
                        Conv2d, GRUCell, LeakyReLU, Linear, LogSoftmax, MaxPool1d, MaxPool2d, MSELoss, NLLLoss,
                        ReLU, RNNCell, Sigmoid, SoftmaxCrossEntropy, Softmax, Tanh)
from mytorch.optim import SGD, Adam  # noqa: E402

TOL = dict(rtol=1e-10, atol=1e-12)


def t(array, grad=True):
    return torch.tensor(np.asarray(array), dtype=torch.float64, requires_grad=grad)


def mytorch_run(engine, layer, inputs, upstream):
    """Forward, then backward with dL/d(output_k) = upstream[k]; returns outputs and input gradients."""
    outputs = layer(*inputs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    for output, g in zip(outputs, upstream):
        engine.backward(g, output=output)
    buffer = engine.memory_buffer
    grads = [buffer.get_param(x) if buffer.is_in_memory(x) else np.zeros_like(x) for x in inputs
             if isinstance(x, np.ndarray) and x.dtype.kind == "f"]
    return outputs, grads


def torch_run(module, inputs, upstream):
    outputs = module(*inputs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    torch.autograd.backward(list(outputs), [torch.tensor(g) for g in upstream])
    return outputs, [x.grad for x in inputs if isinstance(x, torch.Tensor) and x.requires_grad]


def compare(engine, rng, ours, theirs, inputs, torch_inputs=None, params=()):
    """Run both, compare outputs, input gradients and (our name, their parameter) gradients."""
    torch_inputs = torch_inputs or [t(x) for x in inputs]
    with torch.no_grad():
        for name, param in params:
            param.copy_(torch.tensor(getattr(ours, name)))
    probe = ours(*inputs)
    engine.zero_grad()
    probe = probe if isinstance(probe, tuple) else (probe,)
    upstream = [rng.standard_normal(np.shape(o)) for o in probe]
    our_out, our_grads = mytorch_run(engine, ours, inputs, upstream)
    their_out, their_grads = torch_run(theirs, torch_inputs, upstream)
    for a, b in zip(our_out, their_out):
        np.testing.assert_allclose(a, b.detach().numpy(), **TOL)
    for a, b in zip(our_grads, their_grads):
        np.testing.assert_allclose(a, b.numpy(), **TOL)
    for name, param in params:
        np.testing.assert_allclose(getattr(ours, "d" + name), param.grad.numpy(), **TOL, err_msg=name)


@pytest.fixture(autouse=True)
def float64_default():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.mark.task9
@pytest.mark.parametrize("batch", [1, 4])
def test_linear(engine, rng, batch):
    ours, theirs = Linear(3, 5, engine, rng=0), torch.nn.Linear(3, 5)
    compare(engine, rng, ours, theirs, [rng.standard_normal((batch, 3))],
            params=[("W", theirs.weight), ("b", theirs.bias)])


@pytest.mark.task8
@pytest.mark.parametrize("ours, theirs", [
    (Sigmoid, lambda: torch.nn.Sigmoid()), (Tanh, lambda: torch.nn.Tanh()), (ReLU, lambda: torch.nn.ReLU()),
    (lambda e: LeakyReLU(e, slope=0.2), lambda: torch.nn.LeakyReLU(0.2)),
    (GELU, lambda: torch.nn.GELU(approximate="tanh")),
    (lambda e: Softmax(e, axis=1), lambda: torch.nn.Softmax(dim=1)),
    (lambda e: LogSoftmax(e, axis=-1), lambda: torch.nn.LogSoftmax(dim=-1)),
])
def test_activations(engine, rng, ours, theirs):
    x = rng.standard_normal((3, 4, 2)) * 3
    compare(engine, rng, ours(engine), theirs(), [x])


@pytest.mark.task10
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_losses(engine, rng, reduction):
    z, labels = rng.standard_normal((5, 4)) * 2, rng.integers(0, 4, 5)
    p, target = rng.uniform(0.05, 0.95, (5, 4)), rng.uniform(0, 1, (5, 4))
    cases = [
        (MSELoss, torch.nn.MSELoss, [z, target]),
        (SoftmaxCrossEntropy, torch.nn.CrossEntropyLoss, [z, labels]),
        (SoftmaxCrossEntropy, torch.nn.CrossEntropyLoss, [z, np.eye(4)[labels]]),
        (NLLLoss, torch.nn.NLLLoss, [z, labels]),
        (BCELoss, torch.nn.BCELoss, [p, target]),
        (BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss, [z, target]),
    ]
    for ours, theirs, inputs in cases:
        engine.zero_grad()
        torch_inputs = [t(x) if x.dtype.kind == "f" else torch.tensor(x) for x in inputs]
        if ours is BCELoss:  # PyTorch has no derivative for BCELoss's target: compare the prediction's only
            torch_inputs[1].requires_grad_(False)
        compare(engine, rng, ours(engine, reduction=reduction), theirs(reduction=reduction), inputs, torch_inputs)


@pytest.mark.task11
@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), ((1, 2), (2, 0))])
def test_conv2d(engine, rng, stride, padding):
    ours = Conv2d(2, 3, (3, 2), engine, stride=stride, padding=padding, rng=1)
    theirs = torch.nn.Conv2d(2, 3, (3, 2), stride=stride, padding=padding)
    compare(engine, rng, ours, theirs, [rng.standard_normal((2, 2, 6, 5))],
            params=[("W", theirs.weight), ("b", theirs.bias)])


@pytest.mark.task11
@pytest.mark.parametrize("stride, padding, batch", [(1, 0, 1), (3, 2, 2)])
def test_conv1d(engine, rng, stride, padding, batch):
    ours, theirs = Conv1d(3, 2, 4, engine, stride=stride, padding=padding, rng=2), \
        torch.nn.Conv1d(3, 2, 4, stride=stride, padding=padding)
    compare(engine, rng, ours, theirs, [rng.standard_normal((batch, 3, 9))],
            params=[("W", theirs.weight), ("b", theirs.bias)])


@pytest.mark.task11
@pytest.mark.parametrize("ours, theirs, shape", [
    (lambda e: MaxPool2d(2, e), lambda: torch.nn.MaxPool2d(2), (2, 3, 4, 6)),
    (lambda e: MaxPool2d(3, e, stride=1), lambda: torch.nn.MaxPool2d(3, stride=1), (1, 2, 5, 5)),
    (lambda e: AvgPool2d((2, 3), e), lambda: torch.nn.AvgPool2d((2, 3)), (2, 1, 4, 6)),
    (lambda e: MaxPool1d(3, e, stride=2), lambda: torch.nn.MaxPool1d(3, stride=2), (2, 2, 9)),
    (lambda e: AvgPool1d(2, e), lambda: torch.nn.AvgPool1d(2), (1, 3, 7)),
])
def test_pooling(engine, rng, ours, theirs, shape):
    compare(engine, rng, ours(engine), theirs(), [rng.standard_normal(shape)])


CELL_PARAMS = [("W_ih", "weight_ih"), ("W_hh", "weight_hh"), ("b_ih", "bias_ih"), ("b_hh", "bias_hh")]


@pytest.mark.task12
@pytest.mark.parametrize("ours, theirs", [(RNNCell, torch.nn.RNNCell), (GRUCell, torch.nn.GRUCell)])
@pytest.mark.parametrize("batch", [1, 3])
def test_cells(engine, rng, ours, theirs, batch):
    cell, reference = ours(4, 3, engine, rng=3), theirs(4, 3)
    compare(engine, rng, cell, reference, [rng.standard_normal((batch, 4)), rng.standard_normal((batch, 3))],
            params=[(name, getattr(reference, their)) for name, their in CELL_PARAMS])


class _Layer:
    """Exposes cell l of an RNN/GRU under the cell's parameter names, for ``compare``."""

    def __init__(self, model, layer):
        self.model, self.cell = model, model.cells[layer]

    def __getattr__(self, name):
        return getattr(self.cell, name)

    def __call__(self, *inputs):
        return self.model(*inputs)


@pytest.mark.task12
@pytest.mark.parametrize("ours, theirs", [(RNN, torch.nn.RNN), (GRU, torch.nn.GRU)])
def test_unrolled(engine, rng, ours, theirs):
    model, reference = ours(3, 4, engine, num_layers=2, rng=4), theirs(3, 4, num_layers=2)
    with torch.no_grad():
        for layer, cell in enumerate(model.cells):
            for name, their in CELL_PARAMS:
                getattr(reference, f"{their}_l{layer}").copy_(torch.tensor(getattr(cell, name)))
    inputs = [rng.standard_normal((5, 2, 3)), rng.standard_normal((2, 2, 4))]
    for layer in range(2):
        engine.zero_grad()
        model.zero_grad()
        reference.zero_grad()
        compare(engine, rng, _Layer(model, layer), reference, inputs,
                params=[(name, getattr(reference, f"{their}_l{layer}")) for name, their in CELL_PARAMS])


@pytest.mark.task0
@pytest.mark.parametrize("ours, theirs, kwargs", [
    (SGD, torch.optim.SGD, dict(lr=0.1)),
    (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.5, nesterov=True)),
    (Adam, torch.optim.Adam, dict(lr=0.01)),
    (Adam, torch.optim.Adam, dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
])
def test_optimizers_follow_torch_for_several_steps(rng, ours, theirs, kwargs):
    start = rng.standard_normal((3, 2))
    param, grad = start.copy(), np.zeros((3, 2))
    reference = torch.tensor(start, requires_grad=True)
    optimizer, torch_optimizer = ours([(param, grad)], **kwargs), theirs([reference], **kwargs)
    for _ in range(5):
        g = rng.standard_normal((3, 2))
        grad[...] = g
        reference.grad = torch.tensor(g)
        optimizer.step()
        torch_optimizer.step()
        np.testing.assert_allclose(param, reference.detach().numpy(), rtol=1e-12, atol=1e-14)
