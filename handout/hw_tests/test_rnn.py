"""RNNCell, GRUCell and their unrolling (RNN, GRU): forward against NumPy written from PyTorch's
equations, gradients of inputs, hidden states, weights and biases against central differences."""

import re

import numpy as np
import pytest

from layer_checks import check_module
from mytorch import constant
from mytorch.nn.rnn import GRU, RNN, GRUCell, RNNCell

pytestmark = pytest.mark.task12


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def rnn_step(x, h, W_ih, W_hh, b_ih, b_hh):
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh), one example at a time (rows of x and h)."""
    return np.array([np.tanh(W_ih @ xi + b_ih + W_hh @ hi + b_hh) for xi, hi in zip(x, h)])


def gru_step(x, h, W_ih, W_hh, b_ih, b_hh):
    """PyTorch's GRU equations with the r, z, n blocks cut out of the stacked weights explicitly."""
    H = h.shape[1]
    W_ir, W_iz, W_in = W_ih[:H], W_ih[H:2 * H], W_ih[2 * H:]
    W_hr, W_hz, W_hn = W_hh[:H], W_hh[H:2 * H], W_hh[2 * H:]
    b_ir, b_iz, b_in = b_ih[:H], b_ih[H:2 * H], b_ih[2 * H:]
    b_hr, b_hz, b_hn = b_hh[:H], b_hh[H:2 * H], b_hh[2 * H:]
    out = []
    for xi, hi in zip(x, h):
        r = sigmoid(W_ir @ xi + b_ir + W_hr @ hi + b_hr)
        z = sigmoid(W_iz @ xi + b_iz + W_hz @ hi + b_hz)
        n = np.tanh(W_in @ xi + b_in + r * (W_hn @ hi + b_hn))
        out.append((1 - z) * n + z * hi)
    return np.array(out)


STEPS = {RNNCell: rnn_step, GRUCell: gru_step}
CELL_SHAPES = [(1, 1, 1), (1, 3, 2), (4, 2, 3), (2, 5, 1)]  # (batch, input_size, hidden)


def params_of(cell):
    return cell.W_ih, cell.W_hh, cell.b_ih, cell.b_hh


@pytest.mark.parametrize("make", [RNNCell, GRUCell])
@pytest.mark.parametrize("batch, n_in, hidden", CELL_SHAPES)
def test_cell_forward_and_gradients(engine, rng, make, batch, n_in, hidden):
    cell = make(n_in, hidden, engine, rng=0)
    gates = 3 if make is GRUCell else 1
    assert cell.W_ih.shape == (gates * hidden, n_in) and cell.W_hh.shape == (gates * hidden, hidden)
    assert cell.b_ih.shape == cell.b_hh.shape == (gates * hidden,)
    x, h = rng.standard_normal((batch, n_in)), rng.standard_normal((batch, hidden))
    np.testing.assert_allclose(cell(x, h), STEPS[make](x, h, *params_of(cell)), rtol=1e-12, atol=1e-14)
    grads = check_module(cell, x, h)
    assert set(grads) == {"input 0", "input 1", "W_ih", "W_hh", "b_ih", "b_hh"}


@pytest.mark.parametrize("make", [RNNCell, GRUCell])
def test_cell_default_hidden_state_is_zero(engine, rng, make):
    cell = make(3, 2, engine, rng=1)
    x = rng.standard_normal((4, 3))
    np.testing.assert_allclose(cell(x), STEPS[make](x, np.zeros((4, 2)), *params_of(cell)), rtol=1e-12)
    check_module(cell, x)


