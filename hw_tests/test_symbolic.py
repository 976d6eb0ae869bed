"""Symbolic differentiation: printing, the simplification rules, evaluation, errors,
and the four ways (symbolic, forward mode, reverse mode, central differences) agreeing
on randomly generated expressions.

Expected derivatives are written out by hand in each test; numerical checks use
central differences in float64.
"""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mytorch import Autograd, Tensor
from mytorch import symbolic as S
from mytorch.forward_mode import Dual
from mytorch.symbolic import Const, Symbol, dag_size, diff, grad, simplify, symbols, tree_size

x, y = Symbol("x"), Symbol("y")


def central(f, point, k, eps=1e-6):
    """d f / d x_k at ``point`` by central differences (error ~ eps**2 f''' + ulp(f)/eps ~ 1e-9)."""
    plus, minus = list(point), list(point)
    plus[k] += eps
    minus[k] -= eps
    return (f(*plus) - f(*minus)) / (2 * eps)


# ---------------------------------------------------------------- the lectures' examples

@pytest.mark.task0
def test_class_notebook_example_prints_and_evaluates():
    """f = x**2 + 2**x, f' = 2x + 2**x ln 2; at x = 3: 6 + 8 ln 2 = 11.545..."""
    f = x ** 2 + 2 ** x
    df = diff(f, x)
    assert str(df) == "2*x + 2**x*log(2)"
    assert str(diff(f, x, simplify=False)) == "2*x**(2 - 1)*1 + 2**x*log(2)*1"
    assert df.evaluate(x=3.0) == pytest.approx(6 + 8 * np.log(2), rel=1e-15)
    assert df.to_latex() == r"2 x + 2^{x} \ln\left(2\right)"


@pytest.mark.task0
def test_two_variable_lecture_example():
    """y = ln x1 + x1 x2 - sin x2: dy/dx1 = 1/x1 + x2 = 5.5, dy/dx2 = x1 - cos x2 = 1.716 at (2, 5)."""
    x1, x2 = symbols("x1 x2")
    f = S.log(x1) + x1 * x2 - S.sin(x2)
    d1, d2 = grad(f, [x1, x2])
    assert str(d1) == "1/x1 + x2"
    assert str(d2) == "x1 - cos(x2)"
    assert d1.evaluate(x1=2.0, x2=5.0) == pytest.approx(5.5)
    assert d2.evaluate(x1=2.0, x2=5.0) == pytest.approx(2 - np.cos(5.0))
    assert round(float(d2.evaluate(x1=2.0, x2=5.0)), 3) == 1.716


# ---------------------------------------------------------------- each rule, printed

@pytest.mark.task0
@pytest.mark.parametrize("f, expected", [
    (x.exp(), "exp(x)"),
    (x.log(), "1/x"),
    (x.sin(), "cos(x)"),
    (x.cos(), "-sin(x)"),
    (x.tanh(), "1 - tanh(x)**2"),
    (x.sqrt(), "1/(2*sqrt(x))"),
    (x.sigmoid(), "sigmoid(x)*(1 - sigmoid(x))"),
    (x ** 3, "3*x**2"),
    (1 / x, "-1/x**2"),
    (x ** y, "y*x**(y - 1)"),
    (3 ** x, "3**x*log(3)"),
    (x * x.sin(), "sin(x) + x*cos(x)"),
    ((2 * x).sin().sin(), "2*cos(sin(2*x))*cos(2*x)"),
    (x / (x + 1), "1/(x + 1)**2"),               # ((x + 1) - x)/(x + 1)**2
    (-x, "-1"),
    (Const(5), "0"),
    (y, "0"),
])
def test_derivative_rules(f, expected):
    assert str(diff(f, x)) == expected


@pytest.mark.task0
@pytest.mark.parametrize("f", [x.exp(), x.log(), x.sin(), x.cos(), x.tanh(), x.sqrt(), x.sigmoid(),
                               x ** 3, 1 / x, x ** y, 3 ** x, x.exp() ** y, x ** x, (x * y).sqrt() / (1 + x)])
