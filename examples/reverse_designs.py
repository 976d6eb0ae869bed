"""Three designs of reverse mode on a graph with sharing: y = x, then y = y*y + y, n times.

  recursive   each node calls backward on its parents at once (the class notebook's
              ReverseDiff): a node is visited once per path, and there are 3**n paths
  sorted      topological sort, then one visit per node (the deck's AutogradValue graph)
  tape        MyTorch's engine: the recording order is already topological; replay it backwards

Prints, for each n, the backward calls (exact counts) and the median backward time,
the ratio of each time to the previous n's (about 3 for the recursive design: exponential;
about 1 for the others: linear, 2 more nodes per step), and the depth at which the
recursive design runs out of Python stack.

Run: python examples/reverse_designs.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional

import numpy as np

from mytorch import Autograd, Tensor
from mytorch.scalar_graph import Value, repeated_square_plus


def median_time(run: Callable[[], int], repeats: int) -> tuple:
    """(calls, median seconds) of ``run`` over ``repeats`` runs; run builds a fresh graph, times backward."""
    times = []
    calls = 0
    for _ in range(repeats):
        calls, seconds = run()
        times.append(seconds)
    return calls, statistics.median(times)


def recursive_run(n: int) -> Callable[[], tuple]:
    def run() -> tuple:
        y = repeated_square_plus(Value(-0.5), n)
        start = time.perf_counter()
        calls = y.backward_recursive()
        return calls, time.perf_counter() - start
    return run


def sorted_run(n: int) -> Callable[[], tuple]:
    def run() -> tuple:
        y = repeated_square_plus(Value(-0.5), n)
        start = time.perf_counter()
        calls = y.backward()
        return calls, time.perf_counter() - start
    return run


def tape_run(n: int) -> Callable[[], tuple]:
    def run() -> tuple:
        with Autograd() as engine:
            y = Tensor(np.array(-0.5))
            for _ in range(n):
                y = y * y + y
            y = y + 0.0  # so that n = 0 has an operation to start from
            start = time.perf_counter()
            y.backward()
            seconds = time.perf_counter() - start
            return len(engine.operation_list), seconds
    return run


def measure(ns: List[int], recursive_up_to: int, repeats: int = 5) -> List[Dict[str, Optional[float]]]:
    """One row per n: calls and median backward seconds of each design (recursive only up to a size)."""
    rows = []
    for n in ns:
        row: Dict[str, Optional[float]] = {"n": n, "nodes": 2 * n + 1}
        if n <= recursive_up_to:
            row["recursive calls"], row["recursive s"] = median_time(recursive_run(n), repeats if n < 10 else 3)
        else:
            row["recursive calls"], row["recursive s"] = 2 * 3 ** n - 1, None  # the exact count, not run
        row["sorted calls"], row["sorted s"] = median_time(sorted_run(n), repeats)
        row["tape ops"], row["tape s"] = median_time(tape_run(n), repeats)
        rows.append(row)
    return rows


def deepest_recursive_chain() -> int:
    """The longest chain (y = sin y, repeated) whose recursive backward still fits Python's stack."""
    def fails(length: int) -> bool:
        y = Value(0.5)
        for _ in range(length):
            y = y.sin()
        try:
            y.backward_recursive()
            return False
        except RecursionError:
            return True

    low, high = 1, 2 * sys.getrecursionlimit()  # low works, high fails
    assert not fails(low) and fails(high)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if fails(middle) else (middle, high)
    return low


def format_seconds(s: Optional[float]) -> str:
    if s is None:
        return "-"
    return f"{s * 1e6:.0f} us" if s < 1e-3 else f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def format_count(c: int) -> str:
    if c < 10 ** 9:
        return f"{c:,}"
    digits = str(c)  # a float would overflow for n = 1000
    return f"{digits[0]}.{digits[1]}e{len(digits) - 1}"


def format_table(rows: List[Dict[str, Optional[float]]]) -> str:
    header = ("n", "nodes", "recursive calls", "time", "x prev", "sorted calls", "time", "x prev",
              "tape ops", "time", "x prev")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    previous: Optional[Dict[str, Optional[float]]] = None
    for row in rows:
        def ratio(key: str) -> str:
            # the growth per step of n, only between consecutive n
            if previous is None or row["n"] != previous["n"] + 1 or not row[key] or not previous[key]:
                return ""
            return f"{row[key] / previous[key]:.1f}"

        cells = [row["n"], row["nodes"], format_count(row["recursive calls"]), format_seconds(row["recursive s"]),
                 ratio("recursive s"), format_count(row["sorted calls"]), format_seconds(row["sorted s"]),
                 ratio("sorted s"), format_count(row["tape ops"]), format_seconds(row["tape s"]), ratio("tape s")]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        previous = row
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n up to 6 only (seconds)")
    args = parser.parse_args(argv)
    if args.quick:
        ns, recursive_up_to = [1, 2, 3, 4, 5, 6], 6
    else:
        ns, recursive_up_to = list(range(1, 13)) + [100, 1000], 12
    rows = measure(ns, recursive_up_to)
    print("Backward through y = y*y + y repeated n times: calls and median time per design\n")
    print(format_table(rows))
    print("\n(calls are exact; for n beyond the recursive column's runs, 2*3**n - 1 is the count it would make)")

    depth = deepest_recursive_chain()
    print(f"\nRecursion: with Python's limit of {sys.getrecursionlimit()} frames, the recursive backward")
    print(f"handles a chain of at most {depth} operations and raises RecursionError beyond;")
    print(f"on y = y*y + y the longest path has 2n + 1 nodes, so it fails from n = {depth // 2} or so.")
    # Shown with a margin of 25 steps: the first path the recursion follows is the longest one,
    # so the error comes after about 2n calls. (Just below the limit it would instead run
    # its 2*3**n - 1 calls, which would take longer than the universe has existed.)
    n = depth // 2 + 25
    y = repeated_square_plus(Value(-0.5), n)
    try:
        y.backward_recursive()
    except RecursionError:
        print(f"Checked: n = {n} raises RecursionError.", end=" ")
    y = repeated_square_plus(Value(-0.5), 10 * depth)
    print(f"The sorted graph has no such limit: n = {10 * depth} takes {y.backward():,} calls.")


if __name__ == "__main__":
    main()
