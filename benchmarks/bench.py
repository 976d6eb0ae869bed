"""MyTorch benchmarks: one run prints medians and ratios.

    python benchmarks/bench.py                 # everything (a few minutes)
    python benchmarks/bench.py --quick         # fewer repetitions
    python benchmarks/bench.py --sections 4,6  # only the CNN step and the Conv2d growth

1. One MLP training step (forward, softmax cross-entropy, backward, SGD update)
   built from mytorch layers, against the same step hand-written in NumPy (the
   floor for any NumPy engine) and PyTorch on the CPU (1 thread) when installed.
   Sizes: batch 32 with layers 64-64-10, batch 256 with 784-512-256-10.
2. The cost per recorded operation (record + backward) of a chain of cheap
   elementwise operations, and how backward time grows from 1,000 to 100,000.
3. Resident memory over 2,000 training steps with zero_grad each step.
4. One CNN training step (two 3x3 convolutions with ReLU and 2x2 max pooling,
   then Linear) on 64 images 1x28x28: mytorch, PyTorch where installed, and a
   hand-written NumPy im2col step as the floor; time and the peak memory a step adds.
5. One GRU training step on 32 sequences of 50 steps, the same three ways.
6. How Conv2d's backward time grows with the batch size and the image area.

BLAS runs single-threaded (set before NumPy is imported), so the numbers
compare the engines, not thread scheduling. With glibc, malloc is asked to keep
freed memory (see keep_freed_memory; --default-malloc leaves it alone), so the
numbers compare the engines, not the allocator's page faults.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import ctypes  # noqa: E402
import gc  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Optional  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mytorch.nn.functional as F  # noqa: E402
from mytorch import Autograd, constant  # noqa: E402
from mytorch.nn.activation import ReLU  # noqa: E402
from mytorch.nn.conv import Conv2d, Flatten, MaxPool2d  # noqa: E402
from mytorch.nn.linear import Linear  # noqa: E402
from mytorch.nn.loss import SoftmaxCrossEntropy  # noqa: E402
from mytorch.nn.models import Sequential  # noqa: E402
from mytorch.nn.rnn import GRU  # noqa: E402
from mytorch.optim import SGD  # noqa: E402

SIZES = {"small": (32, [64, 64, 10]), "large": (256, [784, 512, 256, 10])}
LEARNING_RATE = 0.01


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse (False where there is no glibc).

    By default glibc returns a freed block of a few MiB to the system (a large block is
    mapped on its own; the top of the heap is trimmed), and the next step faults the pages
    back in: at the large size that is thousands of page faults per step, more or fewer
    for each engine depending on the order in which it frees its arrays and on what else
    runs in the process. Raising both thresholds (what exporting MALLOC_TRIM_THRESHOLD_
    and MALLOC_MMAP_THRESHOLD_ does at start-up) takes the allocator out of the comparison.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    return bool(mallopt(m_trim_threshold, 1 << 30)) and bool(mallopt(m_mmap_threshold, 32 << 20))


def data(batch: int, sizes: list, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0]))
    y = rng.integers(0, sizes[-1], size=batch)
    weights = [(rng.uniform(-1, 1, (n_out, n_in)) / np.sqrt(n_in), np.zeros(n_out))
               for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    return x, y, weights


def sgd_update(weights: list, grads: list, scaled: list) -> None:
    """W -= lr dW for every parameter, in place, through preallocated arrays for lr dW.

    ``optim.SGD`` updates this way; the textbook ``W -= lr * dW`` allocates a parameter-sized
    temporary every step, which at the large size costs page faults that would make the
    hand-written step slower than the engine's and no longer a floor.
    """
    for (W, b), (dW, db), (sW, sb) in zip(weights, grads, scaled):
        W -= np.multiply(dW, LEARNING_RATE, out=sW)
        b -= np.multiply(db, LEARNING_RATE, out=sb)


def numpy_step(batch: int, sizes: list) -> Callable[[], None]:
    """The same step written by hand: the floor for an engine built on NumPy."""
    x, y, weights = data(batch, sizes)
    grads: list = [None] * len(weights)
    scaled = [(np.empty_like(W), np.empty_like(b)) for W, b in weights]

    def step() -> None:
        activations, h = [x], x
        for i, (W, b) in enumerate(weights):
            z = h @ W.T + b
            h = np.maximum(z, 0.0) if i < len(weights) - 1 else z
            activations.append(h)
        shifted = h - h.max(axis=1, keepdims=True)
        probs = np.exp(shifted)
        probs /= probs.sum(axis=1, keepdims=True)
        grad = probs
        grad[np.arange(batch), y] -= 1.0
        grad /= batch
        for i in range(len(weights) - 1, -1, -1):
            W, b = weights[i]
            h_in = activations[i]
            grads[i] = grad.T @ h_in, grad.sum(axis=0)
            if i > 0:
                grad = (grad @ W) * (activations[i] > 0)
        sgd_update(weights, grads, scaled)

    step.parameters = [array for pair in weights for array in pair]  # for the test that the steps agree
    return step


def bare_tape_step(batch: int, sizes: list) -> Callable[[], None]:
    """The cheapest tape for this network: the floor for any engine with a tape.

    Forward appends one tuple per operation; backward is a bare loop over them with each
    vector-Jacobian product written inline. It does the engine's extra work (zeroing dW and db,
    then accumulating into them; the loss value from log-softmax), but has no checks, no
    backward functions, no memory buffer and no modules. mytorch's distance from this row is
    what its generality costs; this row's distance from the hand-written step is what any tape costs.
    """
    x, y, weights = data(batch, sizes)
    grads = [(np.zeros_like(W), np.zeros_like(b)) for W, b in weights]
    scaled = [(np.empty_like(W), np.empty_like(b)) for W, b in weights]
    last = len(weights) - 1

    def step() -> None:
        for dW, db in grads:
            dW.fill(0.0)
            db.fill(0.0)
        tape, h = [], x
        for i, ((W, b), (dW, db)) in enumerate(zip(weights, grads)):
            z = h @ W.T
            tape.append(("matmul", h, W, dW, i > 0))  # (op, input, weight, its gradient, dL/dinput needed)
            h = z + b
            tape.append(("add", None, None, db, True))
            if i < last:
                tape.append(("relu", h, None, None, True))
                h = np.maximum(h, 0.0)
        shifted = h - h.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        rows = np.arange(batch)
        step.loss = -log_probs[rows, y].mean()  # the loss value, which the engine's step computes too
        grad = np.exp(log_probs)
        grad[rows, y] -= 1.0
        grad /= batch
        for op, a, W, target, needed in reversed(tape):
            if op == "add":
                target += grad.sum(axis=0)
            elif op == "relu":
                grad = grad * (a > 0)
            else:
                target += grad.T @ a
                if needed:
                    grad = grad @ W
        sgd_update(weights, grads, scaled)

    step.parameters = [array for pair in weights for array in pair]
    return step


def mytorch_step(batch: int, sizes: list, engine: Autograd, data_as_constant: bool = True) -> Callable[[], None]:
    """The step with mytorch layers. The input batch enters as ``constant(x)`` (it needs no
    gradient, as data in PyTorch); with data_as_constant=False the engine also computes and
    stores dL/dx, as the handout's engine always does."""
    x, y, weights = data(batch, sizes)
    if data_as_constant:
        x = constant(x)
    layers = []
    for W, b in weights:
        layer = Linear(W.shape[1], W.shape[0], engine)
        layer.W[...], layer.b[...] = W, b
        layers.append(layer)
    relu = ReLU(engine)
    loss_fn = SoftmaxCrossEntropy(engine)
    parameters = [pair for layer in layers for pair in layer.parameters()]
    optimizer = SGD(parameters, lr=LEARNING_RATE)

    def step() -> None:
        optimizer.zero_grad()
        engine.zero_grad()
        h = x
        for i, layer in enumerate(layers):
            h = layer(h)
            if i < len(layers) - 1:
                h = relu(h)
        loss_fn(h, y)
        loss_fn.backward()
        optimizer.step()

    step.parameters = [layer_param for layer in layers for layer_param in (layer.W, layer.b)]
    return step


