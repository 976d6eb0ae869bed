"""Symbolic differentiation: expressions you can print, differentiate, simplify and evaluate.

The second of the lectures' four ways to differentiate. An expression is a
tree (in memory a DAG: a subexpression used twice is one object) of nodes:

    Symbol("x"), Const(2)               the leaves
    Add Sub Mul Div Pow Neg             built by the operators + - * / ** and unary -
    Exp Log Sin Cos Tanh Sqrt Sigmoid   built by the methods x.exp(), ... or the functions exp(x), ...

The method names are those of ``Tensor`` and ``forward_mode.Dual``, so one
Python function written with operators and these methods runs on numbers
(through ``forward_mode``'s functions), on the tape, on dual numbers and here:

    >>> x = Symbol("x")
    >>> f = x**2 + 2**x
    >>> print(diff(f, x))
    2*x + 2**x*log(2)
    >>> print(diff(f, x, simplify=False))      # the rules applied and nothing else
    2*x**(2 - 1)*1 + 2**x*log(2)*1
    >>> diff(f, x).evaluate(x=3.0)
    np.float64(11.545177444479562)

How ``diff`` works: every node class carries its own derivative rule (the
chain rule for that one operation, in its docstring and in ``derivative``).
``diff`` visits the nodes children first and builds d(node) from the node and
the derivatives of its children, exactly as forward mode pushes tangents, but
with expressions in place of numbers. Nothing is simplified on the way, so
the raw result shows the rules at work (and the swell: see
``docs/differentiation.md``); ``simplify`` then tidies it with rules a
student can check by hand:

    constant folding          2*3 -> 6, 1/2 stays the exact fraction 1/2, log(2) stays log(2)
    identities of 0 and 1     x + 0, x*1, x**1 -> x;  x*0 -> 0;  x**0 -> 1;  exp(0) -> 1, log(1) -> 0
    equal terms collected     x + x -> 2*x;  x - x -> 0;  3*x*y - y*x -> 2*x*y
    equal factors collected   x*x -> x**2;  x/x -> 1;  x**a * x**b -> x**(a + b)
    powers of powers          (x**a)**k -> x**(a*k) for an integer k (always true then)

Like every computer algebra system, it treats x/x as 1 and x**a * x**b as
x**(a + b) without asking where x = 0 or x < 0: the simplified expression
agrees with the original wherever both are defined.

Evaluation is NumPy's: ``f.evaluate(x=array)`` and ``f.to_function()`` work
on arrays elementwise.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from mytorch.nn.functional import stable_sigmoid

Number = Union[int, Fraction, float]

__all__ = ["Expr", "Symbol", "Const", "symbols", "diff", "grad", "simplify", "evaluate",
           "tree_size", "dag_size", "exp", "log", "sin", "cos", "tanh", "sqrt", "sigmoid"]


# ============================================================ the nodes

class Expr:
    """A node of an expression. Build expressions with Symbol, numbers and operators."""

    args: Tuple["Expr", ...] = ()
    precedence = 5  # binding strength when printed: 1 + -, 2 * /, 3 unary -, 4 **, 5 atoms

    __array_ufunc__ = None  # array + Expr must reach Expr.__radd__, not loop over the array

    # ------------------------------------------------ operators build nodes (nothing is computed)

    def __add__(self, other: Any) -> "Expr":
        return Add(self, as_expr(other))

    def __radd__(self, other: Any) -> "Expr":
        return Add(as_expr(other), self)

    def __sub__(self, other: Any) -> "Expr":
        return Sub(self, as_expr(other))

    def __rsub__(self, other: Any) -> "Expr":
        return Sub(as_expr(other), self)

    def __mul__(self, other: Any) -> "Expr":
        return Mul(self, as_expr(other))

    def __rmul__(self, other: Any) -> "Expr":
        return Mul(as_expr(other), self)

    def __truediv__(self, other: Any) -> "Expr":
        return Div(self, as_expr(other))

    def __rtruediv__(self, other: Any) -> "Expr":
        return Div(as_expr(other), self)

    def __pow__(self, other: Any) -> "Expr":
        return Pow(self, as_expr(other))

    def __rpow__(self, other: Any) -> "Expr":
        return Pow(as_expr(other), self)

    def __neg__(self) -> "Expr":
        return Neg(self)

    def __pos__(self) -> "Expr":
        return self

    # ------------------------------------------------ the functions shared with Tensor and Dual

    def exp(self) -> "Expr":
        return Exp(self)

    def log(self) -> "Expr":
        return Log(self)

    def sin(self) -> "Expr":
        return Sin(self)

    def cos(self) -> "Expr":
        return Cos(self)

    def tanh(self) -> "Expr":
        return Tanh(self)

    def sqrt(self) -> "Expr":
        return Sqrt(self)

    def sigmoid(self) -> "Expr":
        return Sigmoid(self)

    # ------------------------------------------------ what every node class provides

    def derivative(self, d_args: Sequence["Expr"], wrt: "Symbol") -> "Expr":
        """d(self) given d(arg) for each argument (the chain rule of this one operation)."""
        raise NotImplementedError

    def compute(self, *values: Any) -> Any:
        """The node's value from its arguments' values (NumPy, elementwise)."""
        raise NotImplementedError

    def rebuild(self, args: Sequence["Expr"]) -> "Expr":
        """The same operation on other arguments."""
        return type(self)(*args)

    # ------------------------------------------------ printing, comparing, evaluating

    def __str__(self) -> str:
        return to_string(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {_short(self)}>"

    def to_latex(self) -> str:
        """LaTeX for slides: ``(x**2 + 2**x).to_latex() == 'x^{2} + 2^{x}'``."""
        return to_latex(self)

    def key(self) -> int:
        """A number that two expressions share exactly when they have the same structure."""
        return structure_key(self)

    def __eq__(self, other: Any) -> bool:  # structural equality: x + 1 == x + 1, but x + 1 != 1 + x
        return isinstance(other, Expr) and structure_key(self) == structure_key(other)

    def __hash__(self) -> int:
        return hash(structure_key(self))

    def __bool__(self) -> bool:
        raise TypeError("an expression has no truth value (it is not a number); "
                        "compare evaluate(...) results, or use == for structural equality")

    def free_symbols(self) -> List[str]:
        """The names of the symbols in the expression, sorted."""
        return sorted({node.name for node in postorder(self) if isinstance(node, Symbol)})

    def evaluate(self, **values: Any) -> Any:
        """The value with each symbol replaced by a number or array: ``f.evaluate(x=2.0, y=arr)``."""
        return evaluate(self, values)

    def to_function(self, *order: Union[str, "Symbol"]) -> Callable[..., Any]:
        """A NumPy function of the symbols, positional in ``order`` (default: sorted by name).

        ``(x * y).to_function()(np.arange(3.0), 2.0)`` gives ``array([0., 2., 4.])``.
        """
        names = [s.name if isinstance(s, Symbol) else str(s) for s in order] or self.free_symbols()
        missing = sorted(set(self.free_symbols()) - set(names))
        if missing:
            raise ValueError(f"to_function: the order {names} leaves out the symbol(s) {missing}")
        expr = self

        def function(*args: Any, **kwargs: Any) -> Any:
            if len(args) > len(names):
                raise TypeError(f"this function takes {len(names)} arguments ({', '.join(names)}), "
                                f"got {len(args)}")
            values = dict(zip(names, args), **kwargs)
            return evaluate(expr, values)

        function.__name__ = "f"
        function.__doc__ = f"f({', '.join(names)}) = {_short(self)}"
        return function


Operand = Union[Expr, int, float, Fraction]


def _short(expr: Expr) -> str:
    """The formula, or only its size when written out it would be long (tracebacks, the REPL, messages)."""
    size = tree_size(expr)
    if size > 200:  # a swollen derivative would print megabytes
        return f"expression of {size} nodes as a tree, {dag_size(expr)} distinct"
    return to_string(expr)


def as_expr(x: Any) -> Expr:
    """An expression as is; a Python number (or NumPy scalar) becomes a constant."""
    if isinstance(x, Expr):
        return x
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"symbolic: {x!r} is a boolean, not a number")
    if isinstance(x, (int, np.integer)):
        return Const(int(x))
    if isinstance(x, Fraction):
        return Const(x)
    if isinstance(x, (float, np.floating)):
        return Const(float(x))
    if isinstance(x, np.ndarray) and x.ndim == 0:
        return as_expr(x.item())
    raise TypeError(f"symbolic: cannot use a {type(x).__name__} in an expression; "
                    "use numbers and Symbols (evaluate with arrays afterwards)")


class Symbol(Expr):
    """A variable, named: ``x = Symbol("x")``.  dx/dx = 1, dy/dx = 0."""

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"Symbol: the name must be a Python identifier, got {name!r}")
        self.name = name

    def derivative(self, d_args: Sequence[Expr], wrt: "Symbol") -> Expr:
        return Const(1 if self.name == wrt.name else 0)

    def rebuild(self, args: Sequence[Expr]) -> Expr:
        return self


def symbols(names: str) -> List[Symbol]:
    """Several symbols at once: ``x1, x2 = symbols("x1 x2")``."""
    return [Symbol(name) for name in names.replace(",", " ").split()]


class Const(Expr):
    """A number: an int, an exact Fraction, or a float.  dc/dx = 0."""

    def __init__(self, value: Number) -> None:
        if isinstance(value, Fraction) and value.denominator == 1:
            value = int(value)  # 4/2 is the integer 2
        self.value = value

    @property
    def precedence(self) -> int:  # type: ignore[override]
        if self.value < 0:
            return 3  # -2 prints like a negation
        return 2 if isinstance(self.value, Fraction) else 5  # 1/2 prints like a division

    def derivative(self, d_args: Sequence[Expr], wrt: "Symbol") -> Expr:
        return Const(0)

    def compute(self) -> Any:
        return float(self.value)

    def rebuild(self, args: Sequence[Expr]) -> Expr:
        return self


def _is_number(e: Expr, value: Optional[Number] = None) -> bool:
    return isinstance(e, Const) and (value is None or e.value == value)


class Add(Expr):
    """a + b.  d(a + b) = da + db."""

    precedence = 1

    def __init__(self, a: Expr, b: Expr) -> None:
        self.args = (a, b)

    def derivative(self, d_args: Sequence[Expr], wrt: "Symbol") -> Expr:
        da, db = d_args
        return Add(da, db)

    def compute(self, a: Any, b: Any) -> Any:
        return a + b


class Sub(Expr):
    """a - b.  d(a - b) = da - db."""

    precedence = 1

    def __init__(self, a: Expr, b: Expr) -> None:
        self.args = (a, b)

    def derivative(self, d_args: Sequence[Expr], wrt: "Symbol") -> Expr:
        da, db = d_args
        return Sub(da, db)

    def compute(self, a: Any, b: Any) -> Any:
        return a - b


class Neg(Expr):
    """-a.  d(-a) = -da."""

    precedence = 3

    def __init__(self, a: Expr) -> None:
        self.args = (a,)

    def derivative(self, d_args: Sequence[Expr], wrt: "Symbol") -> Expr:
        return Neg(d_args[0])

    def compute(self, a: Any) -> Any:
        return -a


class Mul(Expr):
    """a * b.  d(a b) = da b + a db (the product rule)."""

    precedence = 2

    def __init__(self, a: Expr, b: Expr) -> None:
        self.args = (a, b)

    def derivative(self, d_args: Sequence[Expr], wrt: "Symbol") -> Expr:
        (a, b), (da, db) = self.args, d_args
        return Add(Mul(da, b), Mul(a, db))

    def compute(self, a: Any, b: Any) -> Any:
        return a * b


class Div(Expr):
    """a / b.  d(a / b) = (da b - a db) / b**2 (the quotient rule)."""

    precedence = 2

    def __init__(self, a: Expr, b: Expr) -> None:
        if _is_number(b, 0):
            raise ZeroDivisionError(f"symbolic: division by the number 0 in ({_short(a)})/0")
        self.args = (a, b)

    def derivative(self, d_args: Sequence[Expr], wrt: "Symbol") -> Expr:
        (a, b), (da, db) = self.args, d_args
        return Div(Sub(Mul(da, b), Mul(a, db)), Pow(b, Const(2)))

    def compute(self, a: Any, b: Any) -> Any:
        return a / b


class Pow(Expr):
    """a ** b.

    d(a**p) = p a**(p-1) da                 when the exponent p does not depend on x;
    d(c**b) = c**b ln(c) db                 when the base c does not depend on x;
    d(a**b) = a**b (db ln(a) + b da / a)    in general (a > 0).
    """

    precedence = 4

    def __init__(self, a: Expr, b: Expr) -> None:
        if _is_number(a, 0) and _is_number(b) and b.value < 0:
            raise ZeroDivisionError(f"symbolic: 0 to the negative power {b.value} divides by 0")
        self.args = (a, b)

    def derivative(self, d_args: Sequence[Expr], wrt: "Symbol") -> Expr:
        (a, b), (da, db) = self.args, d_args
        if not _depends_on(b, wrt):
            return Mul(Mul(b, Pow(a, Sub(b, Const(1)))), da)
        if not _depends_on(a, wrt):
            return Mul(Mul(self, Log(a)), db)
        return Mul(self, Add(Mul(db, Log(a)), Div(Mul(b, da), a)))

    def compute(self, a: Any, b: Any) -> Any:
        return np.power(a, b)


class Function(Expr):
    """A function of one argument, f(u).  d f(u) = f'(u) du (the chain rule)."""

    name = ""
    latex = ""

    def __init__(self, u: Expr) -> None:
        self.args = (u,)

    def outer(self, u: Expr) -> Expr:
        """f'(u), the derivative of the function at its argument."""
        raise NotImplementedError

    def derivative(self, d_args: Sequence[Expr], wrt: "Symbol") -> Expr:
        return Mul(self.outer(self.args[0]), d_args[0])


