"""An operator front end: ``Tensor``, so the lectures' examples run as written.

    x = Tensor([0., 1., 2.])
    y = ((x + 2) ** 2 + 3).mean()
    y.backward()
    x.grad                      # array([1.333, 2., 2.667]) = 2 (x + 2) / 3

A ``Tensor`` wraps one NumPy array, ``.data``. Its operators and methods call
the recording helpers of ``mytorch.nn.functional`` on the underlying arrays,
so every operation lands on the same ``Autograd`` tape as hand-written
``F.add(...)`` calls, and ``.grad`` is the engine's gradient for ``.data``.
Tensor is a wrapper, not an ndarray subclass: a subclass would make the NumPy
calls inside backward functions re-enter these operators.

Which engine. Operations record on the live ``Autograd`` engine. If none is
alive, the first recorded operation creates one (``get_engine()``); every
Tensor that takes part in an operation keeps a reference to it, so it lives
as long as those Tensors (or until ``engine.close()``). To use an engine of
your own, create it before the first operation (``with Autograd() as engine:``).

Operands. Python numbers and lists are constants. A ``Tensor`` with
``requires_grad=False`` enters the tape through the engine's constant path
too: the backward function may still compute a gradient for it, but the
engine discards it and the Tensor's ``.grad`` stays None. Plain NumPy arrays
are passed to the helpers unchanged, exactly as in ``F.mul(x, a)``: they are
ordinary tape inputs, so Tensors and F-helper code can be mixed.

Differences from PyTorch, on purpose: ``requires_grad`` defaults to True (a
course's Tensors are there to be differentiated); ``.grad`` is a NumPy array
(the engine's own buffer, not a copy), and intermediate Tensors show the
latest backward pass's gradient too; ``engine.zero_grad()`` clears the tape
and every ``.grad``.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable, Optional, Sequence

import numpy as np

import mytorch.nn.functional as F
from mytorch.autograd_engine import Autograd, Constant, is_recording, no_grad

__all__ = ["Tensor", "get_engine", "no_grad", "name_of", "stack", "concatenate", "cross_entropy",
           "call_with_tensors"]


def get_engine() -> Autograd:
    """The live ``Autograd`` engine; a new one is created if none is alive."""
    live = Autograd._live() if Autograd._live is not None else None
    return live if live is not None else Autograd()


# Names of named Tensors' arrays, for the tape pictures (mytorch.visualize).
# Keyed by id(array) with a weak reference, so a reused id is never misnamed.
_names: dict = {}


def name_of(array: Any) -> Optional[str]:
    """The name of the Tensor whose ``.data`` is this very array, if it was given one."""
    entry = _names.get(id(array))
    if entry is not None and entry[0]() is array:
        return entry[1]
    return None


def _register_name(array: np.ndarray, name: str) -> None:
    key = id(array)
    _names[key] = (weakref.ref(array, lambda _ref, key=key: _names.pop(key, None)), name)


class Tensor:
    """An array on the autograd tape: ``Tensor(data, requires_grad=True, name=None)``.

    data: a Python number or list (converted to float64), or a NumPy array,
        which is used as is (not copied) so that ``Tensor(x).grad`` is the
        engine's gradient of ``x``. Integer arrays must have requires_grad=False.
    requires_grad: whether gradients flow to this Tensor (see the module docstring).
    name: a label for ``mytorch.visualize``.
    """

    __array_ufunc__ = None  # NumPy defers to our reflected operators: array + Tensor -> Tensor.__radd__

    def __init__(self, data: Any, requires_grad: bool = True, name: Optional[str] = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        if isinstance(data, np.ndarray):
            array = data
        else:
            array = np.asarray(data)
            if not np.issubdtype(array.dtype, np.inexact):
                array = array.astype(np.float64)
        if requires_grad and not np.issubdtype(array.dtype, np.inexact):
            raise TypeError(
                f"Tensor: an array of dtype {array.dtype} cannot require gradients; use a float "
                "array, or requires_grad=False for labels and indices."
            )
        self.data: np.ndarray = array
        self.requires_grad = bool(requires_grad)
        self._engine: Optional[Autograd] = None
        self._name: Optional[str] = None
        if name is not None:
            self.name = name

    @classmethod
    def _result(cls, array: np.ndarray, requires_grad: bool, engine: Optional[Autograd]) -> "Tensor":
        out = cls.__new__(cls)
        out.data, out.requires_grad, out._engine, out._name = array, requires_grad, engine, None
        return out

    # ------------------------------------------------------------ attributes

    @property
    def name(self) -> Optional[str]:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = value
        _register_name(self.data, value)

    @property
    def grad(self) -> Optional[np.ndarray]:
        """dL/d(data) from the engine's memory buffer, or None if no gradient reached this Tensor.

        It is the buffer's own array: copy it to keep it across ``zero_grad()``.
        """
        if not self.requires_grad or self._engine is None:
            return None
        buffer = self._engine.memory_buffer
        return buffer.get_param(self.data) if buffer.has_gradient(self.data) else None

    @property
    def engine(self) -> Optional[Autograd]:
        """The engine this Tensor last recorded on (None before its first operation)."""
        return self._engine

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def numpy(self) -> np.ndarray:
        """The underlying array (not a copy)."""
        return self.data

    def item(self) -> float:
        """The value of a one-element Tensor as a Python number."""
        return self.data.item()

    def detach(self) -> "Tensor":
        """A Tensor on the same array that requires no gradient (a constant)."""
        return Tensor(self.data, requires_grad=False)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def __len__(self) -> int:
        return len(self.data)

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.data)

    def __repr__(self) -> str:
        extra = f", name={self._name!r}" if self._name else ""
        extra += "" if self.requires_grad else ", requires_grad=False"
        return f"Tensor({np.array2string(self.data, separator=', ')}{extra})"

    def __setitem__(self, index: Any, value: Any) -> None:
        raise TypeError(
            "Tensor does not support item assignment: writing into .data in place would make "
            "the gradients of recorded operations wrong. Build a new Tensor instead (indexing, "
            "concatenate, stack), or change .data under no_grad() between steps."
        )

    # ------------------------------------------------------------ backward

    def backward(self, gradient: Any = None) -> None:
        """Backpropagate from this Tensor: ``engine.backward(gradient, output=self.data)``.

        gradient: dL/d(self), of self's shape (or broadcastable to it); may be
            omitted only for a one-element Tensor (then dL/d(self) = 1).
        Leaf gradients accumulate across calls until ``engine.zero_grad()``.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this Tensor does not require gradients: it has requires_grad=False, "
                "was computed under no_grad(), or was computed from constants only."
            )
        engine = self._engine
        if engine is None or not any(op.output is self.data for op in engine.operation_list):
            raise RuntimeError(
                f"backward: this Tensor of shape {self.shape} is not the output of an operation on "
                "the tape: it is a leaf (nothing to differentiate), or the tape was cleared "
                "(zero_grad, close) after it was computed."
            )
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: gradient may be omitted only for a one-element Tensor, but this one has "
                    f"shape {self.shape}; reduce it first (y.sum().backward()) or pass "
                    "dL/dy as backward(gradient)."
                )
            gradient = 1.0
        engine.backward(_raw(gradient), output=self.data)

    # ------------------------------------------------------------ arithmetic

    def __add__(self, other: Any) -> "Tensor":
        return _apply(F.add, self, other)

    def __radd__(self, other: Any) -> "Tensor":
        return _apply(F.add, other, self)

    def __sub__(self, other: Any) -> "Tensor":
        return _apply(F.sub, self, other)

    def __rsub__(self, other: Any) -> "Tensor":
        return _apply(F.sub, other, self)

    def __mul__(self, other: Any) -> "Tensor":
        return _apply(F.mul, self, other)

    def __rmul__(self, other: Any) -> "Tensor":
        return _apply(F.mul, other, self)

    def __truediv__(self, other: Any) -> "Tensor":
        return _apply(F.div, self, other)

    def __rtruediv__(self, other: Any) -> "Tensor":
        return _apply(F.div, other, self)

    def __pow__(self, other: Any) -> "Tensor":
        return _apply(F.pow, self, other)

    def __rpow__(self, other: Any) -> "Tensor":
        return _apply(F.pow, other, self)

    def __matmul__(self, other: Any) -> "Tensor":
        return _apply(F.matmul, self, other)

    def __rmatmul__(self, other: Any) -> "Tensor":
        return _apply(F.matmul, other, self)

    def __neg__(self) -> "Tensor":
        return _apply(F.neg, self)

    def __pos__(self) -> "Tensor":
        return self

    # Comparisons give constant boolean Tensors (masks); they are not differentiable.
    def __lt__(self, other: Any) -> "Tensor":
        return Tensor(self.data < _raw(other), requires_grad=False)

    def __le__(self, other: Any) -> "Tensor":
        return Tensor(self.data <= _raw(other), requires_grad=False)

    def __gt__(self, other: Any) -> "Tensor":
        return Tensor(self.data > _raw(other), requires_grad=False)

    def __ge__(self, other: Any) -> "Tensor":
        return Tensor(self.data >= _raw(other), requires_grad=False)

    def matmul(self, other: Any) -> "Tensor":
        """self @ other (as ``np.matmul``); dL/dA = dL/dY B^T, dL/dB = A^T dL/dY."""
        return _apply(F.matmul, self, other)

    def maximum(self, other: Any) -> "Tensor":
        """Elementwise max(self, other); a tie splits the gradient in half."""
        return _apply(F.maximum, self, other)

    def minimum(self, other: Any) -> "Tensor":
        """Elementwise min(self, other); a tie splits the gradient in half."""
        return _apply(F.minimum, self, other)

    # ------------------------------------------------------------ elementwise functions

    def exp(self) -> "Tensor":
        """e**x; dy/dx = e**x."""
        return _apply(F.exp, self)

    def log(self) -> "Tensor":
        """ln x; dy/dx = 1/x."""
        return _apply(F.log, self)

    def sin(self) -> "Tensor":
        """sin x; dy/dx = cos x."""
        return _apply(F.sin, self)

    def cos(self) -> "Tensor":
        """cos x; dy/dx = -sin x."""
        return _apply(F.cos, self)

    def tanh(self) -> "Tensor":
        """tanh x; dy/dx = 1 - tanh(x)**2."""
        return _apply(F.tanh, self)

    def sigmoid(self) -> "Tensor":
        """1 / (1 + e**-x), without overflow; dy/dx = s (1 - s)."""
        return _apply(F.sigmoid, self)

    def relu(self) -> "Tensor":
        """max(x, 0); dy/dx = 1 where x > 0, else 0."""
        return _apply(F.relu, self)

    def sqrt(self) -> "Tensor":
        """sqrt x; dy/dx = 1 / (2 sqrt x)."""
        return _apply(F.sqrt, self)

    def abs(self) -> "Tensor":
        """|x|; dy/dx = sign(x)."""
        return _apply(F.abs, self)

    def softmax(self, axis: int = -1) -> "Tensor":
        """e**x / sum(e**x) along ``axis``; dL/dx = s (dL/ds - sum(dL/ds s))."""
        return _apply(F.softmax, self, axis=axis)

    def log_softmax(self, axis: int = -1) -> "Tensor":
        """x - ln sum(e**x) along ``axis``; dL/dx = dL/dy - softmax(x) sum(dL/dy)."""
        return _apply(F.log_softmax, self, axis=axis)

    # ------------------------------------------------------------ reductions

    def sum(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        """Sum over ``axis`` (all by default); dL/dx = dL/dy copied along the summed axes."""
        return _apply(F.sum, self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        """Mean over ``axis`` (all by default); dL/dx = dL/dy / n copied along the averaged axes."""
        return _apply(F.mean, self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        """The maximum; its gradient goes to the maximal elements (shared among ties)."""
        return _apply(F.max, self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> "Tensor":
        """The minimum; its gradient goes to the minimal elements (shared among ties)."""
        return _apply(F.min, self, axis=axis, keepdims=keepdims)

    # ------------------------------------------------------------ shape and indexing

    def reshape(self, *shape: Any) -> "Tensor":
        """``t.reshape(2, 3)`` or ``t.reshape((2, 3))``; one entry may be -1."""
        shape = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)) else shape
        return _apply(F.reshape, self, shape=shape)

    def transpose(self, *axes: Any) -> "Tensor":
        """Axes permuted (reversed by default): ``t.transpose(1, 0, 2)`` or ``t.transpose((1, 0, 2))``."""
        axes = tuple(axes[0]) if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)) else axes
        return _apply(F.transpose, self, axes=axes or None)

    @property
    def T(self) -> "Tensor":
        """The axes reversed (the transpose of a matrix); the gradient is transposed back."""
        return self.transpose()

    def expand_dims(self, axis: Any) -> "Tensor":
        """A new size-1 axis at ``axis``; the gradient is reshaped back."""
        return _apply(F.expand_dims, self, axis=axis)

    def squeeze(self, axis: Any = None) -> "Tensor":
        """Size-1 axes (or only ``axis``) removed; the gradient is reshaped back."""
        return _apply(F.squeeze, self, axis=axis)

    def __getitem__(self, index: Any) -> "Tensor":
        """Basic slicing or integer-array indexing; an element picked twice gets both gradients."""
        if isinstance(index, tuple):
            index = tuple(_raw(i) for i in index)
        else:
            index = _raw(index)
        return _apply(F.getitem, self, index=index)