def torch_step(batch: int, sizes: list) -> Callable[[], None]:
    import torch
    torch.set_num_threads(1)
    x, y, weights = data(batch, sizes)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    layers = []
    for W, b in weights:
        layer = torch.nn.Linear(W.shape[1], W.shape[0]).double()
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(W))
            layer.bias.copy_(torch.from_numpy(b))
        layers.append(layer)
    params = [p for layer in layers for p in layer.parameters()]
    optimizer = torch.optim.SGD(params, lr=LEARNING_RATE)

    def step() -> None:
        optimizer.zero_grad()
        h = xt
        for i, layer in enumerate(layers):
            h = layer(h)
            if i < len(layers) - 1:
                h = torch.relu(h)
        torch.nn.functional.cross_entropy(h, yt).backward()
        optimizer.step()

    step.parameters = [p.detach().numpy() for p in params]  # views: they follow the updates
    return step


# ---------------------------------------------------------------- 4. the CNN step

CNN_BATCH, CNN_IMAGE = 64, 28
CNN_LAYERS = [(16, 1), (32, 16)]  # (out, in) channels of the two 3x3 convolutions, padding 1


def cnn_data(seed: int = 0) -> tuple:
    """A batch of 64 images 1x28x28, labels, and the weights of two 3x3 convolutions and Linear(1568, 10)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((CNN_BATCH, 1, CNN_IMAGE, CNN_IMAGE))
    y = rng.integers(0, 10, size=CNN_BATCH)
    convs = [(rng.uniform(-1, 1, (o, c, 3, 3)) / np.sqrt(9 * c), rng.uniform(-1, 1, o) / np.sqrt(9 * c))
             for o, c in CNN_LAYERS]
    features = CNN_LAYERS[-1][0] * (CNN_IMAGE // 4) ** 2
    fc = (rng.uniform(-1, 1, (10, features)) / np.sqrt(features), np.zeros(10))
    return x, y, convs + [fc]


def numpy_cnn_step() -> Callable[[], None]:
    """The CNN step written by hand with im2col: the floor for the engine's CNN step.

    Activations are kept as (C, N, H, W), the layout in which the columns' product
    (out, C 9) @ (C 9, N H W) comes out, so no layer transposes its output; only the
    Linear layer at the end needs (N, C H W). Max pooling compares four strided views.
    """
    x, y, weights = cnn_data()
    grads = [(np.empty_like(W), np.empty_like(b)) for W, b in weights]
    scaled = [(np.empty_like(W), np.empty_like(b)) for W, b in weights]
    offsets = [(i, j) for i in range(2) for j in range(2)]

    def conv_forward(h: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple:
        c, n, size = h.shape[0], h.shape[1], h.shape[2]
        padded = np.pad(h, ((0, 0), (0, 0), (1, 1), (1, 1)))
        windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))  # (C, N, H, W, 3, 3)
        columns = windows.transpose(0, 4, 5, 1, 2, 3).reshape(c * 9, -1)                # (C 9, N H W)
        z = W.reshape(W.shape[0], -1) @ columns
        z += b[:, np.newaxis]
        return z.reshape(W.shape[0], n, size, size), columns

    def conv_backward(g: np.ndarray, W: np.ndarray, columns: np.ndarray, shape: tuple, dW: np.ndarray,
                      db: np.ndarray, need_input: bool) -> Optional[np.ndarray]:
        g = g.reshape(g.shape[0], -1)
        np.matmul(g, columns.T, out=dW.reshape(dW.shape[0], -1))
        np.sum(g, axis=1, out=db)
        if not need_input:
            return None
        c, n, size = shape[0], shape[1], shape[2]
        d_columns = (W.reshape(W.shape[0], -1).T @ g).reshape(c, 3, 3, n, size, size)
        d_padded = np.zeros((c, n, size + 2, size + 2))
        for i in range(3):
            for j in range(3):
                d_padded[:, :, i:i + size, j:j + size] += d_columns[:, i, j]
        return d_padded[:, :, 1:-1, 1:-1]

    def pool_forward(a: np.ndarray) -> np.ndarray:
        views = [a[:, :, i::2, j::2] for i, j in offsets]
        return np.maximum(np.maximum(views[0], views[1]), np.maximum(views[2], views[3]))

    def pool_relu_backward(g: np.ndarray, a: np.ndarray, pooled: np.ndarray) -> np.ndarray:
        """dL/dz for a = relu(z) and pooled = maxpool(a): the gradient at each window's maximum, where z > 0."""
        d = np.zeros_like(a)
        taken = np.zeros(pooled.shape, dtype=bool)
        for i, j in offsets:
            hit = (a[:, :, i::2, j::2] == pooled) & ~taken  # the first maximum of each window
            taken |= hit
            np.multiply(g, hit, out=d[:, :, i::2, j::2])
        d *= a > 0
        return d

    def step() -> None:
        h = x.transpose(1, 0, 2, 3)  # (C, N, H, W): a view, as C = 1
        saved = []
        for W, b in weights[:-1]:
            z, columns = conv_forward(h, W, b)
            a = np.maximum(z, 0.0)
            pooled = pool_forward(a)
            saved.append((h.shape, columns, a, pooled))
            h = pooled
        W, b = weights[-1]
        features = h.transpose(1, 0, 2, 3).reshape(CNN_BATCH, -1)
        logits = features @ W.T + b
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        rows = np.arange(CNN_BATCH)
        step.loss = -log_probs[rows, y].mean()
        g = np.exp(log_probs)
        g[rows, y] -= 1.0
        g /= CNN_BATCH
        np.matmul(g.T, features, out=grads[-1][0])
        np.sum(g, axis=0, out=grads[-1][1])
        g = (g @ W).reshape(CNN_BATCH, h.shape[0], h.shape[2], h.shape[3]).transpose(1, 0, 2, 3)
        for k in range(len(weights) - 2, -1, -1):
            shape, columns, a, pooled = saved[k]
            dz = pool_relu_backward(g, a, pooled)
            g = conv_backward(dz, weights[k][0], columns, shape, *grads[k], need_input=k > 0)
        sgd_update(weights, grads, scaled)

    step.parameters = [array for pair in weights for array in pair]
    return step