def test_derivative_values_match_central_differences(f):
    point = {"x": 0.7, "y": 1.3}
    numeric = central(lambda x, y: float(f.evaluate(x=x, y=y)), [0.7, 1.3], 0)
    assert float(diff(f, x).evaluate(**point)) == pytest.approx(numeric, rel=1e-7, abs=1e-9)
    assert float(diff(f, x, simplify=False).evaluate(**point)) == pytest.approx(numeric, rel=1e-7, abs=1e-9)


# ---------------------------------------------------------------- simplification

@pytest.mark.task0
@pytest.mark.parametrize("expression, expected", [
    (Const(2) * 3 + 1, "7"),
    (Const(1) / 2 + Const(1) / 3, "5/6"),          # exact fractions, not 0.8333
    (x + 0, "x"), (0 + x, "x"), (x * 1, "x"), (1 * x, "x"), (x * 0, "0"), (x ** 1, "x"), (x ** 0, "1"),
    (x - x, "0"), (x / x, "1"), (x + x, "2*x"), (x * x, "x**2"), (x * x / x, "x"),
    (3 * x * y - y * x, "2*x*y"),                   # equal terms in any factor order
    ((x ** 2) ** 3, "x**6"), (x ** y * x ** 2, "x**(y + 2)"), (x ** y / x ** y, "1"),
    (-(-x), "x"), (-(x - y), "y - x"), (x - (y - x), "2*x - y"),
    (Const(0).exp() + Const(1).log() + Const(0).sin(), "1"),
    (x.exp().log(), "x"),
    (Const(2).log(), "log(2)"),                     # stays exact
    ((x + 1) * (x + 1), "(x + 1)**2"),
    (x / 2, "x/2"), (2 / (3 * x), "2/(3*x)"),
])
def test_simplification_rules(expression, expected):
    assert str(simplify(expression)) == expected


@pytest.mark.task0
def test_simplification_keeps_the_value():
    rng = np.random.default_rng(0)
    xs, ys = rng.uniform(0.5, 2.0, 20), rng.uniform(0.5, 2.0, 20)
    for f in [(x * y - y * x + x ** 2 / x) * (x + x), (x ** y) ** 2 * x / x ** y, (x.sin() ** 2 + x) / x]:
        np.testing.assert_allclose(simplify(f).evaluate(x=xs, y=ys), f.evaluate(x=xs, y=ys), rtol=1e-12)


@pytest.mark.task0
def test_simplification_is_idempotent():
    f = diff((x * y).sin() * (x ** 2 + y).exp() / (1 + x.tanh()), x)
    assert str(simplify(f)) == str(f)


# ---------------------------------------------------------------- printing

@pytest.mark.task0
@pytest.mark.parametrize("expression, expected", [
    ((x + y) * 2, "(x + y)*2"), (x - (y + 1), "x - (y + 1)"), (x - y + 1, "x - y + 1"),
    (x / (y * 2), "x/(y*2)"), (x * y / 2, "x*y/2"), ((x ** y) ** 2, "(x**y)**2"), (x ** y ** 2, "x**y**2"),
    (-x ** 2, "-x**2"), ((-x) ** 2, "(-x)**2"), (x * -y, "x*(-y)"), (x ** -1, "x**(-1)"), (-(x + y), "-(x + y)"),
    (x + -y, "x - y"), (2 ** x, "2**x"), (Const(Fraction(1, 2)) ** x, "(1/2)**x"), (x + 0.5, "x + 0.5"),
])
def test_printing_uses_minimal_parentheses(expression, expected):
    assert str(expression) == expected


@pytest.mark.task0
def test_printed_expression_is_python_with_the_same_value():
    rng = np.random.default_rng(1)
    env = {"exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos, "tanh": np.tanh, "sqrt": np.sqrt,
           "sigmoid": lambda u: 1 / (1 + np.exp(-u)), "x": 0.8, "y": 1.7}
    for _ in range(200):
        f = _random_expression(rng, depth=4)
        value = float(f.evaluate(x=0.8, y=1.7))
        if np.isfinite(value) and abs(value) < 1e6:
            try:
                printed = eval(str(f), env)
            except (ZeroDivisionError, OverflowError):  # Python floats raise where NumPy gives inf
                continue
            assert printed == pytest.approx(value, rel=1e-9, abs=1e-12), str(f)