# One class per function: the value, and right beside it the derivative f'(u).

class Exp(Function):
    """e**u.  d e**u = e**u du."""

    name, latex = "exp", r"\exp"

    def outer(self, u: Expr) -> Expr:
        return self

    def compute(self, u: Any) -> Any:
        return np.exp(u)


class Log(Function):
    """ln u (natural logarithm).  d ln u = du / u."""

    name, latex = "log", r"\ln"

    def outer(self, u: Expr) -> Expr:
        return Div(Const(1), u)

    def compute(self, u: Any) -> Any:
        return np.log(u)


class Sin(Function):
    """sin u.  d sin u = cos(u) du."""

    name, latex = "sin", r"\sin"

    def outer(self, u: Expr) -> Expr:
        return Cos(u)

    def compute(self, u: Any) -> Any:
        return np.sin(u)


class Cos(Function):
    """cos u.  d cos u = -sin(u) du."""

    name, latex = "cos", r"\cos"

    def outer(self, u: Expr) -> Expr:
        return Neg(Sin(u))

    def compute(self, u: Any) -> Any:
        return np.cos(u)


class Tanh(Function):
    """tanh u.  d tanh u = (1 - tanh(u)**2) du."""

    name, latex = "tanh", r"\tanh"

    def outer(self, u: Expr) -> Expr:
        return Sub(Const(1), Pow(self, Const(2)))

    def compute(self, u: Any) -> Any:
        return np.tanh(u)