def mytorch_cnn_step(engine: Autograd) -> Callable[[], None]:
    """The CNN step with mytorch layers; the images enter as ``constant(x)``."""
    x, y, weights = cnn_data()
    x = constant(x)
    (W1, b1), (W2, b2), (W3, b3) = weights
    layers = [Conv2d(1, 16, 3, engine, padding=1), ReLU(engine), MaxPool2d(2, engine),
              Conv2d(16, 32, 3, engine, padding=1), ReLU(engine), MaxPool2d(2, engine),
              Flatten(engine), Linear(W3.shape[1], 10, engine)]
    for layer, (W, b) in zip((layers[0], layers[3], layers[7]), weights):
        layer.W[...], layer.b[...] = W, b
    model = Sequential(*layers)
    loss_fn = SoftmaxCrossEntropy(engine)
    optimizer = SGD(model.parameters(), lr=LEARNING_RATE)

    def step() -> None:
        optimizer.zero_grad()
        engine.zero_grad()
        loss_fn(model(x), y)
        loss_fn.backward()
        optimizer.step()

    step.parameters = [p for p, _ in model.parameters()]
    return step


def torch_cnn_step() -> Callable[[], None]:
    import torch
    torch.set_num_threads(1)
    x, y, weights = cnn_data()
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(weights[-1][0].shape[1], 10)).double()
    with torch.no_grad():
        for layer, (W, b) in zip((model[0], model[3], model[7]), weights):
            layer.weight.copy_(torch.from_numpy(W))
            layer.bias.copy_(torch.from_numpy(b))
    params = list(model.parameters())
    optimizer = torch.optim.SGD(params, lr=LEARNING_RATE)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step() -> None:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        optimizer.step()

    step.parameters = [p.detach().numpy() for p in params]
    return step


