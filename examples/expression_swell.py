"""Expression swell, measured: the size of symbolic gradients against the work of automatic differentiation.

Three families of functions, each of a size n = 1..50, each written once with
operators and methods that Symbol expressions, Tensors and Duals share:

  product   f(t) = t1 t2 ... tn                   n inputs   (the recitation's example)
  sin       f(x) = sin(sin(... sin(x)))           1 input, n nested sines
  mlp       n tanh layers of width 2 on a scalar x, output h1 + h2; the 6n - 2 weights and biases are the inputs
            (every n up to 20, then 30, 40, 50: simplifying its gradient takes 20 s at n = 50)

For each: the size (node count) of the function's formula and of its whole
symbolic gradient (every partial derivative), written out as trees (raw:
the rules' output; simplified) and with common subexpressions shared (a DAG:
each distinct subexpression counted once); against the operations MyTorch's
tape records for f (reverse mode replays each once backward: one backward
pass for all partials) and forward mode's passes (one per input, each running
all of f's operations).

Run: python examples/expression_swell.py [--quick] [--plot PATH | --no-plot]
A plot needs matplotlib (skipped with a note otherwise).
"""

from __future__ import annotations

import argparse
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from mytorch import Autograd, Tensor
from mytorch.symbolic import Symbol, dag_size, grad, tree_size


# ------------------------------------------------------------ the families, each written once

def product(ts: Sequence[Any]) -> Any:
    """t1 t2 ... tn, multiplied left to right."""
    f = ts[0]
    for t in ts[1:]:
        f = f * t
    return f


def nested_sin(xs: Sequence[Any], n: int) -> Any:
    """sin applied n times to x."""
    f = xs[0]
    for _ in range(n):
        f = f.sin()
    return f


def mlp_parameter_count(n: int) -> int:
    return 4 + 6 * (n - 1)  # first layer 2 weights + 2 biases; then 4 weights + 2 biases per layer


def mlp(params: Sequence[Any], n: int, x: float = 0.5) -> Any:
    """n layers of width 2: h = tanh(w x + b), then h <- tanh(W h + b) n - 1 times; output h1 + h2."""
    p = iter(params)
    h = [(next(p) * x + next(p)).tanh() for _ in range(2)]
    for _ in range(n - 1):
        h = [(next(p) * h[0] + next(p) * h[1] + next(p)).tanh() for _ in range(2)]
    return h[0] + h[1]


FAMILIES: Dict[str, tuple] = {
    # name: (number of inputs for size n, f(inputs, n))
    "product": (lambda n: n, lambda xs, n: product(xs)),
    "sin": (lambda n: 1, nested_sin),
    "mlp": (mlp_parameter_count, mlp),
}


# ------------------------------------------------------------ measuring one (family, n)

def measure(family: str, n: int) -> Dict[str, int]:
    inputs, f = FAMILIES[family]
    m = inputs(n)
    symbols = [Symbol(f"p{i}") for i in range(m)]
    expression = f(symbols, n)
    raw = grad(expression, symbols, simplify=False)
    simplified = grad(expression, symbols)
    with Autograd() as engine:
        f([Tensor(np.array(0.3 + 0.01 * i)) for i in range(m)], n)
        tape_ops = len(engine.operation_list)
    return {
        "n": n,
        "inputs": m,
        "f tree": tree_size(expression),
        "f dag": dag_size(expression),
        "grad tree raw": sum(tree_size(d) for d in raw),
        "grad tree simplified": sum(tree_size(d) for d in simplified),
        "grad dag raw": dag_size(*raw),
        "grad dag simplified": dag_size(*simplified),
        "tape ops": tape_ops,          # recorded once forward; backward runs each once: 1 pass for all partials
        "forward passes": m,           # one pass per input direction
        "forward ops": m * tape_ops,   # each pass runs all of f's operations on dual numbers
    }


COLUMNS = ["n", "inputs", "f tree", "f dag", "grad tree raw", "grad tree simplified", "grad dag raw",
           "grad dag simplified", "tape ops", "forward passes", "forward ops"]


def format_count(c: int) -> str:
    if c < 10 ** 7:
        return f"{c:,}"
    digits = str(c)  # exact integers, possibly too large for a float
    return f"{digits[0]}.{digits[1]}e{len(digits) - 1}"


def format_table(rows: List[Dict[str, int]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---:|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(format_count(row[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


# Simplifying the MLP's 6n - 2 partials takes a second at n = 20 and 20 s at n = 50 (the
# simplifier is written to be read, not to be fast): beyond 20 the MLP is measured every 10.
MLP_EVERY_N_UP_TO = 20


def run(ns: Sequence[int], families: Sequence[str] = tuple(FAMILIES)) -> Dict[str, List[Dict[str, int]]]:
    return {family: [measure(family, n) for n in ns
                     if family != "mlp" or n <= MLP_EVERY_N_UP_TO or n % 10 == 0]
            for family in families}


def plot(results: Dict[str, List[Dict[str, int]]], path: str) -> Optional[str]:
    """Log-scale sizes against n, one panel per family; returns the path, or None without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), squeeze=False)
    for ax, (family, rows) in zip(axes[0], results.items()):
        ns = [r["n"] for r in rows]
        for column, style in [("grad tree raw", "-"), ("grad tree simplified", "--"),
                              ("grad dag simplified", "-."), ("forward ops", ":"), ("tape ops", "-")]:
            ax.plot(ns, [float(r[column]) for r in rows], style, label=column)
        ax.set_yscale("log")
        ax.set_xlabel("n")
        ax.set_title(family)
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel("nodes / operations")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: Optional[List[str]] = None) -> Dict[str, List[Dict[str, int]]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n up to 10 only")
    parser.add_argument("--plot", default="expression_swell.png", help="where to save the plot")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    ns = list(range(1, 11)) if args.quick else list(range(1, 51))
    shown = [1, 2, 3, 5, 10] if args.quick else [1, 2, 3, 5, 10, 20, 30, 40, 50]
    results = run(ns)
    for family, rows in results.items():
        print(f"\n{family}: {FAMILIES_TITLES[family]}\n")
        print(format_table([r for r in rows if r["n"] in shown]))
    if not args.no_plot:
        saved = plot(results, args.plot)
        print(f"\nplot saved to {saved}" if saved else "\n(matplotlib is not installed: no plot)")
    return results


FAMILIES_TITLES = {
    "product": "f = t1 t2 ... tn, the gradient's n partials",
    "sin": "f = sin(sin(... sin(x))), n sines, df/dx",
    "mlp": "n tanh layers of width 2, the gradient with respect to all 6n - 2 weights and biases",
}


if __name__ == "__main__":
    main()