class Sqrt(Function):
    """sqrt u.  d sqrt u = du / (2 sqrt u)."""

    name, latex = "sqrt", r"\sqrt"

    def outer(self, u: Expr) -> Expr:
        return Div(Const(1), Mul(Const(2), self))

    def compute(self, u: Any) -> Any:
        return np.sqrt(u)


class Sigmoid(Function):
    """s(u) = 1 / (1 + e**-u).  d s(u) = s(u) (1 - s(u)) du."""

    name, latex = "sigmoid", r"\sigma"

    def outer(self, u: Expr) -> Expr:
        return Mul(self, Sub(Const(1), self))

    def compute(self, u: Any) -> Any:
        return stable_sigmoid(u)  # 1 / (1 + e**-u) without overflow for large |u|


FUNCTIONS = {cls.name: cls for cls in (Exp, Log, Sin, Cos, Tanh, Sqrt, Sigmoid)}


# The functions by name: an expression gives an expression; anything else
# (a number, an array, a Tensor, a Dual) is handed to its own method or to NumPy.
# So log(2) is the number 0.693...; log(Const(2)) is the exact symbolic log(2).

def _apply(name: str, x: Any) -> Any:
    if isinstance(x, Expr):
        return FUNCTIONS[name](x)
    if hasattr(x, name) and not isinstance(x, np.ndarray):
        return getattr(x, name)()  # a Tensor or a Dual
    return stable_sigmoid(x) if name == "sigmoid" else getattr(np, name)(x)