# ------------------------------------------------------------ recording

def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _argument(x: Any) -> Any:
    """What a helper receives for an operand of a recorded operation."""
    if isinstance(x, Tensor):
        return x.data if x.requires_grad else Constant(x.data)
    return x


def _differentiable(x: Any) -> bool:
    """Whether an operand may receive a gradient (float arrays do, as with the F helpers)."""
    if isinstance(x, Tensor):
        return x.requires_grad
    return isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.inexact)


def _apply(helper: Callable[..., np.ndarray], *operands: Any, listed: bool = False, **params: Any) -> Tensor:
    """Run ``helper`` on the operands' arrays; record it unless no operand needs a gradient.

    listed: the helper takes its arrays as one list (stack, concatenate).
    """
    def call(convert: Callable[[Any], Any]) -> np.ndarray:
        args = [convert(x) for x in operands]
        return helper(args, **params) if listed else helper(*args, **params)

    if not (is_recording() and any(_differentiable(x) for x in operands)):
        with no_grad():
            return Tensor._result(call(_raw), False, None)
    engine = get_engine()
    output = call(_argument)
    for x in operands:
        if isinstance(x, Tensor):
            x._engine = engine  # keeps the engine (and so .grad) alive as long as this Tensor
    return Tensor._result(output, True, engine)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Tensors of one shape stacked along a new ``axis``; each gets its slice of the gradient."""
    return _apply(F.stack, *tensors, listed=True, axis=axis)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Tensors joined along an existing ``axis``; each gets its slice of the gradient."""
    return _apply(F.concatenate, *tensors, listed=True, axis=axis)


