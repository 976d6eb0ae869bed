"""Forward-mode differentiation with dual numbers.

A dual number carries a value ``a`` and a tangent ``da``: the derivative of
``a`` along one chosen input direction ``v``. Every operation computes its
value and, beside it, its tangent by the chain rule, e.g.

    (a, da) * (b, db) = (a b,  da b + a db)
    sin((a, da))      = (sin a,  cos(a) da)

so one evaluation of f on ``Dual(x, v)`` yields f(x) and the Jacobian-vector
product J_f(x) v. Values and tangents are NumPy arrays of one shape (NumPy
broadcasting applies to values; tangents follow).

Python numbers, lists and arrays mixed with duals are constants (tangent 0).
NumPy functions do not understand duals: call the methods (``x.exp()``) or
the functions of this module (``forward_mode.exp(x)``), which accept plain
arrays too. The method names match those of ``mytorch.tensor.Tensor``, so a
function written with operators and these methods runs in both modes.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from mytorch.nn.functional import stable_sigmoid

ArrayLike = Any


def _as_float_array(x: ArrayLike) -> np.ndarray:
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.inexact) else x.astype(np.float64)


class Dual:
    """A value and its tangent (directional derivative): ``Dual(value, tangent)``.

    value: array-like, converted to a float array. tangent: array-like that
    broadcasts to the value's shape; zeros (a constant) when omitted.
    """

    __array_ufunc__ = None  # make NumPy defer to our reflected operators (array + dual -> Dual.__radd__)

    def __init__(self, value: ArrayLike, tangent: Optional[ArrayLike] = None) -> None:
        if isinstance(value, Dual) or isinstance(tangent, Dual):
            raise TypeError("Dual: value and tangent must be arrays, not duals (nested duals, "
                            "for higher derivatives, are not supported).")
        self.value = _as_float_array(value)
        if tangent is None:
            self.tangent = np.zeros_like(self.value)
            return
        tangent = _as_float_array(tangent)
        if tangent.shape != self.value.shape:
            try:
                tangent = np.array(np.broadcast_to(tangent, self.value.shape))
            except ValueError:
                raise ValueError(
                    f"Dual: tangent of shape {tangent.shape} does not fit the value of shape "
                    f"{self.value.shape}; a tangent has its value's shape (or broadcasts to it)."
                ) from None
        self.tangent = tangent

    # ------------------------------------------------------------ array-like properties

    @property
    def shape(self) -> tuple:
        return self.value.shape

    @property
    def ndim(self) -> int:
        return self.value.ndim

    @property
    def size(self) -> int:
        return self.value.size

    def __len__(self) -> int:
        return len(self.value)

    def __repr__(self) -> str:
        return f"Dual(value={self.value!r}, tangent={self.tangent!r})"

    # Comparisons look at values only: piecewise functions are differentiated branch by branch.
    def __lt__(self, other: Any) -> np.ndarray:
        return self.value < _value(other)

    def __le__(self, other: Any) -> np.ndarray:
        return self.value <= _value(other)

    def __gt__(self, other: Any) -> np.ndarray:
        return self.value > _value(other)

    def __ge__(self, other: Any) -> np.ndarray:
        return self.value >= _value(other)

    # ------------------------------------------------------------ arithmetic

    def __add__(self, other: Any) -> "Dual":
        """d(a + b) = da + db."""
        b = _lift(other)
        return Dual(self.value + b.value, self.tangent + b.tangent)

    def __radd__(self, other: Any) -> "Dual":
        return _lift(other) + self

    def __sub__(self, other: Any) -> "Dual":
        """d(a - b) = da - db."""
        b = _lift(other)
        return Dual(self.value - b.value, self.tangent - b.tangent)

    def __rsub__(self, other: Any) -> "Dual":
        return _lift(other) - self

    def __mul__(self, other: Any) -> "Dual":
        """d(a b) = da b + a db."""
        b = _lift(other)
        return Dual(self.value * b.value, self.tangent * b.value + self.value * b.tangent)

    def __rmul__(self, other: Any) -> "Dual":
        return _lift(other) * self

    def __truediv__(self, other: Any) -> "Dual":
        """d(a / b) = da / b - a db / b**2."""
        b = _lift(other)
        quotient = self.value / b.value
        return Dual(quotient, (self.tangent - quotient * b.tangent) / b.value)

    def __rtruediv__(self, other: Any) -> "Dual":
        return _lift(other) / self

    def __pow__(self, other: Any) -> "Dual":
        """d(a**p) = p a**(p-1) da for a constant p; d(a**b) = b a**(b-1) da + a**b ln(a) db."""
        if isinstance(other, (int, float, np.number)) and not isinstance(other, bool):
            if other == 0:
                return Dual(np.ones_like(self.value), np.zeros_like(self.tangent))
            return Dual(self.value ** other, other * self.value ** (other - 1) * self.tangent)
        b = _lift(other)
        a = self.value
        value = a ** b.value
        with np.errstate(divide="ignore", invalid="ignore"):
            tangent = b.value * a ** (b.value - 1.0) * self.tangent
            # The ln(a) term only where the exponent moves: a constant exponent
            # must not turn a negative base into NaN. At a = 0, b >= 0 its limit is 0.
            log_a = np.log(np.where(a == 0, 1.0, a))
            moving = (b.tangent != 0) & ~((a == 0) & (b.value >= 0))
            tangent = tangent + np.where(moving, value * log_a * b.tangent, 0.0)
        return Dual(value, tangent)

    def __rpow__(self, other: Any) -> "Dual":
        return _lift(other) ** self

    def __neg__(self) -> "Dual":
        """d(-a) = -da."""
        return Dual(-self.value, -self.tangent)

    def __pos__(self) -> "Dual":
        return self

    def __matmul__(self, other: Any) -> "Dual":
        """d(A @ B) = dA @ B + A @ dB (as ``np.matmul``: 2-D, batched, or 1-D operands)."""
        b = _lift(other)
        try:
            value = self.value @ b.value
        except ValueError as error:
            raise ValueError(f"Dual @: cannot multiply shapes {self.shape} and {b.shape} ({error})") from None
        return Dual(value, self.tangent @ b.value + self.value @ b.tangent)

    def __rmatmul__(self, other: Any) -> "Dual":
        return _lift(other) @ self

    # ------------------------------------------------------------ elementary functions

    def exp(self) -> "Dual":
        """d(e**a) = e**a da."""
        e = np.exp(self.value)
        return Dual(e, e * self.tangent)

    def log(self) -> "Dual":
        """d(ln a) = da / a."""
        return Dual(np.log(self.value), self.tangent / self.value)

    def sin(self) -> "Dual":
        """d(sin a) = cos(a) da."""
        return Dual(np.sin(self.value), np.cos(self.value) * self.tangent)

    def cos(self) -> "Dual":
        """d(cos a) = -sin(a) da."""
        return Dual(np.cos(self.value), -np.sin(self.value) * self.tangent)

    def tanh(self) -> "Dual":
        """d(tanh a) = (1 - tanh(a)**2) da."""
        t = np.tanh(self.value)
        return Dual(t, (1.0 - t * t) * self.tangent)

    def sqrt(self) -> "Dual":
        """d(sqrt a) = da / (2 sqrt a)."""
        r = np.sqrt(self.value)
        return Dual(r, self.tangent / (2.0 * r))

    def sigmoid(self) -> "Dual":
        """d(s(a)) = s(a) (1 - s(a)) da, s(a) = 1 / (1 + e**-a), computed without overflow."""
        s = stable_sigmoid(self.value)
        return Dual(s, s * (1.0 - s) * self.tangent)

    def relu(self) -> "Dual":
        """d(max(a, 0)) = da where a > 0, else 0 (0 at a = 0, like the tape)."""
        return Dual(np.maximum(self.value, 0.0), self.tangent * (self.value > 0))

    def abs(self) -> "Dual":
        """d|a| = sign(a) da (0 at a = 0)."""
        return Dual(np.abs(self.value), np.sign(self.value) * self.tangent)

    # ------------------------------------------------------------ reductions and shapes (linear: the tangent follows)

    def sum(self, axis: Any = None, keepdims: bool = False) -> "Dual":
        """d(sum a) = sum da over the same axes."""
        return Dual(np.sum(self.value, axis=axis, keepdims=keepdims),
                    np.sum(self.tangent, axis=axis, keepdims=keepdims))

    def mean(self, axis: Any = None, keepdims: bool = False) -> "Dual":
        """d(mean a) = mean da over the same axes."""
        return Dual(np.mean(self.value, axis=axis, keepdims=keepdims),
                    np.mean(self.tangent, axis=axis, keepdims=keepdims))

    def reshape(self, *shape: Any) -> "Dual":
        """Value and tangent reshaped alike; ``reshape(2, 3)`` or ``reshape((2, 3))``."""
        shape = shape[0] if len(shape) == 1 else shape
        return Dual(np.reshape(self.value, shape), np.reshape(self.tangent, shape))

    def transpose(self, *axes: Any) -> "Dual":
        """Value and tangent with the same axis permutation (reversed by default)."""
        axes = axes[0] if len(axes) == 1 else (axes or None)
        return Dual(np.transpose(self.value, axes), np.transpose(self.tangent, axes))

    @property
    def T(self) -> "Dual":
        return self.transpose()

    def __getitem__(self, index: Any) -> "Dual":
        """The same elements of value and tangent."""
        return Dual(self.value[index], self.tangent[index])


def _lift(x: Any) -> Dual:
    """A dual as is; anything else becomes a constant (tangent 0)."""
    return x if isinstance(x, Dual) else Dual(x)


def _value(x: Any) -> Any:
    return x.value if isinstance(x, Dual) else x


# Module-level functions accept duals and plain arrays, like ``math.sin`` accepts floats.

def exp(x: Union[Dual, ArrayLike]) -> Union[Dual, np.ndarray]:
    """e**x; for a dual, tangent e**x dx."""
    return x.exp() if isinstance(x, Dual) else np.exp(x)


def log(x: Union[Dual, ArrayLike]) -> Union[Dual, np.ndarray]:
    """ln x; for a dual, tangent dx / x."""
    return x.log() if isinstance(x, Dual) else np.log(x)


def sin(x: Union[Dual, ArrayLike]) -> Union[Dual, np.ndarray]:
    """sin x; for a dual, tangent cos(x) dx."""
    return x.sin() if isinstance(x, Dual) else np.sin(x)


def cos(x: Union[Dual, ArrayLike]) -> Union[Dual, np.ndarray]:
    """cos x; for a dual, tangent -sin(x) dx."""
    return x.cos() if isinstance(x, Dual) else np.cos(x)


def tanh(x: Union[Dual, ArrayLike]) -> Union[Dual, np.ndarray]:
    """tanh x; for a dual, tangent (1 - tanh(x)**2) dx."""
    return x.tanh() if isinstance(x, Dual) else np.tanh(x)


def sqrt(x: Union[Dual, ArrayLike]) -> Union[Dual, np.ndarray]:
    """sqrt x; for a dual, tangent dx / (2 sqrt x)."""
    return x.sqrt() if isinstance(x, Dual) else np.sqrt(x)


def sigmoid(x: Union[Dual, ArrayLike]) -> Union[Dual, np.ndarray]:
    """1 / (1 + e**-x); for a dual, tangent s (1 - s) dx."""
    return x.sigmoid() if isinstance(x, Dual) else stable_sigmoid(x)


# ------------------------------------------------------------ JVP and derivative

def _tangent_of(out: Any, fname: str) -> tuple:
    """(value, tangent) of f's result; a non-dual result is a constant (tangent 0)."""
    from mytorch.tensor import Tensor  # imported here: tensor.py does not depend on this module

    if isinstance(out, Dual):
        return out.value, out.tangent
    if isinstance(out, Tensor):
        raise TypeError(
            f"{fname}: f returned a {type(out).__name__}; forward mode needs f written with Dual "
            "operations (operators and the methods/functions of mytorch.forward_mode)."
        )
    value = _as_float_array(out)
    return value, np.zeros_like(value)


