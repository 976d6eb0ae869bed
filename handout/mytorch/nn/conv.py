"""Convolution, pooling and flattening, built from primitives.

How a convolution is computed (im2col from primitives):

1. ``F.pad`` adds ``padding`` zeros on both sides of every spatial axis;
2. ``F.sliding_windows`` takes every kernel-sized window, ``stride`` apart:
   (N, C, *spatial) -> (N, C, *out, *kernel), a view, no copy;
3. ``F.transpose`` + ``F.reshape`` lay each window out as one row,
   channels first like a row of the weight: (N P, C * K), P = prod(out),
   K = prod(kernel), one row per (image, output position) (``columns``);
4. one 2-D ``F.matmul`` with the weight reshaped to (O, C * K), transposed,
   gives every output position of every image at once: (N P, O); ``F.add``
   adds the bias;
5. ``F.reshape`` to (N, *out, O) and ``F.transpose`` put the channels in
   front: (N, O, *out), a view (the data stays channels-last in memory).

Data that needs no gradient (``constant(x)``) is cut into columns with the
same helpers but nothing recorded: no gradient would flow back to it.

Every step is a recorded primitive, so the engine's backward gives the
gradients of input, weight and bias; the overlap of windows (stride < kernel)
is summed by ``sliding_windows_backward``. Layouts are PyTorch's: Conv1d
takes (N, C, L) and weight (out, in, k); Conv2d (N, C, H, W) and weight
(out, in, kh, kw). Output size per axis: o = (n + 2 padding - k) // stride + 1.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

import mytorch.nn.functional as F
from mytorch.autograd_engine import Autograd, constant, no_grad
from mytorch.nn.module import Module, Seed, make_rng, uniform_init

IntOrTuple = Any  # an int, or one int per spatial axis


def _ints(layer: str, name: str, value: IntOrTuple, d: int, minimum: int) -> tuple:
    values = (value,) * d if np.ndim(value) == 0 else tuple(value)
    if len(values) != d or any(int(v) != v or v < minimum for v in values):
        raise ValueError(f"{layer}: {name} must be an int or {d} ints, each at least {minimum}; got {value!r}")
    return tuple(int(v) for v in values)


def _check_spatial(layer: Module, shape: tuple, channels: Optional[int], d: int,
                   window: tuple, padding: tuple) -> None:
    """Input (N, C, *spatial) with C = channels (if given) and every padded axis >= the window."""
    layout = "(N, C, L)" if d == 1 else "(N, C, H, W)"
    name = layer.short_name()
    if len(shape) != d + 2:
        raise ValueError(f"{name}: expected input of shape {layout}, got shape {shape}")
    if channels is not None and shape[1] != channels:
        raise ValueError(f"{name}: expected input of shape {layout} with C = {channels} channels, "
                         f"got shape {shape} ({shape[1]} channels)")
    padded = tuple(n + 2 * p for n, p in zip(shape[2:], padding))
    if any(n < k for n, k in zip(padded, window)):
        raise ValueError(f"{name}: input of shape {shape} has spatial size {shape[2:]} "
                         f"(padded: {padded}), smaller than the window {window}")


class _ConvNd(Module):
    """y[n, o, p] = b[o] + sum_{c, j} W[o, c, j] x_pad[n, c, p stride + j], over d spatial axes.

    p and j are d-dimensional positions (output position, offset in the kernel).
    Gradients: dL/dW[o, c, j] = sum_{n, p} dL/dy[n, o, p] x_pad[n, c, p stride + j],
    dL/db[o] = sum_{n, p} dL/dy[n, o, p], and dL/dx[n, c, i] = the sum of
    W[o, c, j] dL/dy[n, o, p] over all (o, p, j) with p stride + j = i + padding.

    Initialisation, as PyTorch: W and b from U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    fan_in = in_channels * prod(kernel_size).
    """

    dims = 0

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrTuple,
                 autograd_engine: Autograd, stride: IntOrTuple = 1, padding: IntOrTuple = 0,
                 bias: bool = True, rng: Seed = None) -> None:
        super().__init__(autograd_engine)
        layer, d = type(self).__name__, self.dims
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"{layer}: in_channels and out_channels must be positive, "
                             f"got {in_channels} and {out_channels}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _ints(layer, "kernel_size", kernel_size, d, 1)
        self.stride = _ints(layer, "stride", stride, d, 1)
        self.padding = _ints(layer, "padding", padding, d, 0)
        rng = make_rng(rng)
        fan_in = in_channels * int(np.prod(self.kernel_size))
        self.add_parameter("W", uniform_init(rng, (out_channels, in_channels, *self.kernel_size), fan_in))
        self.bias = bias
        if bias:
            self.add_parameter("b", uniform_init(rng, (out_channels,), fan_in))

    def forward(self, x: Any) -> np.ndarray:
        """(N, C_in, *spatial) -> (N, C_out, *out), out = (spatial + 2 padding - kernel) // stride + 1."""
        d = self.dims
        shape = np.shape(x)
        _check_spatial(self, shape, self.in_channels, d, self.kernel_size, self.padding)
        if isinstance(x, np.ndarray):
            columns = self.columns(x)                                          # (N P, C K)
        else:  # data (a constant): no gradient flows back to it, so cut its windows without recording
            with no_grad():  # them, and matmul then skips dL/dcolumns as well
                columns = constant(self.columns(x))
        # one F.matmul of the columns with the kernel flattened to (out, in * kernel) and
        # transposed, the bias, then the channels moved in front of the output positions
        # (self.output_size(shape) gives the output's spatial size)
        raise NotImplementedError("Task 11: Convolution and pooling — see Task 11 in README.md")

    def columns(self, x: Any) -> np.ndarray:
        """im2col: (N, C, *spatial) -> (N P, C K), row n P + p the window at output position p of image n.

        The copy is made in the order (C, *k, N, *out), whose innermost axis (the output
        positions along the last spatial axis) is contiguous in the input, then seen
        transposed: an order (N, *out, C, *k) would copy runs of only k elements.
        """
        d = self.dims
        # pad, cut every kernel-sized window with F.sliding_windows, and lay them out as rows:
        # (N, C, *out, *k) -> (N P, C K) with F.transpose and F.reshape
        raise NotImplementedError("Task 11: Convolution and pooling — see Task 11 in README.md")

    @property
    def kernel_area(self) -> int:
        return int(np.prod(self.kernel_size))

    def output_size(self, shape: tuple) -> tuple:
        """out_i = (n_i + 2 padding_i - k_i) // stride_i + 1 for the spatial axes of an input shape."""
        return tuple((n + 2 * p - k) // s + 1
                     for n, p, k, s in zip(shape[2:], self.padding, self.kernel_size, self.stride))

    def extra_repr(self) -> str:
        k = self.kernel_size[0] if self.dims == 1 else self.kernel_size
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={k}"
        if any(s != 1 for s in self.stride):
            text += f", stride={self.stride[0] if self.dims == 1 else self.stride}"
        if any(self.padding):
            text += f", padding={self.padding[0] if self.dims == 1 else self.padding}"
        return text + ("" if self.bias else ", bias=False")