# ---------------------------------------------------------------- 5. the GRU step

GRU_SEQ, GRU_BATCH, GRU_INPUT, GRU_HIDDEN = 50, 32, 8, 32


def gru_data(seed: int = 0) -> tuple:
    """A batch of 32 sequences of 50 steps of 8 features, labels, GRU(8, 32) and Linear(32, 10) weights."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((GRU_SEQ, GRU_BATCH, GRU_INPUT))
    y = rng.integers(0, 10, size=GRU_BATCH)
    bound = 1.0 / np.sqrt(GRU_HIDDEN)
    shapes = [(3 * GRU_HIDDEN, GRU_INPUT), (3 * GRU_HIDDEN, GRU_HIDDEN), (3 * GRU_HIDDEN,), (3 * GRU_HIDDEN,),
              (10, GRU_HIDDEN), (10,)]
    return x, y, [rng.uniform(-bound, bound, shape) for shape in shapes]


def numpy_gru_step() -> Callable[[], None]:
    """The GRU step (last hidden state -> Linear -> cross-entropy) with backpropagation through time by hand."""
    x, y, params = gru_data()
    W_ih, W_hh, b_ih, b_hh, W, b = params
    grads = [np.empty_like(p) for p in params]
    scaled = [np.empty_like(p) for p in params]
    H = GRU_HIDDEN
    inputs = x.reshape(-1, GRU_INPUT)

    def sigmoid(a: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-a))

    def step() -> None:
        gates_x = (inputs @ W_ih.T + b_ih).reshape(GRU_SEQ, GRU_BATCH, 3 * H)  # every step's input part at once
        h = np.zeros((GRU_BATCH, H))
        saved = []
        for t in range(GRU_SEQ):
            gx, gh = gates_x[t], h @ W_hh.T + b_hh
            r = sigmoid(gx[:, :H] + gh[:, :H])
            z = sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
            n = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
            saved.append((h, r, z, n, gh[:, 2 * H:]))
            h = (1.0 - z) * n + z * h
        logits = h @ W.T + b
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        rows = np.arange(GRU_BATCH)
        step.loss = -log_probs[rows, y].mean()
        g = np.exp(log_probs)
        g[rows, y] -= 1.0
        g /= GRU_BATCH
        grads[4][...] = g.T @ h
        grads[5][...] = g.sum(axis=0)
        dh = g @ W
        d_gates_x = np.empty_like(gates_x)
        d_gates_h = np.empty((GRU_SEQ, GRU_BATCH, 3 * H))
        for t in range(GRU_SEQ - 1, -1, -1):
            h_prev, r, z, n, gh_n = saved[t]
            dn = dh * (1.0 - z)
            da_n = dn * (1.0 - n * n)
            dr = da_n * gh_n
            d_gates_x[t, :, :H] = d_gates_h[t, :, :H] = dr * r * (1.0 - r)
            d_gates_x[t, :, H:2 * H] = d_gates_h[t, :, H:2 * H] = dh * (h_prev - n) * z * (1.0 - z)
            d_gates_x[t, :, 2 * H:] = da_n
            d_gates_h[t, :, 2 * H:] = da_n * r
            dh = dh * z + d_gates_h[t] @ W_hh
        hidden_before = np.stack([s[0] for s in saved]).reshape(-1, H)
        dgx, dgh = d_gates_x.reshape(-1, 3 * H), d_gates_h.reshape(-1, 3 * H)
        grads[0][...] = dgx.T @ inputs
        grads[1][...] = dgh.T @ hidden_before
        grads[2][...] = dgx.sum(axis=0)
        grads[3][...] = dgh.sum(axis=0)
        for p, grad, s in zip(params, grads, scaled):
            p -= np.multiply(grad, LEARNING_RATE, out=s)

    step.parameters = params
    return step


def mytorch_gru_step(engine: Autograd) -> Callable[[], None]:
    """The GRU step with mytorch's GRU and Linear; the sequences enter as ``constant(x)``."""
    x, y, (W_ih, W_hh, b_ih, b_hh, W, b) = gru_data()
    x = constant(x)
    gru, head = GRU(GRU_INPUT, GRU_HIDDEN, engine), Linear(GRU_HIDDEN, 10, engine)
    cell = gru.cells[0]
    cell.W_ih[...], cell.W_hh[...], cell.b_ih[...], cell.b_hh[...] = W_ih, W_hh, b_ih, b_hh
    head.W[...], head.b[...] = W, b
    loss_fn = SoftmaxCrossEntropy(engine)
    parameters = gru.parameters() + head.parameters()
    optimizer = SGD(parameters, lr=LEARNING_RATE)

    def step() -> None:
        optimizer.zero_grad()
        engine.zero_grad()
        _, last = gru(x)
        loss_fn(head(F.getitem(last, 0)), y)
        loss_fn.backward()
        optimizer.step()

    step.parameters = [p for p, _ in parameters]
    return step