def jvp(f: Callable[..., Any], x: Union[ArrayLike, Sequence[ArrayLike]],
        v: Union[ArrayLike, Sequence[ArrayLike]]) -> tuple:
    """Evaluate f at x and its Jacobian-vector product J_f(x) v in one forward pass.

    f: a function of one array (or of several, when ``x`` is a tuple) written
        with dual-number operations.
    x: the point, an array, or a tuple of arrays for a function of several arguments.
    v: the direction, with x's structure and shapes (v[i] has x[i]'s shape).

    Returns ``(f(x), J v)`` as arrays: J v has f(x)'s shape, and
    (J v)_i = sum_k d f_i / d x_k  v_k. With several arguments,
    J v = sum_j (d f / d x_j) v_j.
    """
    several = isinstance(x, tuple)
    xs, vs = (x, v) if several else ((x,), (v,))
    if not isinstance(vs, (tuple, list)) or len(vs) != len(xs):
        raise ValueError(f"jvp: x is a tuple of {len(xs)} arrays, so v must be a tuple of as many directions")
    duals = []
    for i, (xi, vi) in enumerate(zip(xs, vs)):
        value, direction = _as_float_array(xi), _as_float_array(vi)
        if direction.shape != value.shape:
            raise ValueError(f"jvp: direction v[{i}] has shape {direction.shape} but x[{i}] has shape "
                             f"{value.shape}; a direction has its point's shape.")
        duals.append(Dual(value, direction))
    return _tangent_of(f(*duals), "jvp")


def derivative(f: Callable[[Any], Any], x: ArrayLike) -> np.ndarray:
    """df/dx by one forward pass seeded with tangent 1 (the lectures' "seed x = 1").

    For scalar x this is the ordinary derivative f'(x). For an array x and an
    elementwise f it is the array of derivatives f'(x_k). In general it is J 1,
    the sum of the Jacobian's columns (the derivative along all inputs at once);
    use ``jvp`` with a one-hot direction for one partial derivative.
    """
    x = _as_float_array(x)
    return jvp(f, x, np.ones_like(x))[1]
