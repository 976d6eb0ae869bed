"""Convolution support primitives (pad, sliding_windows, window_max) and the layers built on them:
Conv1d, Conv2d, Flatten, max and average pooling. Forward against direct loops, gradients
against central differences."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mytorch.nn.functional as F
from mytorch import constant
from conftest import SWEEP, check_primitive
from layer_checks import check_module
from mytorch.nn.activation import ReLU
from mytorch.nn.conv import AvgPool1d, AvgPool2d, Conv1d, Conv2d, Flatten, MaxPool1d, MaxPool2d
from mytorch.nn.linear import Linear
from mytorch.nn.models import Sequential

pytestmark = pytest.mark.task11


# ---------------------------------------------------------------- references, written as loops

def windows_reference(a, window, stride):
    """y[..., p, j] = a[..., p s + j] over the last len(window) axes, one index tuple at a time."""
    d = len(window)
    spatial = a.shape[a.ndim - d:]
    out = tuple((n - k) // s + 1 for n, k, s in zip(spatial, window, stride))
    y = np.zeros(a.shape[:a.ndim - d] + out + tuple(window))
    for p in np.ndindex(*out):
        for j in np.ndindex(*window):
            source = tuple(pi * si + ji for pi, si, ji in zip(p, stride, j))
            y[(Ellipsis,) + p + j] = a[(Ellipsis,) + source]
    return y


def pad_reference(a, widths):
    y = np.zeros(tuple(n + b + e for n, (b, e) in zip(a.shape, widths)))
    y[tuple(slice(b, b + n) for n, (b, _) in zip(a.shape, widths))] = a
    return y


def conv_reference(x, W, b, stride, padding):
    """y[n, o, p] = b[o] + sum_{c, j} W[o, c, j] x_pad[n, c, p s + j], summed element by element."""
    d = x.ndim - 2
    x_pad = pad_reference(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    kernel = W.shape[2:]
    out = tuple((n - k) // s + 1 for n, k, s in zip(x_pad.shape[2:], kernel, stride))
    y = np.zeros((x.shape[0], W.shape[0]) + out)
    for n in range(x.shape[0]):
        for o in range(W.shape[0]):
            for p in np.ndindex(*out):
                total = b[o]
                for c in range(x.shape[1]):
                    for j in np.ndindex(*kernel):
                        source = tuple(pi * si + ji for pi, si, ji in zip(p, stride, j))
                        total += W[(o, c) + j] * x_pad[(n, c) + source]
                y[(n, o) + p] = total
    assert d == len(kernel)
    return y


def pool_reference(x, kernel, stride, reduce):
    d = len(kernel)
    out = tuple((n - k) // s + 1 for n, k, s in zip(x.shape[2:], kernel, stride))
    y = np.zeros(x.shape[:2] + out)
    for n, c in np.ndindex(*x.shape[:2]):
        for p in np.ndindex(*out):
            window = x[(n, c) + tuple(slice(pi * si, pi * si + ki) for pi, si, ki in zip(p, stride, kernel))]
            y[(n, c) + p] = reduce(window)
    assert d == x.ndim - 2
    return y


# ---------------------------------------------------------------- the primitives

@pytest.mark.parametrize("shape, window, stride", [
    ((7,), (3,), (1,)), ((7,), (3,), (2,)), ((2, 3, 8), (4,), (3,)), ((1, 1, 5, 6), (2, 3), (1, 2)),
    ((2, 2, 4, 4), (4, 4), (1, 1)), ((3, 5, 5), (1, 1), (2, 2)), ((2, 1, 3, 4, 5), (2, 2, 3), (1, 2, 1)),
])
def test_sliding_windows_matches_loops_and_central_differences(rng, shape, window, stride):
    a = rng.standard_normal(shape)
    y = check_primitive(F.sliding_windows, F.sliding_windows_backward, a,
                        reference=lambda a: windows_reference(a, window, stride), window_shape=window, stride=stride)
    assert y.shape == windows_reference(a, window, stride).shape


@SWEEP
@given(lead=st.lists(st.integers(1, 2), max_size=2), n=st.integers(1, 7), k=st.integers(1, 4),
       s=st.integers(1, 3), seed=st.integers(0, 2 ** 32 - 1))
def test_sliding_windows_sweep(lead, n, k, s, seed):
    k = min(k, n)
    a = np.random.default_rng(seed).standard_normal(tuple(lead) + (n,))
    check_primitive(F.sliding_windows, F.sliding_windows_backward, a,
                    reference=lambda a: windows_reference(a, (k,), (s,)), window_shape=k, stride=s)


def test_sliding_windows_backward_counts_overlaps():
    """With dL/dy = 1, dL/da[i] = the number of windows reading a[i]: #{p < o : p s <= i < p s + k}.

    n = 8, k = 3, s = 2: o = (8 - 3) // 2 + 1 = 3 windows, starting at 0, 2, 4 and covering
    0-2, 2-4, 4-6, so the counts are [1, 1, 2, 1, 2, 1, 1, 0] (a[7] is read by no window).
    """
    a = np.zeros(8)
    grad = F.sliding_windows_backward(np.ones((3, 3)), a, window_shape=(3,), stride=(2,))
    np.testing.assert_array_equal(grad, [1, 1, 2, 1, 2, 1, 1, 0])


def window_max_reference(a, window, stride):
    """y[..., p] = max over the window at p s, one window at a time (pool_reference over any lead axes)."""
    d = len(window)
    out = tuple((n - k) // s + 1 for n, k, s in zip(a.shape[a.ndim - d:], window, stride))
    y = np.zeros(a.shape[:a.ndim - d] + out)
    for p in np.ndindex(*out):
        reads = tuple(slice(pi * si, pi * si + ki) for pi, si, ki in zip(p, stride, window))
        y[(Ellipsis,) + p] = a[(Ellipsis,) + reads].reshape(a.shape[:a.ndim - d] + (-1,)).max(axis=-1)
    return y


@pytest.mark.parametrize("shape, window, stride", [
    ((1, 1, 4, 4), (2, 2), (2, 2)), ((2, 3, 5, 6), (3, 3), (2, 2)), ((1, 2, 5, 4), (2, 3), (1, 1)),
    ((2, 3, 7), (3,), (2,)), ((7,), (2,), (3,)), ((2, 1, 3, 4, 5), (2, 2, 3), (1, 2, 1)),
])
def test_window_max_matches_loops_and_central_differences(rng, shape, window, stride):
    a = rng.permutation(np.arange(np.prod(shape), dtype=float)).reshape(shape) * 0.1  # distinct: no ties
    check_primitive(F.window_max, F.window_max_backward, a,
                    reference=lambda a: window_max_reference(a, window, stride), window_shape=window, stride=stride)


@SWEEP
@given(lead=st.lists(st.integers(1, 2), max_size=2), n=st.integers(1, 7), k=st.integers(1, 4),
       s=st.integers(1, 4), seed=st.integers(0, 2 ** 32 - 1))
def test_window_max_sweep(lead, n, k, s, seed):
    k = min(k, n)
    shape = tuple(lead) + (n,)
    a = np.random.default_rng(seed).permutation(np.arange(np.prod(shape), dtype=float)).reshape(shape) * 0.1
    check_primitive(F.window_max, F.window_max_backward, a,
                    reference=lambda a: window_max_reference(a, (k,), (s,)), window_shape=k, stride=s)


def test_window_max_backward_sends_each_window_gradient_to_its_first_maximum(engine):
    """a = [3, 1, 3, 2, 0, 5, 5], k = 3, s = 2: windows [3, 1, 3], [3, 2, 0], [0, 5, 5].

    Maxima 3, 3, 5 at a[0] (first of the tie a[0] = a[2]), a[2] and a[5] (first of a[5] = a[6]).
    dL/dy = [1, 10, 100]: dL/da = [1, 0, 10, 0, 0, 100, 0]; the overlapping windows 1 and 2
    share a[2] and a[4], and only window 1's maximum lands on one of them.
    """
    a = np.array([3.0, 1.0, 3.0, 2.0, 0.0, 5.0, 5.0])
    y = F.window_max(a, 3, stride=2)
    np.testing.assert_array_equal(y, [3, 3, 5])
    np.testing.assert_array_equal(engine.operation_list[-1].params["argmax"], [0, 0, 1])
    engine.backward(np.array([1.0, 10.0, 100.0]), output=y)
    np.testing.assert_array_equal(engine.memory_buffer.get_param(a), [1, 0, 10, 0, 0, 100, 0])
    # called directly, without the recorded positions, it finds the same ones
    np.testing.assert_array_equal(F.window_max_backward(np.array([1.0, 10.0, 100.0]), a, (3,), (2,)),
                                  [1, 0, 10, 0, 0, 100, 0])


def test_window_max_adds_where_overlapping_windows_share_their_maximum(engine):
    """a = [0, 9, 0], k = 2, s = 1: both windows have their maximum at a[1], so dL/da[1] = 2 + 3."""
    a = np.array([0.0, 9.0, 0.0])
    y = F.window_max(a, 2, stride=1)
    engine.backward(np.array([2.0, 3.0]), output=y)
    np.testing.assert_array_equal(engine.memory_buffer.get_param(a), [0, 5, 0])


def test_window_max_of_a_window_with_nan_is_nan_and_its_gradient_goes_there(engine):
    """a = [1, nan, 0, 2], k = 2: windows [1, nan] and [0, 2] -> [nan, 2]; dL/dy = [3, 5] lands on the nan and the 2."""
    a = np.array([1.0, np.nan, 0.0, 2.0])
    y = F.window_max(a, 2)
    np.testing.assert_array_equal(y, [np.nan, 2.0])
    engine.backward(np.array([3.0, 5.0]), output=y)
    np.testing.assert_array_equal(engine.memory_buffer.get_param(a), [0, 3, 0, 5])


def test_window_max_gradient_keeps_the_input_memory_layout(rng):
    """The gradient is laid out as a (channels-last memory here), so the next backward reads both in order."""
    a = np.ascontiguousarray(rng.standard_normal((2, 4, 4, 3))).transpose(0, 3, 1, 2)  # (N, C, H, W) view
    y, argmax = F._window_argmax(a, (2, 2), (2, 2))
    grad = F.window_max_backward(np.ones(y.shape), a, (2, 2), (2, 2), argmax=argmax)
    assert grad.strides == a.strides
    np.testing.assert_array_equal(grad.sum(axis=(2, 3)), np.full((2, 3), 4.0))  # 4 windows, 1 each


@pytest.mark.parametrize("shape, widths", [((3,), ((1, 2),)), ((2, 3, 4), ((0, 0), (1, 0), (2, 3))),
                                           ((1, 1, 2, 2), ((0, 0), (0, 0), (1, 1), (1, 1)))])
def test_pad_matches_reference_and_central_differences(rng, shape, widths):
    a = rng.standard_normal(shape)
    check_primitive(F.pad, F.pad_backward, a, reference=lambda a: pad_reference(a, widths), pad_width=widths)


def test_pad_with_a_value(engine):
    np.testing.assert_array_equal(F.pad(np.array([1.0, 2.0]), ((1, 1),), value=-np.inf), [-np.inf, 1, 2, -np.inf])


@pytest.mark.parametrize("call, pattern", [
    (lambda: F.sliding_windows(np.zeros((2, 3)), 4), r"sliding_windows: input of shape \(2, 3\) with window \(4,\)"),
    (lambda: F.sliding_windows(np.zeros((2, 3)), 2, stride=0), r"stride \(0,\)"),
    (lambda: F.sliding_windows(np.zeros(3), (1, 1)), r"input of shape \(3,\) with window \(1, 1\)"),
    (lambda: F.sliding_windows(np.zeros(3), 2, stride=(1, 1)), r"stride: expected an int or 1 ints"),
    (lambda: F.pad(np.zeros((2, 3)), ((1, 1),)), r"pad: input of shape \(2, 3\) needs pad_width"),
    (lambda: F.window_max(np.zeros((2, 3)), 4), r"window_max: input of shape \(2, 3\) with window \(4,\)"),
    (lambda: F.window_max(np.zeros((2, 3)), 2, stride=0), r"window_max: .*stride \(0,\)"),
    (lambda: F.window_max(np.zeros(3), (1, 1)), r"window_max: input of shape \(3,\) with window \(1, 1\)"),
    (lambda: F.pad(np.zeros(3), ((-1, 1),)), r"non-negative"),
])
def test_primitive_bad_arguments_raise_before_recording(engine, call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
    assert engine.operation_list == []


# ---------------------------------------------------------------- Conv1d, Conv2d

CONV1D = [  # (batch, in, out, length, kernel, stride, padding)
    (1, 1, 1, 5, 3, 1, 0), (2, 3, 2, 8, 3, 2, 1), (1, 2, 4, 4, 4, 1, 0), (3, 1, 2, 6, 1, 3, 2), (2, 2, 3, 7, 2, 2, 0),
]
CONV2D = [  # (batch, in, out, (H, W), kernel, stride, padding)
    (1, 1, 1, (4, 4), 3, 1, 0), (2, 2, 3, (5, 6), 3, 2, 1), (1, 3, 2, (3, 3), 3, 1, 0),
    (2, 1, 2, (5, 4), (2, 3), (1, 2), (1, 0)), (1, 2, 2, (4, 5), 1, 1, 1),
]


@pytest.mark.parametrize("batch, c_in, c_out, length, k, s, p", CONV1D)
def test_conv1d_forward_and_gradients(engine, rng, batch, c_in, c_out, length, k, s, p):
    layer = Conv1d(c_in, c_out, k, engine, stride=s, padding=p, rng=0)
    assert layer.W.shape == (c_out, c_in, k) and layer.b.shape == (c_out,)
    x = rng.standard_normal((batch, c_in, length))
    y = layer(x)
    assert y.shape == (batch, c_out, (length + 2 * p - k) // s + 1)
    np.testing.assert_allclose(y, conv_reference(x, layer.W, layer.b, (s,), (p,)), rtol=1e-12, atol=1e-12)
    assert set(check_module(layer, x)) == {"input 0", "W", "b"}


@pytest.mark.parametrize("batch, c_in, c_out, hw, k, s, p", CONV2D)
def test_conv2d_forward_and_gradients(engine, rng, batch, c_in, c_out, hw, k, s, p):
    layer = Conv2d(c_in, c_out, k, engine, stride=s, padding=p, rng=1)
    x = rng.standard_normal((batch, c_in) + hw)
    y = layer(x)
    stride, padding = layer.stride, layer.padding
    np.testing.assert_allclose(y, conv_reference(x, layer.W, layer.b, stride, padding), rtol=1e-12, atol=1e-12)
    check_module(layer, x)


def test_conv_gradients_match_closed_forms(engine, rng):
    """With G = dL/dy: dL/db[o] = sum_{n,p} G[n,o,p]; dL/dW[o,c,j] = sum_{n,p} G[n,o,p] x_pad[n,c,p s+j]."""
    layer = Conv1d(2, 3, 3, engine, stride=2, padding=1, rng=2)
    x = rng.standard_normal((2, 2, 7))
    y = layer(x)
    G = rng.standard_normal(y.shape)
    engine.backward(G, output=y)
    x_pad = pad_reference(x, [(0, 0), (0, 0), (1, 1)])
    dW = np.zeros_like(layer.W)
    for o, c, j in np.ndindex(*layer.W.shape):
        dW[o, c, j] = sum(G[n, o, p] * x_pad[n, c, 2 * p + j] for n in range(2) for p in range(y.shape[2]))
    np.testing.assert_allclose(layer.dW, dW, rtol=1e-10)
    np.testing.assert_allclose(layer.db, G.sum(axis=(0, 2)), rtol=1e-10)


def test_conv_on_constant_data_fills_dW_and_db_as_on_plain_data_and_records_no_windows(engine, rng):
    """constant(x) needs no gradient: its columns are cut without recording, and the same dW, db result."""
    layer = Conv2d(2, 3, 3, engine, stride=2, padding=1, rng=4)
    x = rng.standard_normal((2, 2, 5, 6))
    G = rng.standard_normal((2, 3, 3, 3))
    engine.backward(G, output=layer(x))
    expected = layer.dW.copy(), layer.db.copy()
    layer.zero_grad()
    engine.zero_grad()
    y = layer(constant(x))
    names = [op.name for op in engine.operation_list]
    assert "pad_backward" not in names and "sliding_windows_backward" not in names
    assert "matmul_constant_lhs_backward" in names  # dL/dcolumns is not computed either
    np.testing.assert_allclose(y, conv_reference(x, layer.W, layer.b, (2, 2), (1, 1)), rtol=1e-12, atol=1e-14)
    engine.backward(G, output=y)
    np.testing.assert_allclose(layer.dW, expected[0], rtol=1e-13)
    np.testing.assert_allclose(layer.db, expected[1], rtol=1e-13)
    assert not engine.memory_buffer.is_in_memory(x)


def test_conv_without_bias(engine, rng):
    layer = Conv2d(2, 2, 2, engine, bias=False, rng=3)
    x = rng.standard_normal((1, 2, 3, 3))
    np.testing.assert_allclose(layer(x), conv_reference(x, layer.W, np.zeros(2), (1, 1), (0, 0)), rtol=1e-12)
    assert [name for name, _, _ in layer.named_parameters()] == ["W"]
    check_module(layer, x)


def test_conv_initialisation_bound_is_one_over_sqrt_fan_in(engine):
    layer = Conv2d(4, 50, 3, engine, rng=4)
    bound = 1 / np.sqrt(4 * 3 * 3)
    assert np.abs(layer.W).max() <= bound and np.abs(layer.W).max() > 0.99 * bound
    assert np.abs(layer.b).max() <= bound


@pytest.mark.parametrize("make, shape, patterns", [
    (lambda e: Conv2d(3, 2, 3, e), (2, 4, 5, 5), [r"Conv2d\(3, 2, kernel_size=\(3, 3\)\)", "C = 3", r"\(2, 4, 5, 5\)"]),
    (lambda e: Conv2d(3, 2, 3, e), (3, 5, 5), [r"\(N, C, H, W\)", r"\(3, 5, 5\)"]),
    (lambda e: Conv2d(1, 2, 3, e), (1, 1, 2, 5), [r"spatial size \(2, 5\)", r"window \(3, 3\)"]),
    (lambda e: Conv1d(2, 2, 5, e, padding=1), (1, 2, 2), [r"Conv1d\(2, 2, kernel_size=5, padding=1\)",
                                                           r"padded: \(4,\)"]),
    (lambda e: Conv1d(2, 2, 3, e), (2, 3, 5), [r"\(N, C, L\)", "C = 2", r"\(2, 3, 5\)"]),
    (lambda e: MaxPool2d(2, e), (1, 1, 1, 4), [r"MaxPool2d\(kernel_size=\(2, 2\)", r"\(1, 4\)"]),
    (lambda e: AvgPool1d(2, e), (3, 4), [r"AvgPool1d", r"\(N, C, L\)", r"\(3, 4\)"]),
])
def test_bad_input_raises_naming_layer_and_shapes_before_recording(engine, make, shape, patterns):
    layer = make(engine)
    with pytest.raises(ValueError) as info:
        layer(np.zeros(shape))
    for pattern in patterns:
        assert re.search(pattern, str(info.value)), (pattern, str(info.value))
    assert engine.operation_list == []


@pytest.mark.parametrize("kwargs", [dict(kernel_size=0), dict(kernel_size=(2, 2, 2)), dict(stride=0),
                                    dict(padding=-1)])
def test_bad_hyperparameters_raise(engine, kwargs):
    arguments = dict(kernel_size=2) | kwargs
    with pytest.raises(ValueError, match="Conv2d"):
        Conv2d(1, 1, arguments.pop("kernel_size"), engine, **arguments)


# ---------------------------------------------------------------- Flatten and pooling

@pytest.mark.parametrize("shape", [(1, 1), (2, 3, 4), (1, 2, 3, 4)])
def test_flatten(engine, rng, shape):
    x = rng.standard_normal(shape)
    y = Flatten(engine)(x)
    np.testing.assert_array_equal(y, x.reshape(shape[0], -1))
    check_module(Flatten(engine), x)


POOLS = [  # (layer, input shape, kernel, stride (None = kernel))
    (MaxPool2d, (1, 1, 4, 4), 2, None), (MaxPool2d, (2, 3, 5, 6), 3, 2), (MaxPool2d, (1, 2, 5, 4), (2, 3), (1, 1)),
    (AvgPool2d, (1, 1, 4, 4), 2, None), (AvgPool2d, (2, 2, 5, 5), 3, 1), (MaxPool1d, (2, 3, 7), 3, 2),
    (AvgPool1d, (1, 2, 6), 2, None),
]


@pytest.mark.parametrize("make, shape, kernel, stride", POOLS)
def test_pooling_forward_and_gradients(engine, rng, make, shape, kernel, stride):
    layer = make(kernel, engine, stride=stride)
    x = rng.standard_normal(shape)  # continuous values: no ties within a window
    reduce = np.max if make in (MaxPool1d, MaxPool2d) else np.mean
    np.testing.assert_allclose(layer(x), pool_reference(x, layer.kernel_size, layer.stride, reduce), rtol=1e-12)
    check_module(layer, x)


def test_max_pool_routes_gradient_to_the_maximum_and_the_first_of_ties(engine):
    """Window [[1, 5], [2, 0]]: all of dL/dy goes to the 5. Window of four equal values: all to the
    first in row-major order (top left), as PyTorch; relu'(0) = 0 makes this choice invisible
    after a ReLU, where ties at 0 are common."""
    x = np.array([[[[1.0, 5.0, 3.0, 3.0], [2.0, 0.0, 3.0, 3.0]]]])
    y = MaxPool2d(2, engine)(x)
    np.testing.assert_array_equal(y, [[[[5.0, 3.0]]]])
    engine.backward(np.array([[[[2.0, 1.0]]]]), output=y)
    np.testing.assert_allclose(engine.memory_buffer.get_param(x),
                               [[[[0, 2, 1, 0], [0, 0, 0, 0]]]])


def test_small_cnn_gradients_end_to_end(engine, rng):
    """Conv2d -> ReLU -> MaxPool2d -> Flatten -> Linear: every parameter's gradient against central differences."""
    model = Sequential(Conv2d(1, 2, 3, engine, padding=1, rng=5), ReLU(engine), MaxPool2d(2, engine),
                       Flatten(engine), Linear(2 * 2 * 2, 3, engine, rng=6))
    grads = check_module(model, rng.standard_normal((2, 1, 4, 4)))
    assert set(grads) == {"input 0", "layers.0.W", "layers.0.b", "layers.4.W", "layers.4.b"}
