"""The differentiation examples run, and print the numbers the math says.

examples/four_ways.py, examples/expression_swell.py and examples/reverse_designs.py
are loaded from the repository (they are not part of the student kit, where
these tests skip). Sizes and counts are exact and asserted; times are not.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name):
    path = EXAMPLES / f"{name}.py"
    if not path.exists():
        pytest.skip(f"{path.name} is not part of the student kit")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_four_ways_agree_on_the_lecture_function(capsys):
    """f = ln x1 + x1 x2 - sin x2 at (2, 5): df/dx1 = 1/2 + 5 = 5.5, df/dx2 = 2 - cos 5 = 1.7163."""
    results = load("four_ways").main()
    printed = capsys.readouterr().out
    exact = [5.5, 2 - np.cos(5.0)]
    value = np.log(2.0) + 10.0 - np.sin(5.0)
    for way, r in results.items():
        assert r["value"] == pytest.approx(value, rel=1e-14), way
    np.testing.assert_allclose(results["symbolic"]["gradient"], exact, rtol=1e-15)
    # forward and reverse mode apply the same rules to the same float64 numbers
    np.testing.assert_allclose(results["forward mode"]["gradient"], exact, rtol=1e-15)
    np.testing.assert_allclose(results["reverse mode"]["gradient"], exact, rtol=1e-15)
    # central differences, eps = 1e-6: error ~ eps**2 |f'''| / 6 + ulp(f) / eps ~ 1e-9
    assert 0 < results["numerical"]["error"] < 1e-8
    assert "symbolic gradient: 1/x1 + x2, x1 - cos(x2)" in printed
    assert "5 evaluations of f" in printed and "2 forward passes" in printed
    assert "1 forward pass recording 5 operations + 1 backward pass" in printed


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_swell_sizes_follow_the_formulas(n):
    swell = load("expression_swell")
    product, sin, mlp = (swell.measure(family, n) for family in ("product", "sin", "mlp"))
    # t1 ... tn: n leaves and n - 1 products; each simplified partial is a product
    # of the other n - 1 symbols (2n - 3 nodes; for n = 1 the constant 1).
    assert product["f tree"] == 2 * n - 1
    assert product["grad tree simplified"] == (n * (2 * n - 3) if n > 1 else 1)
    assert product["tape ops"] == n - 1 and product["forward passes"] == n
    assert product["grad tree raw"] >= product["grad tree simplified"]
    # sin^n(x): f' = cos(s_{n-1}) cos(s_{n-2}) ... cos(x), where cos(s_k) has k + 2 nodes:
    # sum_k (k + 2) + (n - 1) products = n(n - 1)/2 + 3n - 1 as a tree; 3n - 1 nodes shared.
    assert sin["grad tree simplified"] == n * (n - 1) // 2 + 3 * n - 1
    assert sin["grad dag simplified"] == 3 * n - 1
    assert sin["tape ops"] == n and sin["forward passes"] == 1
    # MLP: 6 operations in the first layer, 10 in every other, 1 for the output sum;
    # each layer uses the previous layer's two units twice, so the tree of f doubles per layer.
    assert mlp["tape ops"] == 10 * n - 3
    assert mlp["inputs"] == 6 * n - 2
    assert mlp["f dag"] == 16 * n - 4
    if n >= 2:
        assert mlp["f tree"] > 2 ** n


def test_swell_script_prints_tables_and_plots(tmp_path, capsys):
    swell = load("expression_swell")
    path = tmp_path / "swell.png"
    swell.main(["--quick", "--plot", str(path)])
    printed = capsys.readouterr().out
    assert "| n | inputs | f tree |" in printed
    assert "| 10 | 10 | 19 |" in printed  # the product row for n = 10
    if importlib.util.find_spec("matplotlib") is None:
        assert "matplotlib is not installed" in printed
    else:
        assert path.exists() and path.stat().st_size > 1000


def test_reverse_designs_counts(capsys):
    designs = load("reverse_designs")
    rows = designs.measure([1, 2, 3, 4], recursive_up_to=4, repeats=1)
    for row in rows:
        n = row["n"]
        assert row["recursive calls"] == 2 * 3 ** n - 1
        assert row["sorted calls"] == 2 * n + 1
        assert row["tape ops"] == 2 * n + 1  # n products, n sums, and the final + 0
    designs.main(["--quick"])
    printed = capsys.readouterr().out
    assert "| 6 | 13 | 1,457 |" in printed
    assert "raises RecursionError" in printed
