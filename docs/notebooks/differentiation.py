# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Four ways to differentiate
#
# The lectures teach four ways to get a derivative out of a program:
#
# 1. **numerically**: finite differences, f'(x) ≈ (f(x + ε) − f(x − ε)) / 2ε;
# 2. **symbolically**: apply the rules of calculus to the formula and get a formula back;
# 3. **forward mode**: carry a value and its derivative (a dual number) through the program;
# 4. **reverse mode**: record the program, then send derivatives backwards through the record.
#
# MyTorch has all four: `mytorch.symbolic`, `mytorch.forward_mode`, the `Autograd`
# tape behind `mytorch.Tensor`, and central differences in `mytorch.gradcheck`.
# This notebook runs them on the lectures' examples, then measures where they differ:
# accuracy (numerical), size (symbolic), and cost per input or output (forward, reverse).
#
# This notebook is kept as a plain-text source, `differentiation.py` (jupytext percent
# format), beside the `.ipynb`; a test checks that the two agree, and CI runs the notebook.

# %%
import sys
from pathlib import Path

import numpy as np

from mytorch import Autograd, Tensor
from mytorch.forward_mode import derivative, jvp
from mytorch.symbolic import Symbol, diff, sin

# The measuring scripts live in examples/ at the repository's root.
ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "examples" / "four_ways.py").exists())
sys.path.insert(0, str(ROOT / "examples"))

try:
    import matplotlib.pyplot as plt
except ImportError:  # the plots are optional; everything else runs without them
    plt = None
    print("matplotlib is not installed: the plots are skipped")

# %% [markdown]
# ## 1. Symbolic: `f = x**2 + 2**x`
#
# The class notebook's example. `diff` applies one rule per operation and then
# simplifies; `simplify=False` shows what the rules produce before tidying.

# %%
x = Symbol("x")
f = x**2 + 2**x
print("f          =", f)
print("df/dx      =", diff(f, x))
print("raw rules  =", diff(f, x, simplify=False))
print("LaTeX      =", diff(f, x).to_latex())
print("f'(3)      =", diff(f, x).evaluate(x=3.0), "= 6 + 8 ln 2 =", 6 + 8 * np.log(2))

# %% [markdown]
# The same derivative at x = 3 the other three ways. The function is written once;
# it runs on a float, a Dual and a Tensor alike.

# %%
def g(x):
    return x**2 + 2**x


eps = 1e-6
numerical = (g(3.0 + eps) - g(3.0 - eps)) / (2 * eps)  # central difference: 2 evaluations
forward = derivative(g, 3.0)                            # one pass on the dual number (3, 1)
with Autograd() as engine:                              # the tape (closed after the block)
    t = Tensor(3.0)
    g(t).backward()                                     # record on the tape, one backward pass
    reverse = t.grad.copy()
symbolic = diff(f, x).evaluate(x=3.0)
for name, value in [("symbolic", symbolic), ("numerical", numerical), ("forward", forward), ("reverse", reverse)]:
    print(f"{name:>9}: {float(value):.15f}   error {abs(float(value) - (6 + 8 * np.log(2))):.1e}")

# %% [markdown]
# ## 2. The four ways on ln x₁ + x₁x₂ − sin x₂ at (2, 5)
#
# By hand: ∂f/∂x₁ = 1/x₁ + x₂ = 5.5 and ∂f/∂x₂ = x₁ − cos x₂ = 1.716.
# The function is written once; `log` and `sin` from `mytorch.symbolic` dispatch
# to the method of whatever they are given (a Symbol, a Dual, a Tensor) and to
# NumPy for plain numbers.

# %%
import four_ways

results = four_ways.main()

# %% [markdown]
# ## 3. Forward mode: x₁x₂ + sin x₁ with seeds (1, 1) and (2, 0)
#
# One forward pass on dual numbers computes f and the directional derivative
# J·v for the seed v. At (x₁, x₂) = (1, 2), with ∂f/∂x₁ = x₂ + cos x₁ and ∂f/∂x₂ = x₁:
#
# * seed (1, 1): (2 + cos 1) + 1 = 3.540
# * seed (2, 0): 2 (2 + cos 1) = 5.081

# %%
def z(x1, x2):
    return x1 * x2 + sin(x1)


for seed in [(1.0, 1.0), (2.0, 0.0)]:
    value, tangent = jvp(z, (1.0, 2.0), seed)
    print(f"seed {seed}: z = {float(value):.4f}, J v = {float(tangent):.4f}")
print("by hand:", 2 + np.cos(1) + 1, 2 * (2 + np.cos(1)))

