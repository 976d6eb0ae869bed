"""One function, differentiated the four ways the lectures teach, side by side.

    f(x1, x2) = ln(x1) + x1 x2 - sin(x2)   at (2, 5)
    df/dx1 = 1/x1 + x2 = 5.5,   df/dx2 = x1 - cos(x2) = 1.716

f is written once, with operators and the shared function names, and runs on
plain numbers (numerical), on Symbols (symbolic), on Duals (forward mode) and
on Tensors (reverse mode). For each way the script prints the value, the
gradient, what it cost (evaluations of f, passes, expression size) and its
error against the symbolic derivative evaluated in float64.

Run: python examples/four_ways.py
"""

from __future__ import annotations

from typing import Any, Dict

import numpy as np

from mytorch import Autograd, Tensor
from mytorch.forward_mode import Dual
from mytorch.symbolic import Symbol, grad, log, sin, tree_size


def f(x1: Any, x2: Any) -> Any:
    """ln(x1) + x1 x2 - sin(x2), for numbers, Symbols, Duals and Tensors alike."""
    return log(x1) + x1 * x2 - sin(x2)


POINT = (2.0, 5.0)


def symbolic_way() -> Dict[str, Any]:
    x1, x2 = Symbol("x1"), Symbol("x2")
    expression = f(x1, x2)
    partials = grad(expression, [x1, x2])
    raw = grad(expression, [x1, x2], simplify=False)
    at = {"x1": POINT[0], "x2": POINT[1]}
    return {
        "value": float(expression.evaluate(**at)),
        "gradient": [float(d.evaluate(**at)) for d in partials],
        "cost": (f"gradient of {sum(map(tree_size, partials))} nodes "
                 f"({sum(map(tree_size, raw))} before simplifying), built once, evaluated per point"),
        "formula": ", ".join(str(d) for d in partials),
    }


def numerical_way(eps: float = 1e-6) -> Dict[str, Any]:
    calls = 0

    def counted(*xs: float) -> float:
        nonlocal calls
        calls += 1
        return float(f(*xs))

    value = counted(*POINT)
    gradient = []
    for k in range(2):
        plus, minus = list(POINT), list(POINT)
        plus[k] += eps
        minus[k] -= eps
        gradient.append((counted(*plus) - counted(*minus)) / (2 * eps))  # central difference
    return {"value": value, "gradient": gradient,
            "cost": f"{calls} evaluations of f (1 + 2 per input), step {eps:g}"}


def forward_way() -> Dict[str, Any]:
    gradient, passes, value = [], 0, None
    for k in range(2):  # one pass per input, seeding its tangent with 1
        out = f(*[Dual(x, 1.0 if i == k else 0.0) for i, x in enumerate(POINT)])
        passes += 1
        value = float(out.value)
        gradient.append(float(out.tangent))
    return {"value": value, "gradient": gradient, "cost": f"{passes} forward passes on dual numbers (one per input)"}


def reverse_way() -> Dict[str, Any]:
    with Autograd() as engine:
        x1, x2 = Tensor(np.array(POINT[0])), Tensor(np.array(POINT[1]))
        out = f(x1, x2)
        ops = len(engine.operation_list)
        out.backward()  # one backward pass fills both partials
        result = {"value": float(out.data), "gradient": [float(x1.grad), float(x2.grad)],
                  "cost": f"1 forward pass recording {ops} operations + 1 backward pass"}
        engine.zero_grad()
    return result


def main() -> Dict[str, Dict[str, Any]]:
    results = {"symbolic": symbolic_way(), "numerical": numerical_way(),
               "forward mode": forward_way(), "reverse mode": reverse_way()}
    exact = np.array(results["symbolic"]["gradient"])
    print("f(x1, x2) = ln(x1) + x1 x2 - sin(x2) at (2, 5)")
    print(f"symbolic gradient: {results['symbolic']['formula']}\n")
    header = f"{'way':<13} {'f':>9} {'df/dx1':>19} {'df/dx2':>19} {'max error':>10}  cost"
    print(header)
    print("-" * len(header))
    for way, r in results.items():
        error = float(np.max(np.abs(np.array(r["gradient"]) - exact)))
        r["error"] = error
        shown = "reference" if way == "symbolic" else f"{error:.1e}"
        print(f"{way:<13} {r['value']:>9.6f} {r['gradient'][0]:>19.15f} {r['gradient'][1]:>19.15f} "
              f"{shown:>10}  {r['cost']}")
    return results




if __name__ == "__main__":
    main()
