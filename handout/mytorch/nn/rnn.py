"""Recurrent cells (tanh RNN, GRU) and their unrolling over a sequence, with PyTorch's equations and layout.

A cell maps one time step: (x_t (batch, input_size), h_{t-1} (batch, hidden))
-> h_t (batch, hidden). ``RNN`` and ``GRU`` unroll a stack of cells over a
sequence (seq_len, batch, input_size), recording every step on the tape, so
backward is backpropagation through time: the gradient of each weight is the
sum over all time steps, and the gradient reaches the initial hidden state.

Initialisation, as PyTorch: every weight and bias from U(-1/sqrt(hidden), 1/sqrt(hidden)).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

import mytorch.nn.functional as F
from mytorch.autograd_engine import Autograd, constant
from mytorch.nn.module import Module, Seed, make_rng, uniform_init


class _Cell(Module):
    """Shared by the cells: parameters W_ih (G H, in), W_hh (G H, H), b_ih, b_hh (G H,), G gates."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, autograd_engine: Autograd,
                 bias: bool = True, rng: Seed = None) -> None:
        super().__init__(autograd_engine)
        if input_size < 1 or hidden_size < 1:
            raise ValueError(f"{type(self).__name__}: input_size and hidden_size must be positive, "
                             f"got {input_size} and {hidden_size}")
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bias
        rng, rows = make_rng(rng), self.gates * hidden_size
        self.add_parameter("W_ih", uniform_init(rng, (rows, input_size), hidden_size))
        self.add_parameter("W_hh", uniform_init(rng, (rows, hidden_size), hidden_size))
        if bias:
            self.add_parameter("b_ih", uniform_init(rng, (rows,), hidden_size))
            self.add_parameter("b_hh", uniform_init(rng, (rows,), hidden_size))

    def _affine(self, v: Any, which: str) -> np.ndarray:
        """v W_which^T + b_which, which is "ih" or "hh"; the gradients go to dW_which, db_which."""
        raise NotImplementedError("Task 12: Recurrent cells — see Task 12 in README.md")

    def _check(self, x: Any, h: Any) -> tuple:
        shape, name = np.shape(x), self.short_name()
        if len(shape) != 2 or shape[1] != self.input_size:
            raise ValueError(f"{name}: expected input of shape (batch, {self.input_size}), got shape {shape}")
        if h is None:
            return np.zeros((shape[0], self.hidden_size))
        if np.shape(h) != (shape[0], self.hidden_size):
            raise ValueError(f"{name}: expected hidden state of shape ({shape[0]}, {self.hidden_size}) "
                             f"for input of shape {shape}, got shape {np.shape(h)}")
        return h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_Cell):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)  (PyTorch's ``RNNCell``, tanh).

    Shapes: x (batch, input_size), h (batch, hidden) (zeros if omitted) -> h' (batch, hidden).
    W_ih (hidden, input_size), W_hh (hidden, hidden), b_ih, b_hh (hidden,).
    With a = the tanh's argument and dL/da = dL/dh' (1 - h'^2):
    dL/dx = dL/da W_ih, dL/dh = dL/da W_hh, dL/dW_ih = (dL/da)^T x,
    dL/dW_hh = (dL/da)^T h, dL/db_ih = dL/db_hh = sum over the batch of dL/da.
    """

    gates = 1

    def forward(self, x: Any, h: Optional[Any] = None) -> np.ndarray:
        h = self._check(x, h)
        raise NotImplementedError("Task 12: Recurrent cells — see Task 12 in README.md")


class GRUCell(_Cell):
    """The gated recurrent unit, PyTorch's equations (gate order r, z, n in the stacked weights):

        r  = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)           reset gate
        z  = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)           update gate
        n  = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))        candidate
        h' = (1 - z) * n + z * h

    W_ih = [W_ir; W_iz; W_in] (3 hidden, input_size), W_hh = [W_hr; W_hz; W_hn]
    (3 hidden, hidden), b_ih, b_hh (3 hidden,). Shapes: x (batch, input_size),
    h (batch, hidden) (zeros if omitted) -> h' (batch, hidden). The gradients
    are those of this composition (chain rule through the tape), e.g.
    dL/dh = dL/dh' z + (paths through r, z and n).
    """

    gates = 3

    def forward(self, x: Any, h: Optional[Any] = None) -> np.ndarray:
        h = self._check(x, h)
        # self._affine(v, "ih"/"hh") gives v W^T + b for all three gates; self._split cuts them into r, z, n
        raise NotImplementedError("Task 12: Recurrent cells — see Task 12 in README.md")

    def _split(self, gates: np.ndarray) -> tuple:
        """(batch, 3 H) -> three (batch, H) blocks: r, z, n."""
        H = self.hidden_size
        return tuple(F.getitem(gates, (slice(None), slice(k * H, (k + 1) * H))) for k in range(3))


class _Recurrent(Module):
    """A stack of ``num_layers`` cells unrolled over time; layer l > 0 reads layer l-1's hidden states.

    forward(x (seq_len, batch, input_size), h0 (num_layers, batch, hidden) or None for zeros)
    -> (output (seq_len, batch, hidden): the last layer's h_t at every step,
        h_n (num_layers, batch, hidden): every layer's last hidden state), as PyTorch.
    """

    cell_type: type = _Cell

    def __init__(self, input_size: int, hidden_size: int, autograd_engine: Autograd,
                 num_layers: int = 1, bias: bool = True, rng: Seed = None) -> None:
        super().__init__(autograd_engine)
        if num_layers < 1:
            raise ValueError(f"{type(self).__name__}: num_layers must be positive, got {num_layers}")
        rng = make_rng(rng)
        self.input_size, self.hidden_size, self.num_layers = int(input_size), int(hidden_size), int(num_layers)
        self.cells = [self.cell_type(input_size if layer == 0 else hidden_size, hidden_size, autograd_engine,
                                     bias=bias, rng=rng) for layer in range(num_layers)]

    def forward(self, x: Any, h0: Optional[Any] = None) -> tuple:
        shape, name = np.shape(x), self.short_name()
        if len(shape) != 3 or shape[2] != self.input_size:
            raise ValueError(f"{name}: expected input of shape (seq_len, batch, {self.input_size}), "
                             f"got shape {shape}")
        expected_h0 = (self.num_layers, shape[1], self.hidden_size)
        if h0 is not None and np.shape(h0) != expected_h0:
            raise ValueError(f"{name}: expected h0 of shape {expected_h0} (num_layers, batch, hidden) for "
                             f"input of shape {shape}, got shape {np.shape(h0)}")
        if isinstance(x, np.ndarray):
            steps = [F.getitem(x, t) for t in range(shape[0])]
        else:  # constant data: slice it unrecorded (each recorded slice's backward builds an array of x's size)
            data = np.asarray(x)
            steps = [constant(data[t]) for t in range(shape[0])]
        last = []
        for layer, cell in enumerate(self.cells):
            h = None if h0 is None else F.getitem(h0, layer)
            hidden_states = []
            for x_t in steps:
                h = cell(x_t, h)
                hidden_states.append(h)
            steps = hidden_states  # the next layer reads this layer's outputs
            last.append(h)
        return F.stack(steps, axis=0), F.stack(last, axis=0)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + (
            f", num_layers={self.num_layers}" if self.num_layers > 1 else "")


class RNN(_Recurrent):
    """A tanh ``RNNCell`` per layer, unrolled over the sequence (PyTorch's ``nn.RNN``, seq-first layout).

    h_t^(l) = tanh(h_t^(l-1) W_ih^T + b_ih + h_{t-1}^(l) W_hh^T + b_hh), with h_t^(0) = x_t.
    Parameters are those of ``cells[l]``. See ``_Recurrent`` for the shapes.
    """

    cell_type = RNNCell


class GRU(_Recurrent):
    """A ``GRUCell`` per layer, unrolled over the sequence (PyTorch's ``nn.GRU``, seq-first layout).

    Parameters are those of ``cells[l]``. See ``_Recurrent`` for the shapes.
    """

    cell_type = GRUCell


__all__ = ["RNNCell", "GRUCell", "RNN", "GRU"]