def exp(x: Any) -> Any:
    """e**x; symbolically d e**u = e**u du."""
    return _apply("exp", x)


def log(x: Any) -> Any:
    """ln x; symbolically d ln u = du / u."""
    return _apply("log", x)


def sin(x: Any) -> Any:
    """sin x; symbolically d sin u = cos(u) du."""
    return _apply("sin", x)


def cos(x: Any) -> Any:
    """cos x; symbolically d cos u = -sin(u) du."""
    return _apply("cos", x)


def tanh(x: Any) -> Any:
    """tanh x; symbolically d tanh u = (1 - tanh(u)**2) du."""
    return _apply("tanh", x)


def sqrt(x: Any) -> Any:
    """sqrt x; symbolically d sqrt u = du / (2 sqrt u)."""
    return _apply("sqrt", x)


def sigmoid(x: Any) -> Any:
    """1 / (1 + e**-x); symbolically d s(u) = s(u) (1 - s(u)) du."""
    return _apply("sigmoid", x)


# ============================================================ walking the DAG

def postorder(expr: Expr) -> Iterator[Expr]:
    """Every distinct node (object) once, each after its arguments: the order diff and evaluate use.

    Iterative, so deep expressions do not hit Python's recursion limit.
    """
    seen = set()
    stack: List[Tuple[Expr, bool]] = [(expr, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            yield node
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for arg in reversed(node.args):
            if id(arg) not in seen:
                stack.append((arg, False))


def _map_postorder(expr: Expr, visit: Callable[[Expr, List[Any]], Any]) -> Any:
    """visit(node, results of its arguments) for every node, arguments first; the root's result."""
    results: Dict[int, Any] = {}
    for node in postorder(expr):
        results[id(node)] = visit(node, [results[id(a)] for a in node.args])
    return results[id(expr)]


def _cached(expr: Expr, attribute: str, compute: Callable[[Expr, List[Any]], Any]) -> Any:
    """compute(node, the arguments' results), stored on each node as ``attribute``.

    Like _map_postorder, but the walk stops at nodes that already have a result,
    so asking again about a bigger expression built from old parts costs only the new nodes.
    """
    stack = [expr]
    while stack:
        node = stack[-1]
        if attribute in node.__dict__:
            stack.pop()
            continue
        missing = [a for a in node.args if attribute not in a.__dict__]
        if missing:
            stack.extend(missing)
            continue
        stack.pop()
        node.__dict__[attribute] = compute(node, [a.__dict__[attribute] for a in node.args])
    return expr.__dict__[attribute]


# Structural keys by hash-consing: a node's key is a small integer looked up from
# (its class, its name or value, its arguments' keys). Equal keys, equal structure.
_KEYS: Dict[tuple, int] = {}


def _key_of(node: Expr, arg_keys: List[int]) -> int:
    if isinstance(node, Symbol):
        label: Any = ("symbol", node.name)
    elif isinstance(node, Const):
        label = ("const", type(node.value).__name__, node.value)
    else:
        label = (type(node).__name__, tuple(arg_keys))
    return _KEYS.setdefault(label, len(_KEYS))


def structure_key(expr: Expr) -> int:
    """Equal for two expressions exactly when they are the same tree (cached on each node)."""
    return _cached(expr, "_key", _key_of)


def _depends_on(expr: Expr, x: Symbol) -> bool:
    names = _cached(expr, "_symbols", lambda node, args: frozenset([node.name]) if isinstance(node, Symbol)
                    else frozenset().union(*args))
    return x.name in names


def tree_size(expr: Expr) -> int:
    """Number of nodes when the expression is written out as a tree (every shared use counted again).

    This is the size of the printed formula; memoised, so it is quick even when
    the count is astronomically large.
    """
    return _map_postorder(expr, lambda node, sizes: 1 + sum(sizes))


def dag_size(*exprs: Expr) -> int:
    """Number of distinct subexpressions of all the expressions together.

    The size with common subexpressions shared: each distinct subtree is
    computed once and reused, as a compiler's common-subexpression elimination would.
    """
    keys = set()
    for expr in exprs:
        structure_key(expr)
        keys.update(node.key() for node in postorder(expr))
    return len(keys)


# ============================================================ differentiation

def diff(f: Operand, x: Symbol, simplify: bool = True) -> Expr:
    """df/dx as an expression; ``simplify=False`` gives the rules' raw output.

    Each node's derivative comes from its own rule (``Node.derivative``) and the
    derivatives of its arguments, computed once per node: a subexpression used
    twice is differentiated once.
    """
    if not isinstance(x, Symbol):
        shown = _short(x) if isinstance(x, Expr) else repr(x)
        raise TypeError(f"diff: differentiate with respect to a Symbol, not {type(x).__name__} "
                        f"{shown}; for d/d(expression), introduce a symbol for it")
    f = as_expr(f)
    raw = _map_postorder(f, lambda node, d_args: node.derivative(d_args, x))
    return _simplify(raw) if simplify else raw


def grad(f: Operand, xs: Sequence[Symbol], simplify: bool = True) -> List[Expr]:
    """[df/dx1, df/dx2, ...] for the symbols in ``xs``."""
    if isinstance(xs, Symbol):
        raise TypeError("grad: pass a list of symbols, e.g. grad(f, [x1, x2]); for one symbol use diff")
    return [diff(f, x, simplify=simplify) for x in xs]


# ============================================================ evaluation

def evaluate(expr: Operand, values: Dict[str, Any]) -> Any:
    """The value of ``expr`` with ``values[name]`` for each symbol (numbers or arrays, elementwise).

    The result has the broadcast shape of all given values, even where the
    expression does not use them all (a constant derivative evaluates to an array of it).
    """
    expr = as_expr(expr)
    values = {(k.name if isinstance(k, Symbol) else k): v for k, v in values.items()}
    arrays = {name: np.asarray(v, dtype=np.float64) for name, v in values.items()}

    def visit(node: Expr, args: List[Any]) -> Any:
        if isinstance(node, Symbol):
            if node.name not in arrays:
                given = ", ".join(sorted(arrays)) or "nothing"
                raise NameError(f"evaluate: no value for the symbol {node.name!r} (given: {given})")
            return arrays[node.name]
        return node.compute(*args)

    with np.errstate(all="ignore"):  # log(-1) is nan, 1/0 is inf: as NumPy gives them, without warnings
        result = _map_postorder(expr, visit)
    shape = np.broadcast_shapes(*[a.shape for a in arrays.values()]) if arrays else ()
    result = np.asarray(result, dtype=np.float64)
    if result.shape != shape:
        result = np.broadcast_to(result, np.broadcast_shapes(result.shape, shape)).copy()
    return result[()]  # a 0-d result as a NumPy scalar


# ============================================================ simplification

def simplify(expr: Operand) -> Expr:
    """The expression tidied by the rules in the module docstring (the value never changes where defined)."""
    return _simplify(as_expr(expr))


def _simplify(expr: Expr) -> Expr:
    # Children first: every node is tidied once its arguments already are.
    return _map_postorder(expr, lambda node, args: _simplify_node(node.rebuild(args)))


def _simplify_node(e: Expr) -> Expr:
    """One node whose arguments are already simple."""
    if isinstance(e, (Add, Sub, Neg)):
        return _collect_terms(e)
    if isinstance(e, (Mul, Div, Pow)):
        return _collect_factors(e)
    if isinstance(e, Function):
        return _simplify_function(e)
    return e


# ------------------------------------------------ numbers

def _exact(n: Number) -> bool:
    return not isinstance(n, float)


def _is_integer(n: Number) -> bool:
    return isinstance(n, int) or (isinstance(n, Fraction) and n.denominator == 1) or \
        (isinstance(n, float) and n.is_integer())


def _power(base: Number, k: Number) -> Optional[Number]:
    """base**k as a number when it stays exact (or base is a float already); else None (keep it symbolic)."""
    if base == 0 and k < 0:
        raise ZeroDivisionError(f"symbolic: 0**{k} divides by 0")
    if _exact(base) and _exact(k):
        if _is_integer(k) and (abs(k) <= 64 or abs(base) <= 1):  # 2**1000 would be a 300-digit number
            return Fraction(base) ** int(k)
        if _is_integer(k):
            return None
            return Fraction(base) ** int(k)
        return None  # 2**(1/2) stays as it is: folding would lose exactness
    if base < 0 and not _is_integer(k):
        return None  # not a real number
    try:
        return float(base) ** float(k)
    except OverflowError:
        return None


def _number(n: Number) -> Number:
    """A Fraction with denominator 1 as an int."""
    return int(n) if isinstance(n, Fraction) and n.denominator == 1 else n


# ------------------------------------------------ products: coefficient * base1**e1 * base2**e2 ...

Factors = List[List[Any]]  # [[base, exponent], ...] in order of first appearance; exponent a Number or Expr


def _product_parts(e: Expr) -> Tuple[Number, Factors]:
    """e as a number times a list of powers with distinct bases; equal bases have their exponents added.

    (x*2)*x/y -> 2, [[x, 2], [y, -1]].  A power k that is not an integer is not
    pushed inside products or powers: (x*y)**(1/2) stays one factor.
    """
    coefficient: Number = 1
    factors: Dict[int, List[Any]] = {}
    stack: List[Tuple[Expr, Number]] = [(e, 1)]  # (expression, power it is raised to)
    while stack:
        node, k = stack.pop()
        integer_power = _is_integer(k)
        if isinstance(node, Const):
            folded = _power(node.value, k)
            if folded is not None:
                coefficient = coefficient * folded
                continue
        elif isinstance(node, Neg) and integer_power:
            coefficient = -coefficient if int(k) % 2 else coefficient
            stack.append((node.args[0], k))
            continue
        elif isinstance(node, Mul) and integer_power:
            stack += [(node.args[1], k), (node.args[0], k)]  # popped left first: order kept
            continue
        elif isinstance(node, Div) and integer_power:
            stack += [(node.args[1], -k), (node.args[0], k)]
            continue
        elif isinstance(node, Pow) and integer_power:  # (a**b)**k = a**(b k) for an integer k
            base, exponent = node.args
            if isinstance(exponent, Const):
                stack.append((base, exponent.value * k))
            else:
                _add_factor(factors, base, exponent if k == 1 else _simplify_node(Mul(exponent, Const(k))))
            continue
        _add_factor(factors, node, k)
    return _number(coefficient), [f for f in factors.values() if not _is_zero(f[1])]


def _add_factor(factors: Dict[int, List[Any]], base: Expr, exponent: Any) -> None:
    entry = factors.get(base.key())
    if entry is None:
        factors[base.key()] = [base, exponent]
    elif isinstance(entry[1], Expr) or isinstance(exponent, Expr):
        entry[1] = _simplify_node(Add(as_expr(entry[1]), as_expr(exponent)))  # x**a x**b = x**(a + b)
        if isinstance(entry[1], Const):
            entry[1] = entry[1].value
    else:
        entry[1] = _number(entry[1] + exponent)


def _is_zero(exponent: Any) -> bool:
    return _is_number(exponent, 0) if isinstance(exponent, Expr) else exponent == 0


def _build_product(coefficient: Number, factors: Factors) -> Expr:
    """coefficient * the powers, written with a division for negative exponents: 1/(2*sqrt(x))."""
    if coefficient == 0:
        return Const(0)
    if coefficient < 0:
        return Neg(_build_product(-coefficient, factors))
    numerator: List[Expr] = []
    denominator: List[Expr] = []
    if isinstance(coefficient, Fraction):
        if coefficient.numerator != 1:
            numerator.append(Const(coefficient.numerator))
        denominator.append(Const(coefficient.denominator))
    elif coefficient != 1 or not factors:
        numerator.append(Const(coefficient))
    for base, exponent in factors:
        if isinstance(exponent, Expr):
            numerator.append(Pow(base, exponent))
        elif exponent > 0:
            numerator.append(base if exponent == 1 else Pow(base, Const(exponent)))
        else:
            denominator.append(base if exponent == -1 else Pow(base, Const(_number(-exponent))))
    top = _chain(Mul, numerator) if numerator else Const(1)
    return Div(top, _chain(Mul, denominator)) if denominator else top


def _chain(op: type, items: List[Expr]) -> Expr:
    result = items[0]
    for item in items[1:]:
        result = op(result, item)
    return result


def _collect_factors(e: Expr) -> Expr:
    coefficient, factors = _product_parts(e)
    return _build_product(coefficient, factors)


# ------------------------------------------------ sums: constant + c1*term1 + c2*term2 ...

def _collect_terms(e: Expr) -> Expr:
    """e as a sum of (number * term); equal terms have their numbers added, zero terms dropped.

    Terms are equal when they have the same factors in any order (x*y and y*x).
    """
    terms: Dict[tuple, List[Any]] = {}  # key -> [coefficient, factors]; key () holds the number
    stack: List[Tuple[Expr, int]] = [(e, 1)]
    while stack:
        node, sign = stack.pop()
        if isinstance(node, Add):
            stack += [(node.args[1], sign), (node.args[0], sign)]
        elif isinstance(node, Sub):
            stack += [(node.args[1], -sign), (node.args[0], sign)]
        elif isinstance(node, Neg):
            stack.append((node.args[0], -sign))
        else:
            coefficient, factors = _product_parts(node)
            key = tuple(sorted((base.key(), as_expr(k).key()) for base, k in factors))
            if key in terms:
                terms[key][0] = _number(terms[key][0] + sign * coefficient)
            else:
                terms[key] = [sign * coefficient, factors]
    parts = [(c, f) for c, f in terms.values() if c != 0] or [(0, [])]
    # In order of first appearance, but starting with a positive term: 1 - x, not -x + 1.
    first_positive = next((i for i, (c, _) in enumerate(parts) if c > 0), 0)
    parts.insert(0, parts.pop(first_positive))
    result = _build_product(*parts[0])
    for coefficient, factors in parts[1:]:
        if coefficient < 0:
            result = Sub(result, _build_product(-coefficient, factors))
        else:
            result = Add(result, _build_product(coefficient, factors))
    return result


# ------------------------------------------------ functions

# f(0) or f(1) where the value is exact.
_EXACT_VALUES = {("exp", 0): 1, ("log", 1): 0, ("sin", 0): 0, ("cos", 0): 1, ("tanh", 0): 0,
                 ("sqrt", 0): 0, ("sqrt", 1): 1, ("sigmoid", 0): Fraction(1, 2)}


def _simplify_function(e: Function) -> Expr:
    (u,) = e.args
    if isinstance(u, Const):
        exact = _EXACT_VALUES.get((e.name, u.value))
        if exact is not None:
            return Const(exact)
        if isinstance(u.value, float):  # a float is already an approximation: fold it
            value = float(e.compute(u.value))
            if np.isfinite(value):
                return Const(value)
    if isinstance(e, Log) and isinstance(u, Exp):
        return u.args[0]  # ln(e**v) = v
    return e


# ============================================================ printing

def to_string(expr: Expr) -> str:
    """Conventional infix with as few parentheses as the operators' precedence allows."""
    def visit(node: Expr, args: List[str]) -> str:
        if isinstance(node, Symbol):
            return node.name
        if isinstance(node, Const):
            return _format_number(node.value)
        if isinstance(node, Function):
            return f"{node.name}({args[0]})"
        if isinstance(node, Neg):
            (a,) = node.args  # -x**2 and -2*x need none; -(x + y) and -(-x) do
            return "-" + (f"({args[0]})" if a.precedence in (1, 3) else args[0])
        a, b = node.args
        if isinstance(node, Add) and _is_negative(b):
            return f"{args[0]} - {args[1][1:]}"  # a + -b reads as a - b
        symbol = {Add: " + ", Sub: " - ", Mul: "*", Div: "/", Pow: "**"}[type(node)]
        return _wrap(args[0], a, node, "left") + symbol + _wrap(args[1], b, node, "right")

    return _map_postorder(expr, visit)


def _format_number(value: Number) -> str:
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    return repr(value) if isinstance(value, float) else str(value)


def _wrap(text: str, child: Expr, parent: Expr, side: str) -> str:
    """Parenthesise an argument that binds less tightly than its operator.

    An argument of equal precedence needs them only where the operator does not
    associate that way: a - (b - c), a/(b*c), (a**b)**c. A negation right of an
    operator always gets them (x*(-y), x**(-1)); on the left it needs none
    (-x*y) except as a base: (-x)**2.
    """
    p, q = child.precedence, parent.precedence
    if p == 3 and side == "right":
        return f"({text})"
    strict = (side == "right" and isinstance(parent, (Sub, Div))) or (side == "left" and isinstance(parent, Pow))
    return f"({text})" if p < q or (strict and p == q) else text


def _is_negative(node: Expr) -> bool:
    return node.precedence == 3  # a negation, or a negative number


def to_latex(expr: Expr) -> str:
    r"""LaTeX: \frac for division, \cdot where two numbers meet, ^{} for powers, \ln, \sin, \sigma."""
    def visit(node: Expr, args: List[str]) -> str:
        if isinstance(node, Symbol):
            name = node.name
            head, digits = name.rstrip("0123456789"), name[len(name.rstrip("0123456789")):]
            return f"{head}_{{{digits}}}" if head and digits else name  # x1 -> x_{1}
        if isinstance(node, Const):
            v = node.value
            return rf"\frac{{{v.numerator}}}{{{v.denominator}}}" if isinstance(v, Fraction) else _format_number(v)
        if isinstance(node, Sqrt):
            return rf"\sqrt{{{args[0]}}}"
        if isinstance(node, Exp):
            return rf"e^{{{args[0]}}}"
        if isinstance(node, Function):
            return rf"{node.latex}\left({args[0]}\right)"
        if isinstance(node, Neg):
            return "-" + _latex_wrap(args[0], node.args[0], 3, strict=True)
        a, b = node.args
        if isinstance(node, Div):
            return rf"\frac{{{args[0]}}}{{{args[1]}}}"
        if isinstance(node, Pow):
            return _latex_wrap(args[0], a, 4, strict=True) + f"^{{{args[1]}}}"
        if isinstance(node, Add):
            if _is_negative(b):
                return args[0] + " - " + args[1][1:] if isinstance(b, Const) else \
                    args[0] + " - " + _latex_wrap(to_latex(b.args[0]), b.args[0], 1, strict=True)
            return args[0] + " + " + args[1]
        if isinstance(node, Sub):
            return args[0] + " - " + _latex_wrap(args[1], b, 1, strict=True)
        left = _latex_wrap(args[0], a, 2, strict=False)
        right = _latex_wrap(args[1], b, 2, strict=False, right=True)
        # Juxtaposition reads as a product (2 x), except between two numbers (2 \cdot 3).
        needs_dot = right[:1].isdigit() or right.startswith("-") or (right.startswith(r"\frac"))
        return left + (r" \cdot " if needs_dot else " ") + right

    return _map_postorder(expr, visit)


def _latex_wrap(text: str, node: Expr, parent: int, strict: bool, right: bool = False) -> str:
    if isinstance(node, (Div, Function)) or (isinstance(node, Const) and isinstance(node.value, Fraction)):
        p = 5 if parent != 4 else 0  # a fraction is an atom, except as a base: (\frac{a}{b})^{2}
    else:
        p = node.precedence
    if p < parent or (strict and p == parent) or (right and p == 3):
        return rf"\left({text}\right)"
    return text