def test_rnn_cell_gradients_match_closed_forms(engine, rng):
    """a = x W_ih^T + b_ih + h W_hh^T + b_hh, h' = tanh(a): with G = dL/dh' and A = G (1 - h'^2),
    dL/dx = A W_ih, dL/dh = A W_hh, dL/dW_ih = A^T x, dL/dW_hh = A^T h, dL/db_ih = dL/db_hh = sum_rows A."""
    cell = RNNCell(3, 2, engine, rng=2)
    x, h = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    out = cell(x, h)
    G = rng.standard_normal(out.shape)
    engine.backward(G, output=out)
    A = G * (1 - out ** 2)
    buffer = engine.memory_buffer
    np.testing.assert_allclose(buffer.get_param(x), A @ cell.W_ih, rtol=1e-10)
    np.testing.assert_allclose(buffer.get_param(h), A @ cell.W_hh, rtol=1e-10)
    np.testing.assert_allclose(cell.dW_ih, A.T @ x, rtol=1e-10)
    np.testing.assert_allclose(cell.dW_hh, A.T @ h, rtol=1e-10)
    np.testing.assert_allclose(cell.db_ih, A.sum(axis=0), rtol=1e-10)
    np.testing.assert_allclose(cell.db_hh, A.sum(axis=0), rtol=1e-10)


def unroll_reference(model, x, h0):
    """Layer by layer, step by step, with the NumPy cell formulas."""
    step = STEPS[model.cell_type]
    inputs, last = list(x), []
    for layer, cell in enumerate(model.cells):
        h, outputs = h0[layer], []
        for x_t in inputs:
            h = step(x_t, h, *params_of(cell))
            outputs.append(h)
        inputs = outputs
        last.append(h)
    return np.stack(inputs), np.stack(last)


SEQUENCES = [(1, 1, 2, 3, 1), (4, 2, 3, 2, 1), (3, 1, 2, 2, 2), (2, 3, 1, 3, 2)]  # (seq, batch, in, hidden, layers)