# %% [markdown]
# ## 4. Numerical derivatives: the error against ε
#
# A one-sided difference (f(x + ε) − f(x)) / ε has a truncation error of about
# ε|f''|/2; a central difference about ε²|f'''|/6. Both also suffer round-off:
# f is computed with a relative error of about u = 2⁻⁵³ ≈ 1.1e-16, and dividing
# by ε magnifies it to about u|f|/ε. The sum is smallest near
# ε ≈ √u ≈ 1e-8 (one-sided) and ε ≈ ∛u ≈ 1e-5 (central), which is why
# `mytorch.gradcheck` uses central differences with ε = 1e-6.
# Here f = x² + 2ˣ at x = 3, against the exact f'(3) = 6 + 8 ln 2.

# %%
f_numpy = f.to_function()
exact = 6 + 8 * np.log(2)
eps = np.logspace(-15, -1, 57)
one_sided = np.abs((f_numpy(3.0 + eps) - f_numpy(3.0)) / eps - exact)
central = np.abs((f_numpy(3.0 + eps) - f_numpy(3.0 - eps)) / (2 * eps) - exact)
for name, error in [("one-sided", one_sided), ("central", central)]:
    best = np.argmin(error)
    print(f"{name:>9}: best eps = {eps[best]:.1e}, error {error[best]:.1e}")

if plt is not None:
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(eps, one_sided, "o-", markersize=3, label="one-sided (f(x+ε) − f(x)) / ε")
    ax.loglog(eps, central, "s-", markersize=3, label="central (f(x+ε) − f(x−ε)) / 2ε")
    ax.set_xlabel("ε")
    ax.set_ylabel("|error|")
    ax.set_title("f = x² + 2ˣ at x = 3: truncation (right) against round-off (left)")
    ax.legend()
    plt.show()

# %% [markdown]
# ## 5. Expression swell
#
# Symbolic derivatives are exact, but their formulas grow. For the product
# f = t₁t₂…tₙ, nested sines, and a small MLP written symbolically, the table
# counts the nodes of the whole gradient written out as a tree (raw: the rules'
# output; simplified) and with common subexpressions shared, against the
# operations the tape records for f (one backward pass then gives every partial)
# and forward mode's work (one pass per input). Small n here to keep the notebook
# fast; `python examples/expression_swell.py` runs n = 1..50
# (tables in `docs/differentiation.md`).

# %%
import expression_swell

swell = expression_swell.run(range(1, 13), families=["product", "sin"])
swell["mlp"] = [expression_swell.measure("mlp", n) for n in range(1, 7)]
for family, rows in swell.items():
    print(f"\n{family}: {expression_swell.FAMILIES_TITLES[family]}")
    print(expression_swell.format_table([r for r in rows if r["n"] in (1, 2, 3, 6, 12)]))

if plt is not None:
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, (family, rows) in zip(axes, swell.items()):
        ns = [r["n"] for r in rows]
        for column in ["grad tree raw", "grad tree simplified", "grad dag simplified", "forward ops", "tape ops"]:
            ax.semilogy(ns, [max(r[column], 1) for r in rows], "o-", markersize=3, label=column)
        ax.set_title(family)
        ax.set_xlabel("n")
    axes[0].set_ylabel("nodes / operations")
    axes[-1].legend(fontsize=8)
    plt.show()

# %% [markdown]
# ## 6. Reverse mode: three designs
#
# The deck builds reverse mode on a graph of scalar values, each knowing its
# value, parents, args and grad, and runs backward after a topological sort.
# Its example: x = 2, a = x², b = 5a, c = ab, L = −c, so L = −5x⁴ and
# dL/dx = −20x³ = −160.

# %%
from mytorch.scalar_graph import lecture_example, node_table

L, nodes = lecture_example()
print(node_table(L))

# %% [markdown]
# The class notebook's `ReverseDiff` instead lets each node call backward on its
# parents at once. The answer is the same, but a node shared by several paths is
# visited once per path. On y = x, then y = y·y + y repeated n times, every step
# uses y three times: 3ⁿ paths, 2·3ⁿ − 1 calls, against 2n + 1 for the sorted graph
# and 2n + 1 operations replayed by MyTorch's tape (whose recording order is already
# topological). Times are medians of a few runs on a shared machine: read the
# ratios (the "x prev" columns: about 3 per step for the recursive design).

# %%
import reverse_designs

rows = reverse_designs.measure(list(range(1, 10)), recursive_up_to=9, repeats=3)
print(reverse_designs.format_table(rows))
depth = reverse_designs.deepest_recursive_chain()
print(f"\nThe recursive backward runs out of Python stack on chains longer than {depth} operations "
      f"(recursion limit {sys.getrecursionlimit()}); the sorted graph and the tape have no such limit.")
