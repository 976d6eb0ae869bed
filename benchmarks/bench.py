"""MyTorch benchmarks: one run prints medians and ratios.

    python benchmarks/bench.py            # everything (about a minute)
    python benchmarks/bench.py --quick    # fewer repetitions

1. One MLP training step (forward, softmax cross-entropy, backward, SGD update)
   built from mytorch layers, against the same step hand-written in NumPy (the
   floor for any NumPy engine) and PyTorch on the CPU (1 thread) when installed.
   Sizes: batch 32 with layers 64-64-10, batch 256 with 784-512-256-10.
2. The cost per recorded operation (record + backward) of a chain of cheap
   elementwise operations, and how backward time grows from 1,000 to 100,000.
3. Resident memory over 2,000 training steps with zero_grad each step.

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
from mytorch.nn.linear import Linear  # noqa: E402
from mytorch.nn.loss import SoftmaxCrossEntropy  # noqa: E402
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
    args = parser.parse_args()
    malloc = "system default"
    if not args.default_malloc:
        malloc = "keeps freed memory (glibc mallopt)" if keep_freed_memory() else "system default (no glibc)"
    # (rounds, calls in a row per round) for each size
    repeats = {"small": (20, 20), "large": (20, 1)} if args.quick else {"small": (100, 20), "large": (60, 1)}
    engine = Autograd()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"NumPy {np.__version__}, BLAS threads 1, malloc {malloc}")

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

    print("\n2. Chain of cheap elementwise operations (record + backward)")
    rows = bench_chain(engine, [1_000, 10_000, 100_000], 3 if args.quick else 7)
    print(f"{'ops':>9}{'record us/op':>15}{'backward us/op':>17}{'backward s':>13}{'growth':>9}")
    for row in rows:
        growth = row["backward_s"] / rows[0]["backward_s"] * rows[0]["ops"] / row["ops"]
        print(f"{row['ops']:>9}{row['record_us_per_op']:>15.2f}{row['backward_us_per_op']:>17.2f}"
              f"{row['backward_s']:>13.4f}{growth:>8.2f}x")
    print("   (growth = backward time per op relative to the 1,000-op chain; 1.00x is linear)")
    first, last = rows[0], rows[-1]
    exponent = math.log(last["backward_s"] / first["backward_s"]) / math.log(last["ops"] / first["ops"])
    print(f"   backward time ~ ops^{exponent:.2f} (1 = linear, 2 = quadratic)")

    steps = 500 if args.quick else 2000
    print(f"\n3. Resident memory over {steps} small training steps with zero_grad each step")
    readings = bench_memory(engine, steps)
    for step, mib in readings:
        print(f"   after step {step:>5}: {mib:8.1f} MiB")
    print(f"   growth after warm-up: {readings[-1][1] - readings[0][1]:+.1f} MiB")


if __name__ == "__main__":
    main()