@pytest.mark.parametrize("make", [RNN, GRU])
@pytest.mark.parametrize("seq, batch, n_in, hidden, layers", SEQUENCES)
def test_unrolled_forward_and_gradients(engine, rng, make, seq, batch, n_in, hidden, layers):
    model = make(n_in, hidden, engine, num_layers=layers, rng=3)
    x, h0 = rng.standard_normal((seq, batch, n_in)), rng.standard_normal((layers, batch, hidden))
    output, h_n = model(x, h0)
    assert output.shape == (seq, batch, hidden) and h_n.shape == (layers, batch, hidden)
    expected_output, expected_h_n = unroll_reference(model, x, h0)
    np.testing.assert_allclose(output, expected_output, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_n, expected_h_n, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(output[-1], h_n[-1])  # the last layer's last hidden state
    grads = check_module(model, x, h0)  # backpropagates through output and h_n together
    expected_names = {"input 0", "input 1"} | {f"cells.{layer}.{p}" for layer in range(layers)
                                                for p in ("W_ih", "W_hh", "b_ih", "b_hh")}
    assert set(grads) == expected_names


@pytest.mark.parametrize("make", [RNN, GRU])
def test_unrolled_without_h0_starts_from_zeros(engine, rng, make):
    model = make(2, 3, engine, num_layers=2, rng=4)
    x = rng.standard_normal((3, 2, 2))
    output, h_n = model(x)
    expected_output, expected_h_n = unroll_reference(model, x, np.zeros((2, 2, 3)))
    np.testing.assert_allclose(output, expected_output, rtol=1e-12)
    np.testing.assert_allclose(h_n, expected_h_n, rtol=1e-12)
    check_module(model, x)


@pytest.mark.parametrize("make", [RNN, GRU])
def test_constant_sequence_gives_the_same_outputs_and_weight_gradients(engine, rng, make):
    """Data fed as constant(x) is sliced without recording (no getitem over x on the tape), and
    everything else is as with the plain array, which the tests above check against central differences."""
    model = make(2, 3, engine, num_layers=2, rng=6)
    x = rng.standard_normal((5, 2, 2))
    results = []
    for data in (x, constant(x)):
        model.zero_grad()
        engine.zero_grad()
        output, h_n = model(data)
        engine.backward(np.ones_like(output), output=output)
        results.append((output, h_n, [grad.copy() for _, grad in model.parameters()]))
        input_shapes = [x_in.shape for op in engine.operation_list for x_in in op.inputs]
    assert x.shape not in input_shapes  # the last run, on constant(x), recorded no operation on x
    (out_a, h_a, grads_a), (out_b, h_b, grads_b) = results
    np.testing.assert_array_equal(out_a, out_b)
    np.testing.assert_array_equal(h_a, h_b)
    for grad_a, grad_b in zip(grads_a, grads_b):
        np.testing.assert_allclose(grad_a, grad_b, rtol=1e-13, atol=1e-15)


def test_weight_gradient_sums_over_time_steps(engine, rng):
    """Backpropagation through time: with a zero recurrence (W_hh = 0) each step is independent,
    so dL/dW_ih = sum_t A_t^T x_t with A_t = G_t (1 - h_t^2)."""
    model = RNN(2, 3, engine, rng=5)
    model.cells[0].W_hh[...] = 0.0
    x = rng.standard_normal((4, 2, 2))
    output, _ = model(x)
    G = rng.standard_normal(output.shape)
    engine.backward(G, output=output)
    A = G * (1 - output ** 2)
    np.testing.assert_allclose(model.cells[0].dW_ih, sum(A[t].T @ x[t] for t in range(4)), rtol=1e-10)


def test_initialisation_bound_is_one_over_sqrt_hidden(engine):
    cell = GRUCell(10, 25, engine, rng=6)
    bound = 1 / np.sqrt(25)
    for p in params_of(cell):
        assert np.abs(p).max() <= bound
    assert np.abs(cell.W_hh).max() > 0.99 * bound


def test_parameters_of_a_stack(engine):
    model = GRU(2, 3, engine, num_layers=2)
    names = [name for name, _, _ in model.named_parameters()]
    assert names == [f"cells.{layer}.{p}" for layer in range(2) for p in ("W_ih", "W_hh", "b_ih", "b_hh")]
    assert model.cells[1].W_ih.shape == (9, 3)  # layer 1 reads layer 0's hidden states
    assert len(model.parameters()) == 8


BAD = [
    (lambda e: RNNCell(3, 2, e), ((4, 5), None), [r"RNNCell\(3, 2\)", r"\(batch, 3\)", r"\(4, 5\)"]),
    (lambda e: GRUCell(3, 2, e), ((4, 3), (4, 3)), [r"GRUCell\(3, 2\)", r"hidden state of shape \(4, 2\)", r"\(4, 3\)"]),
    (lambda e: GRUCell(3, 2, e), ((4, 3), (5, 2)), [r"hidden state of shape \(4, 2\)", r"\(5, 2\)"]),
    (lambda e: RNN(3, 2, e), ((5, 4, 2), None), [r"RNN\(3, 2\)", r"\(seq_len, batch, 3\)", r"\(5, 4, 2\)"]),
    (lambda e: GRU(3, 2, e), ((4, 3), None), [r"\(seq_len, batch, 3\)", r"\(4, 3\)"]),
    (lambda e: GRU(3, 2, e, num_layers=2), ((5, 4, 3), (1, 4, 2)), [r"h0 of shape \(2, 4, 2\)", r"\(1, 4, 2\)"]),
]


@pytest.mark.parametrize("make, shapes, patterns", BAD)
def test_bad_input_raises_naming_layer_and_shapes_before_recording(engine, make, shapes, patterns):
    layer = make(engine)
    x_shape, h_shape = shapes
    with pytest.raises(ValueError) as info:
        layer(np.zeros(x_shape), None if h_shape is None else np.zeros(h_shape))
    for pattern in patterns:
        assert re.search(pattern, str(info.value)), (pattern, str(info.value))
    assert engine.operation_list == []