def cross_entropy(logits: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy: L = -sum_c t_c log softmax(logits)_c per row, then the mean over rows.

    logits: (batch, C). target: integer labels (batch,) or probability rows (batch, C).
    dL/dlogits = (softmax(logits) - t) / batch (for ``reduction="mean"``).
    """
    return _apply(F.softmax_cross_entropy, logits, target, reduction=reduction)


# ------------------------------------------------------------ layers

def call_with_tensors(forward: Callable[..., Any], args: Sequence[Any], kwargs: dict) -> Any:
    """Call a layer's ``forward`` on arrays; if any argument is a Tensor, return Tensors.

    Used by ``Module.__call__``. Tensor arguments are replaced by their
    ``.data``, so the layer records on the tape with those very arrays and the
    gradients land under the Tensors' keys (``x.grad``). The output (an array,
    or a tuple or list of arrays) comes back wrapped as Tensors that require
    gradients while recording: a layer's own parameters make its output
    differentiable even when its input is a constant.
    """
    for a in args:  # a plain loop: the common case (no Tensor) then costs no comprehension frame
        if isinstance(a, Tensor):
            break
    else:
        if not kwargs:
            return forward(*args)
    tensors = [a for a in args if isinstance(a, Tensor)]
    if kwargs:
        tensors += [a for a in kwargs.values() if isinstance(a, Tensor)]
    if not tensors:
        return forward(*args, **kwargs)
    recording = is_recording()
    engine = get_engine() if recording else None  # the layer's helpers need a live engine, as Tensor ops do
    output = forward(*[_argument(a) for a in args], **{key: _argument(value) for key, value in kwargs.items()})
    if engine is not None:
        for t in tensors:
            t._engine = engine
    return _wrap(output, recording, engine)


def _wrap(output: Any, requires_grad: bool, engine: Optional[Autograd]) -> Any:
    if isinstance(output, np.ndarray):
        return Tensor._result(output, requires_grad, engine)
    if isinstance(output, (tuple, list)):
        return type(output)(_wrap(item, requires_grad, engine) for item in output)
    return output