@pytest.mark.task0
def test_latex():
    assert (x / (y + 1)).to_latex() == r"\frac{x}{y + 1}"
    assert diff(x.sqrt(), x).to_latex() == r"\frac{1}{2 \sqrt{x}}"
    assert (Symbol("x1") ** 2 * x.sin()).to_latex() == r"x_{1}^{2} \sin\left(x\right)"
    assert ((x + 1) ** 2).to_latex() == r"\left(x + 1\right)^{2}"


# ---------------------------------------------------------------- evaluation and errors

@pytest.mark.task0
def test_evaluate_and_to_function_are_vectorised():
    f = x * y + x.sin()
    xs = np.linspace(0, 1, 5)
    np.testing.assert_allclose(f.evaluate(x=xs, y=2.0), xs * 2 + np.sin(xs))
    g = f.to_function()  # arguments sorted by name: x, y
    np.testing.assert_allclose(g(xs, 2.0), xs * 2 + np.sin(xs))
    np.testing.assert_allclose(f.to_function(y, x)(2.0, xs), xs * 2 + np.sin(xs))
    # a constant derivative still has the inputs' shape
    np.testing.assert_array_equal(diff(3 * x, x).evaluate(x=xs), np.full(5, 3.0))


@pytest.mark.task0
def test_unknown_symbol_at_evaluation_is_named():
    with pytest.raises(NameError, match="no value for the symbol 'y'.*given: x"):
        (x + y).evaluate(x=1.0)
    with pytest.raises(ValueError, match=r"leaves out the symbol\(s\) \['y'\]"):
        (x + y).to_function("x")


@pytest.mark.task0
def test_diff_with_respect_to_a_non_symbol_is_an_error():
    with pytest.raises(TypeError, match="with respect to a Symbol, not Add x \\+ 1"):
        diff(x ** 2, x + 1)
    with pytest.raises(TypeError, match="list of symbols"):
        grad(x ** 2, x)


@pytest.mark.task0
def test_division_by_a_literal_zero():
    with pytest.raises(ZeroDivisionError, match="division by the number 0"):
        x / 0
    with pytest.raises(ZeroDivisionError):
        Const(0) ** -1
    with pytest.raises(ZeroDivisionError):
        simplify(x / (y - y))  # the denominator simplifies to 0


@pytest.mark.task0
def test_bad_operands_and_names():
    with pytest.raises(ValueError, match="identifier"):
        Symbol("2x")
    with pytest.raises(TypeError, match="cannot use a list"):
        x + [1, 2]
    with pytest.raises(TypeError, match="no truth value"):
        bool(x + 1)


# ---------------------------------------------------------------- sizes (used by the swell study)

@pytest.mark.task0
def test_tree_and_dag_sizes_of_a_shared_expression():
    u = x.sin()
    f = u * u                     # tree: * (sin x) (sin x) = 5 nodes; shared: *, sin, x = 3
    assert tree_size(f) == 5
    assert dag_size(f) == 3
    deep = x
    for _ in range(60):           # the tree doubles with every level; counted without expanding it
        deep = deep * deep
    assert tree_size(deep) == 2 ** 61 - 1
    assert dag_size(deep) == 61


@pytest.mark.task0
def test_product_gradient_sizes():
    """f = t1 t2 ... tn: each simplified partial is a product of n - 1 symbols (2n - 3 nodes)."""
    n = 6
    ts = symbols(" ".join(f"t{i}" for i in range(1, n + 1)))
    f = ts[0]
    for t in ts[1:]:
        f = f * t
    partials = grad(f, ts)
    assert [tree_size(p) for p in partials] == [2 * n - 3] * n
    assert str(partials[2]) == "t1*t2*t4*t5*t6"