def torch_gru_step() -> Callable[[], None]:
    import torch
    torch.set_num_threads(1)
    x, y, (W_ih, W_hh, b_ih, b_hh, W, b) = gru_data()
    gru, head = torch.nn.GRU(GRU_INPUT, GRU_HIDDEN).double(), torch.nn.Linear(GRU_HIDDEN, 10).double()
    with torch.no_grad():
        for target, value in ((gru.weight_ih_l0, W_ih), (gru.weight_hh_l0, W_hh), (gru.bias_ih_l0, b_ih),
                              (gru.bias_hh_l0, b_hh), (head.weight, W), (head.bias, b)):
            target.copy_(torch.from_numpy(value))
    params = [gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0, head.weight, head.bias]
    optimizer = torch.optim.SGD(params, lr=LEARNING_RATE)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step() -> None:
        optimizer.zero_grad()
        _, last = gru(xt)
        torch.nn.functional.cross_entropy(head(last[0]), yt).backward()
        optimizer.step()

    step.parameters = [p.detach().numpy() for p in params]
    return step


STEP_MAKERS = {  # (kind, engine) -> function(engine) returning the step; kinds: "cnn", "gru"
    ("cnn", "numpy"): lambda engine: numpy_cnn_step(), ("cnn", "mytorch"): mytorch_cnn_step,
    ("cnn", "torch"): lambda engine: torch_cnn_step(),
    ("gru", "numpy"): lambda engine: numpy_gru_step(), ("gru", "mytorch"): mytorch_gru_step,
    ("gru", "torch"): lambda engine: torch_gru_step(),
}


def bench_network(engine: Autograd, kind: str, rounds: int) -> dict:
    """Median seconds of the hand-written, mytorch and (if installed) PyTorch steps, in one interleaved run.

    These steps take milliseconds, long enough that PyTorch's thread pools (one thread)
    do not disturb the steps around them, so all three share every round.
    """
    steps = {}
    for name in ("numpy", "mytorch", "torch"):
        try:
            steps[name] = STEP_MAKERS[kind, name](engine)
        except ImportError:
            pass
    medians = interleaved_medians(steps, rounds)
    engine.zero_grad()
    return {name: medians.get(name) for name in ("numpy", "mytorch", "torch")}


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def measure_peak_memory(kind: str, name: str) -> None:
    """Child process: print the peak resident memory a step adds (MiB), and tracemalloc's peak for NumPy steps.

    After one warm-up step, the peak resident set size is reset (/proc/self/clear_refs) and
    three steps run; the result is that peak minus the resident size before them: what a
    step allocates beyond the parameters and data that live across steps. Fixed malloc
    thresholds (set by the parent) return every freed block above 128 KiB to the system,
    so the resident size follows the arrays alive at each moment. tracemalloc sees NumPy's
    allocations, not PyTorch's, so it is printed for the NumPy-based steps only.
    """
    import tracemalloc
    engine = Autograd()
    step = STEP_MAKERS[kind, name](engine)
    step()
    engine.zero_grad()  # the tape of the last step holds its arrays until the next step starts
    gc.collect()
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # reset the peak (VmHWM) to the current resident size
    for _ in range(3):
        step()
    peak = (_status_kib("VmHWM") - before) / 1024
    traced = float("nan")
    if name != "torch":
        engine.zero_grad()
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        step()
        traced = (tracemalloc.get_traced_memory()[1] - base) / 2**20
        tracemalloc.stop()
    print(f"{peak:.3f} {traced:.3f}")