class Conv1d(_ConvNd):
    """1-D convolution (cross-correlation, as in PyTorch): (N, C_in, L) -> (N, C_out, L_out).

        y[n, o, p] = b[o] + sum_c sum_{j=0}^{k-1} W[o, c, j] x_pad[n, c, p stride + j],
        L_out = (L + 2 padding - k) // stride + 1.

    W (C_out, C_in, k), b (C_out,), gradients in dW, db. See ``_ConvNd`` for
    the gradients and the initialisation.
    """

    dims = 1


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation, as in PyTorch): (N, C_in, H, W) -> (N, C_out, H_out, W_out).

        y[n, o, p, q] = b[o] + sum_c sum_{i,j} W[o, c, i, j] x_pad[n, c, p s_h + i, q s_w + j],
        H_out = (H + 2 pad_h - kh) // s_h + 1, W_out likewise.

    W (C_out, C_in, kh, kw), b (C_out,), gradients in dW, db. ``kernel_size``,
    ``stride`` and ``padding`` are an int or a pair (height, width).
    """

    dims = 2


class Flatten(Module):
    """(N, d_1, ..., d_k) -> (N, d_1 * ... * d_k), row-major (C order, as PyTorch).

    dL/dx = dL/dy reshaped back to x's shape.
    """

    def __init__(self, autograd_engine: Autograd) -> None:
        super().__init__(autograd_engine)

    def forward(self, x: Any) -> np.ndarray:
        shape = np.shape(x)
        if len(shape) < 1:
            raise ValueError(f"{self.short_name()}: expected input of shape (N, ...), got a 0-d input")
        raise NotImplementedError("Task 11: Convolution and pooling — see Task 11 in README.md")


class _PoolNd(Module):
    """Pooling over kernel-sized windows, ``stride`` apart (default: the kernel size, no overlap).

    (N, C, *spatial) -> (N, C, *out), out = (spatial - kernel) // stride + 1. No padding.
    """

    dims = 0

    def __init__(self, kernel_size: IntOrTuple, autograd_engine: Autograd,
                 stride: Optional[IntOrTuple] = None) -> None:
        super().__init__(autograd_engine)
        layer = type(self).__name__
        self.kernel_size = _ints(layer, "kernel_size", kernel_size, self.dims, 1)
        self.stride = self.kernel_size if stride is None else _ints(layer, "stride", stride, self.dims, 1)

    def forward(self, x: Any) -> np.ndarray:
        _check_spatial(self, np.shape(x), None, self.dims, self.kernel_size, (0,) * self.dims)
        return self.pool(x)

    def pool(self, x: Any) -> np.ndarray:
        raise NotImplementedError

    def extra_repr(self) -> str:
        k, s = (self.kernel_size[0], self.stride[0]) if self.dims == 1 else (self.kernel_size, self.stride)
        return f"kernel_size={k}, stride={s}"


class _MaxPool(_PoolNd):
    def pool(self, x: Any) -> np.ndarray:
        # one primitive, F.window_max, finds each window's maximum and remembers where it was
        raise NotImplementedError("Task 11: Convolution and pooling — see Task 11 in README.md")


class _AvgPool(_PoolNd):
    def pool(self, x: Any) -> np.ndarray:
        # cut the windows with F.sliding_windows, then a mean over the window axes
        raise NotImplementedError("Task 11: Convolution and pooling — see Task 11 in README.md")


class MaxPool1d(_MaxPool):
    """y[n, c, p] = max_{j < k} x[n, c, p stride + j]: (N, C, L) -> (N, C, L_out).

    dL/dx routes dL/dy[n, c, p] to the window's maximum; among tied maxima, to
    the first (as PyTorch). One primitive, ``F.window_max``, records where it was.
    """

    dims = 1


class MaxPool2d(_MaxPool):
    """y[n, c, p, q] = max_{i, j} x[n, c, p s_h + i, q s_w + j]: (N, C, H, W) -> (N, C, H_out, W_out).

    dL/dx routes dL/dy to each window's maximum (among tied maxima, to the first
    in row-major order, as PyTorch). Overlapping windows (stride < kernel) add up.
    """

    dims = 2


class AvgPool1d(_AvgPool):
    """y[n, c, p] = (1/k) sum_{j < k} x[n, c, p stride + j]: (N, C, L) -> (N, C, L_out).

    dL/dx[n, c, p stride + j] += dL/dy[n, c, p] / k for every window p.
    """

    dims = 1


class AvgPool2d(_AvgPool):
    """y[n, c, p, q] = mean_{i, j} x[n, c, p s_h + i, q s_w + j]: (N, C, H, W) -> (N, C, H_out, W_out).

    dL/dx gets dL/dy[n, c, p, q] / (kh kw) at every element of window (p, q).
    """

    dims = 2


__all__ = ["Conv1d", "Conv2d", "Flatten", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d"]