@pytest.mark.task0
def test_deep_expressions_do_not_hit_the_recursion_limit():
    """Every pass over an expression is iterative: 3000 nested sines are no problem."""
    f = x
    for _ in range(3000):
        f = f.sin()
    d = diff(f, x, simplify=False)  # cos(u_2999)*(cos(u_2998)*(...*(cos(x)*1)))
    # by the chain rule the derivative is the product of the cosines along the chain
    u, expected = 0.3, 1.0
    for _ in range(3000):
        expected, u = expected * np.cos(u), np.sin(u)
    assert float(d.evaluate(x=0.3)) == pytest.approx(expected, rel=1e-12)
    assert float(f.evaluate(x=0.3)) == pytest.approx(u, rel=1e-12)
    assert dag_size(d) == 2999 + 3000 + 3000 + 2  # sines inside the cosines, cosines, products, x and 1
    assert repr(d).startswith("<Mul expression of 45")  # too big to print: repr gives its size


# ---------------------------------------------------------------- all four ways agree

UNARY = ["exp", "log", "sin", "cos", "tanh", "sqrt", "sigmoid"]


def build(tree, variables, constant=np.float64):
    """The expression ``tree`` with the given variables: the same code runs on floats, Expr, Dual, Tensor.

    It uses only operators and the shared function names (``mytorch.symbolic``'s
    functions dispatch to the methods of Expr, Dual and Tensor, and to NumPy for numbers).
    Constants are floats (``Const`` for the exact symbolic version): Python integers
    would make 2**(2**27) an exact 40-million-digit number.
    """
    kind = tree[0]
    if kind == "var":
        return variables[tree[1]]
    if kind == "const":
        return constant(tree[1])
    if kind == "neg":
        return -build(tree[1], variables, constant)
    if kind == "fn":
        return getattr(S, tree[1])(build(tree[2], variables, constant))
    if kind == "pow":  # a power with a constant integer exponent
        return build(tree[1], variables, constant) ** tree[2]
    if kind == "rpow":  # a constant base: c ** u
        return constant(tree[1]) ** build(tree[2], variables, constant)
    a, b = build(tree[1], variables, constant), build(tree[2], variables, constant)
    return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b}[kind]()


leaves = st.one_of(
    st.tuples(st.just("var"), st.integers(0, 1)),
    st.tuples(st.just("const"), st.sampled_from([1, 2, 3, 0.5, 1.5])),
)
trees = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["+", "-", "*", "/"]), inner, inner),
        st.tuples(st.just("fn"), st.sampled_from(UNARY), inner),
        st.tuples(st.just("neg"), inner),
        st.tuples(st.just("pow"), inner, st.sampled_from([2, 3, -1])),
        st.tuples(st.just("rpow"), st.sampled_from([2, 0.5]), inner),
    ),
    max_leaves=8,
)
coordinates = st.floats(-2.0, 2.0, allow_nan=False).map(lambda t: round(t, 3))


def _four_ways(tree, point):
    """(value, [symbolic, forward, reverse, central] gradients) at ``point``; None where not finite."""
    symbols_ = [Symbol("x"), Symbol("y")]
    with np.errstate(all="ignore"):
        value = float(build(tree, [np.float64(p) for p in point]))
        if not np.isfinite(value) or abs(value) > 1e6:
            return None
        expr = S.as_expr(build(tree, symbols_, constant=Const))
        try:
            symbolic = [float(S.evaluate(d, {"x": point[0], "y": point[1]})) for d in grad(expr, symbols_)]
            raw = [float(S.evaluate(d, {"x": point[0], "y": point[1]}))
                   for d in grad(expr, symbols_, simplify=False)]
        except ZeroDivisionError:  # e.g. x/(y - y): undefined everywhere, rejected by simplify
            return None
        forward = []
        for k in range(2):
            duals = [Dual(p, 1.0 if i == k else 0.0) for i, p in enumerate(point)]
            out = build(tree, duals)
            forward.append(float(out.tangent) if isinstance(out, Dual) else 0.0)
        with Autograd() as engine:
            tensors = [Tensor(np.array(p)) for p in point]
            out = build(tree, tensors) + 0.0  # recorded, so a bare variable is on the tape too
            reverse = [0.0, 0.0]
            if isinstance(out, Tensor) and out.requires_grad:
                out.backward()
                reverse = [0.0 if t.grad is None else float(t.grad) for t in tensors]
            engine.zero_grad()

        def f(a, b):
            return float(build(tree, [np.float64(a), np.float64(b)]))

        numeric = [central(f, point, k) for k in range(2)]
        # Central differences are trusted only where halving the step changes them by
        # little: near a pole or a kink of the domain (log, sqrt at 0) they are not.
        coarse = [central(f, point, k, eps=2e-6) for k in range(2)]
    exact = np.array([symbolic, raw, forward, reverse], dtype=float)
    if not np.all(np.isfinite(exact)) or not np.all(np.isfinite(numeric)):
        return None
    scale = 1.0 + np.abs(exact[0])
    if np.any(np.abs(np.array(numeric) - np.array(coarse)) > 1e-6 * scale) or np.any(np.abs(exact[0]) > 1e6):
        return None
    return exact, np.array(numeric), scale