def peak_memory(kind: str, name: str) -> Optional[tuple]:
    """(peak resident MiB, tracemalloc peak MiB) of one step of ``kind`` run by ``name``, in a fresh process."""
    import subprocess
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="131072")
    result = subprocess.run([sys.executable, __file__, "--peak-memory", f"{kind}:{name}"], env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        return None  # PyTorch not installed, or no /proc
    resident, traced = map(float, result.stdout.split()[-2:])
    return resident, traced


def conv_backward_seconds(engine: Autograd, batch: int, size: int, repeats: int) -> float:
    """Fastest of ``repeats`` backward passes of Conv2d(16, 32, 3, padding=1) on a (batch, 16, size, size) input.

    The input is a plain array, so backward goes all the way to dL/dx (pad and sliding
    windows included), as it does for every convolution but the first of a network.
    """
    rng = np.random.default_rng(0)
    layer = Conv2d(16, 32, 3, engine, padding=1, rng=0)
    x = rng.standard_normal((batch, 16, size, size))
    seed = rng.standard_normal((batch, 32, size, size))
    samples = []
    for _ in range(repeats):
        engine.zero_grad()
        y = layer(x)
        started = time.perf_counter()
        engine.backward(seed, output=y)
        samples.append(time.perf_counter() - started)
    engine.zero_grad()
    return min(samples)  # the fastest: on a shared machine one slow sample would tilt an exponent


def torch_conv_backward_seconds(batch: int, size: int, repeats: int) -> float:
    """The same measurement for torch.nn.Conv2d (float64, one thread): the machine's own growth, for comparison."""
    import torch
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    layer = torch.nn.Conv2d(16, 32, 3, padding=1).double()
    x = torch.from_numpy(rng.standard_normal((batch, 16, size, size))).requires_grad_()
    seed = torch.from_numpy(rng.standard_normal((batch, 32, size, size)))
    samples = []
    for _ in range(repeats):
        y = layer(x)
        started = time.perf_counter()
        y.backward(seed)
        samples.append(time.perf_counter() - started)
        x.grad = None
        layer.zero_grad()
    return min(samples)


def growth_exponent(first: tuple, last: tuple) -> float:
    """The p in time ~ n^p through two (n, seconds) points."""
    return math.log(last[1] / first[1]) / math.log(last[0] / first[0])


def interleaved_medians(steps: dict, rounds: int, block: int = 1, warmup_seconds: float = 2.0) -> dict:
    """Median seconds per call of each step, over ``rounds`` rounds.

    In every round each step runs ``block`` times in a row (a training loop runs its step
    back to back, so its caches are warm) and is timed as a block. The steps take turns
    within a round, in an order shuffled with a fixed seed, so a slow moment of a shared
    machine falls on all of them alike and the ratios stay fair. Rounds during the first
    ``warmup_seconds`` are not counted: a fresh process runs markedly slower at first.
    """
    times: dict = {name: [] for name in steps}
    names, order = list(steps), random.Random(0)
    warm_from = time.perf_counter() + warmup_seconds
    counted = 0
    while counted < rounds:
        counting = time.perf_counter() >= warm_from
        counted += counting
        order.shuffle(names)
        for name in names:
            step = steps[name]
            started = time.perf_counter()
            for _ in range(block):
                step()
            elapsed = (time.perf_counter() - started) / block
            if counting:
                times[name].append(elapsed)
    return {name: statistics.median(samples) for name, samples in times.items()}


def bench_mlp(engine: Autograd, repeats: dict) -> list:
    rows = []
    for name, (batch, sizes) in SIZES.items():
        floor = numpy_step(batch, sizes)
        steps = {"numpy": floor, "bare_tape": bare_tape_step(batch, sizes),
                 "mytorch": mytorch_step(batch, sizes, engine),
                 "mytorch_dx": mytorch_step(batch, sizes, engine, data_as_constant=False)}
        rounds, block = repeats[name]
        row = {"torch": None, **interleaved_medians(steps, rounds, block)}
        try:
            # PyTorch in a run of its own, against the floor again: its thread pools and
            # allocator disturb whatever runs next to it, so it shares no round with mytorch
            against = interleaved_medians({"numpy": floor, "torch": torch_step(batch, sizes)}, rounds, block)
            row["torch"] = against["torch"] / against["numpy"] * row["numpy"]
        except ImportError:
            pass
        row["size"] = f"{name}: batch {batch}, {'-'.join(map(str, sizes))}"
        rows.append(row)
        engine.zero_grad()
    return rows


def chain_seconds(engine: Autograd, n: int) -> tuple:
    """Record n cheap elementwise operations (y = y * c), then backpropagate: (record, backward) seconds."""
    engine.zero_grad()
    y = np.ones(4)
    started = time.perf_counter()
    for _ in range(n):
        y = F.mul(y, 1.0001)
    recorded = time.perf_counter()
    engine.backward(np.ones(4))
    finished = time.perf_counter()
    engine.zero_grad()
    return recorded - started, finished - recorded


def bench_chain(engine: Autograd, lengths: list, repeats: int) -> list:
    rows = []
    for n in lengths:
        samples = [chain_seconds(engine, n) for _ in range(repeats)]
        record = statistics.median(s[0] for s in samples)
        backward = statistics.median(s[1] for s in samples)
        rows.append({"ops": n, "record_us_per_op": 1e6 * record / n, "backward_us_per_op": 1e6 * backward / n,
                     "backward_s": backward})
    return rows


def resident_mib() -> float:
    """Current resident set size, from /proc (Linux) or the peak from resource elsewhere."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_memory(engine: Autograd, steps: int) -> list:
    batch, sizes = SIZES["small"]
    step = mytorch_step(batch, sizes, engine)
    readings = []
    for i in range(1, steps + 1):
        step()
        if i in (100, steps // 4, steps // 2, 3 * steps // 4, steps):
            gc.collect()
            readings.append((i, resident_mib()))
    engine.zero_grad()
    return readings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (numbers are noisier)")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave malloc's policy alone (freed memory goes back to the system)")
    parser.add_argument("--sections", default="1,2,3,4,5,6",
                        help="which sections to run, e.g. 4,5 (default: all)")
    parser.add_argument("--peak-memory", metavar="KIND:ENGINE", help=argparse.SUPPRESS)  # the child of peak_memory
    args = parser.parse_args()
    if args.peak_memory:
        measure_peak_memory(*args.peak_memory.split(":"))
        return
    sections = {int(part) for part in args.sections.split(",")}
    malloc = "system default"
    if not args.default_malloc:
        malloc = "keeps freed memory (glibc mallopt)" if keep_freed_memory() else "system default (no glibc)"
    # (rounds, calls in a row per round) for each size
    repeats = {"small": (20, 20), "large": (20, 1)} if args.quick else {"small": (100, 20), "large": (60, 1)}
    engine = Autograd()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"NumPy {np.__version__}, BLAS threads 1, malloc {malloc}")

    if 1 in sections:
        print_mlp(engine, repeats)
    if 2 in sections:
        print_chain(engine, args.quick)
    if 3 in sections:
        print_memory(engine, args.quick)
    if 4 in sections or 5 in sections:
        print_networks(engine, [kind for number, kind in ((4, "cnn"), (5, "gru")) if number in sections],
                       args.quick)
    if 6 in sections:
        print_conv_growth(engine, args.quick)


def print_mlp(engine: Autograd, repeats: dict) -> None:
    print("\n1. MLP training step (median seconds; ratio to hand-written NumPy)")
    print(f"{'size':<35}{'numpy':>10}{'bare tape':>10}{'ratio':>7}{'mytorch':>10}{'ratio':>7}{'+dL/dx':>10}"
          f"{'ratio':>7}{'torch':>10}{'ratio':>7}")

    def cells(seconds: Optional[float], floor: float) -> str:
        return f"{seconds * 1e3:>8.3f}ms{seconds / floor:>6.2f}x" if seconds else f"{'n/a':>10}{'':>7}"

    for row in bench_mlp(engine, repeats):
        print(f"{row['size']:<35}{row['numpy'] * 1e3:>8.3f}ms" + cells(row["bare_tape"], row["numpy"])
              + cells(row["mytorch"], row["numpy"]) + cells(row["mytorch_dx"], row["numpy"])
              + cells(row["torch"], row["numpy"]))
    print("   (bare tape: the cheapest tape for this network, see bare_tape_step; mytorch: the data enters as\n"
          "    constant(x); +dL/dx: the engine also computes and stores dL/dx)")


def print_chain(engine: Autograd, quick: bool) -> None:
    print("\n2. Chain of cheap elementwise operations (record + backward)")
    rows = bench_chain(engine, [1_000, 10_000, 100_000], 3 if quick else 7)
    print(f"{'ops':>9}{'record us/op':>15}{'backward us/op':>17}{'backward s':>13}{'growth':>9}")
    for row in rows:
        growth = row["backward_s"] / rows[0]["backward_s"] * rows[0]["ops"] / row["ops"]
        print(f"{row['ops']:>9}{row['record_us_per_op']:>15.2f}{row['backward_us_per_op']:>17.2f}"
              f"{row['backward_s']:>13.4f}{growth:>8.2f}x")
    print("   (growth = backward time per op relative to the 1,000-op chain; 1.00x is linear)")
    first, last = rows[0], rows[-1]
    exponent = math.log(last["backward_s"] / first["backward_s"]) / math.log(last["ops"] / first["ops"])
    print(f"   backward time ~ ops^{exponent:.2f} (1 = linear, 2 = quadratic)")


def print_memory(engine: Autograd, quick: bool) -> None:
    steps = 500 if quick else 2000
    print(f"\n3. Resident memory over {steps} small training steps with zero_grad each step")
    readings = bench_memory(engine, steps)
    for step, mib in readings:
        print(f"   after step {step:>5}: {mib:8.1f} MiB")
    print(f"   growth after warm-up: {readings[-1][1] - readings[0][1]:+.1f} MiB")


NETWORKS = {"cnn": "4. CNN training step: 64 images 1x28x28, Conv2d(1,16,3,p=1)-ReLU-MaxPool2d(2)-Conv2d(16,32,3,p=1)"
                   "-ReLU-MaxPool2d(2)-Flatten-Linear(1568,10)",
            "gru": f"5. GRU training step: {GRU_BATCH} sequences of {GRU_SEQ} steps x {GRU_INPUT}, "
                   f"GRU({GRU_INPUT},{GRU_HIDDEN}) -> last hidden state -> Linear({GRU_HIDDEN},10)"}


def print_networks(engine: Autograd, kinds: list, quick: bool) -> None:
    for kind in kinds:
        print(f"\n{NETWORKS[kind]}")
        print("   softmax cross-entropy and SGD, float64, 1 thread (median seconds; ratios to the hand-written")
        print("   NumPy step and to PyTorch, measured side by side); peak memory a step adds, in a fresh process")
        times = bench_network(engine, kind, 15 if quick else 40)
        memory = {name: peak_memory(kind, name) for name in ("numpy", "mytorch", "torch")}
        floor, torch_time = times["numpy"], times["torch"]
        print(f"   {'':<12}{'time':>10}{'/ numpy':>9}{'/ torch':>9}{'peak RSS':>12}{'/ torch':>9}{'tracemalloc':>13}")
        for name, label in (("numpy", "numpy" if kind == "gru" else "numpy im2col"), ("mytorch", "mytorch"),
                            ("torch", "torch")):
            seconds, mem = times[name], memory[name]
            if seconds is None:
                print(f"   {label:<12}{'n/a':>10}")
                continue
            versus = f"{seconds / torch_time:>8.2f}x" if torch_time else f"{'n/a':>9}"
            resident = f"{mem[0]:>8.1f} MiB" if mem else f"{'n/a':>12}"
            mem_versus = (f"{mem[0] / memory['torch'][0]:>8.2f}x" if mem and memory["torch"]
                          and memory["torch"][0] > 0 else f"{'n/a':>9}")
            traced = f"{mem[1]:>9.1f} MiB" if mem and not math.isnan(mem[1]) else f"{'n/a':>13}"
            print(f"   {label:<12}{seconds * 1e3:>8.2f}ms{seconds / floor:>8.2f}x{versus}{resident}{mem_versus}"
                  f"{traced}")


def print_conv_growth(engine: Autograd, quick: bool) -> None:
    print("\n6. Conv2d(16, 32, 3, padding=1) backward time against batch size and image area")
    repeats = 5 if quick else 11
    shapes = {"batch": [(n, 14) for n in (16, 64, 256)], "image": [(16, hw) for hw in (14, 28, 56)]}
    engines = {"mytorch": lambda n, hw: conv_backward_seconds(engine, n, hw, repeats)}
    try:
        torch_conv_backward_seconds(1, 4, 1)
        engines["torch"] = lambda n, hw: torch_conv_backward_seconds(n, hw, repeats)
    except ImportError:
        pass
    for axis, points in shapes.items():
        print(f"   {axis:<8}" + "".join(f"{name + ' s':>13}{'growth':>9}" for name in engines))
        rows = {name: [(n * hw * hw, measure(n, hw)) for n, hw in points] for name, measure in engines.items()}
        for i, (n, hw) in enumerate(points):
            label = str(n) if axis == "batch" else f"{hw}x{hw}"
            cells = ""
            for name in engines:
                size, seconds = rows[name][i]
                first_size, first_seconds = rows[name][0]
                cells += f"{seconds:>13.4f}{seconds / first_seconds * first_size / size:>8.2f}x"
            print(f"   {label:<8}{cells}")
        exponents = {name: growth_exponent(rows[name][0], rows[name][-1]) for name in engines}
        variable = "batch" if axis == "batch" else "area"
        print("   " + ", ".join(f"{name}: backward time ~ {variable}^{p:.2f}" for name, p in exponents.items()))
    print("   (fastest of several backward passes; batch: images 16x14x14; image: batch 16; growth = time per\n"
          "    image or per pixel relative to the first row; an exponent of 1 is linear; torch: the same layer\n"
          "    in PyTorch on this machine)")


if __name__ == "__main__":
    main()