@pytest.mark.task4
@settings(max_examples=2500, deadline=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(trees, coordinates, coordinates)
def test_symbolic_forward_reverse_and_central_differences_agree(tree, a, b):
    result = _four_ways(tree, [a, b])
    assume(result is not None)
    exact, numeric, scale = result
    # Symbolic (simplified and raw), forward and reverse mode are all exact up to rounding:
    # they apply the same rules in different orders, so they agree to ~1e-12 relative;
    # 1e-9 leaves room for cancellation in sums of large terms.
    for other in exact[1:]:
        np.testing.assert_allclose(other, exact[0], rtol=1e-9, atol=1e-9 * scale.max())
    # Central differences with eps = 1e-6: truncation eps**2 f'''/6 plus rounding
    # ulp(f)/eps ~ 2e-10 |f|, at points where the step-halving check above passed.
    np.testing.assert_allclose(numeric, exact[0], rtol=1e-5, atol=1e-5 * scale.max())


def _random_expression(rng, depth):
    """A random expression in x and y for the printing round trip (numpy Generator, not hypothesis)."""
    if depth == 0 or rng.random() < 0.2:
        return [x, y, Const(int(rng.integers(1, 4))), Const(Fraction(1, 2)), Const(0.5)][rng.integers(5)]
    choice = rng.integers(7)
    a = _random_expression(rng, depth - 1)
    if choice == 0:
        return -a
    if choice == 1:
        return getattr(a, UNARY[rng.integers(len(UNARY))])()
    if choice == 2:
        return a ** int(rng.choice([2, 3, -1]))
    b = _random_expression(rng, depth - 1)
    return [a + b, a - b, a * b, a / b][choice - 3] if choice < 7 else a


# ---------------------------------------------------------------- SymPy, where it happens to be installed

@pytest.mark.task0
def test_against_sympy():
    sympy = pytest.importorskip("sympy")
    sx, sy = sympy.symbols("x y")
    namespace = {"x": sx, "y": sy, "sigmoid": lambda u: 1 / (1 + sympy.exp(-u)), "tanh": sympy.tanh,
                 "log": sympy.log, "exp": sympy.exp, "sin": sympy.sin, "cos": sympy.cos, "sqrt": sympy.sqrt}
    rng = np.random.default_rng(2)
    checked = 0
    for _ in range(60):
        f = _random_expression(rng, depth=3)
        try:
            ours = diff(f, x)
        except ZeroDivisionError:
            continue
        theirs = sympy.diff(sympy.sympify(str(f), locals=namespace), sx)
        ours_sympy = sympy.sympify(str(ours), locals=namespace)
        # Compare at a few points rather than with sympy.simplify (slow and not always conclusive).
        for px, py in [(0.7, 1.3), (1.9, 0.4)]:
            expected = complex(theirs.subs({sx: px, sy: py}).evalf())
            got = complex(ours_sympy.subs({sx: px, sy: py}).evalf())
            if np.isfinite(expected) and abs(expected.imag) < 1e-12 and abs(expected) < 1e8:
                assert got.real == pytest.approx(expected.real, rel=1e-9, abs=1e-9), (str(f), str(ours))
                checked += 1
    assert checked > 50
