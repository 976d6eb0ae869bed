"""A tape-based reverse-mode autograd engine.

Forward: every primitive computes its output with NumPy and records an
``Operation`` (inputs, output, where its input gradients go, the backward
function) on the ``Autograd`` tape. Backward: the tape is replayed in reverse;
each backward function turns dL/d(output) into dL/d(input) for every input
(a vector-Jacobian product), and the results are summed per input array.
"""

from __future__ import annotations

import weakref
from contextlib import contextmanager
from typing import Any, Callable, Collection, Iterator, Optional, Sequence

import numpy as np

from mytorch.utils import MemoryBuffer, describe, float_dtype, unbroadcast

BackwardFunction = Callable[..., Any]


class Operation:
    """One recorded primitive: ``output = f(*inputs, **params)``.

    ``backward_operation(grad_output, *inputs, **params)`` returns dL/d(input)
    for each input, in order (``None`` for a non-differentiable input).
    ``params`` holds non-differentiable arguments (axis, shape, indices).
    ``constants`` are the positions of inputs given as Python scalars or lists:
    they get no gradient.
    """

    __slots__ = ("inputs", "output", "gradients_to_update", "backward_operation",
                 "params", "constants", "snapshots")

    def __init__(self, inputs: Sequence[np.ndarray], output: np.ndarray,
                 gradients_to_update: Sequence[Optional[np.ndarray]],
                 backward_operation: BackwardFunction, params: Optional[dict] = None,
                 constants: Collection[int] = frozenset()) -> None:
        self.inputs = inputs if type(inputs) is list else list(inputs)
        self.output = output
        self.gradients_to_update = gradients_to_update
        self.backward_operation = backward_operation
        self.params = {} if params is None else params
        self.constants = constants
        self.snapshots: Optional[list] = None

    @property
    def name(self) -> str:
        return _name(self.backward_operation)

    def __repr__(self) -> str:
        shapes = ", ".join(str(np.shape(x)) for x in self.inputs)
        return f"<Operation {self.name}({shapes}) -> {np.shape(self.output)}>"


class Autograd:
    """The tape. Only one engine may be alive at a time (the singleton of the handout).

    The slot is released when the engine is garbage-collected or ``close()``-d;
    ``with Autograd() as engine:`` closes it on exit. ``debug=True`` snapshots
    every input when it is recorded and, during backward, raises if an input was
    modified in place since (its gradient would silently be wrong).
    """

    _live: Optional["weakref.ref[Autograd]"] = None

    def __init__(self, debug: bool = False) -> None:
        if Autograd._live is not None and Autograd._live() is not None:
            # The live engine may have no name in this scope (a Tensor created it, or an earlier
            # notebook cell did), so the advice reaches it through current_engine().
            raise RuntimeError(
                "Autograd is a singleton and an engine already exists. Reuse it "
                "(mytorch.current_engine() returns it), or release it first: "
                "mytorch.current_engine().close(). `with Autograd() as engine:` releases it at the end of the block."
            )
        Autograd._live = weakref.ref(self)
        self.debug = debug
        self.memory_buffer = MemoryBuffer()
        self.operation_list: list[Operation] = []
        self._outputs: set[int] = set()  # ids of recorded outputs: the non-leaf arrays

    def close(self) -> None:
        """Clear the tape and free the singleton slot for a new engine."""
        try:
            self.zero_grad()
        finally:  # free the slot even if zero_grad fails (a student's unfinished one), or every later engine would
            if Autograd._live is not None and Autograd._live() is self:
                Autograd._live = None

    def __enter__(self) -> "Autograd":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_operation(self, inputs: Sequence[Any], output: np.ndarray,
                      gradients_to_update: Sequence[Optional[np.ndarray]],
                      backward_operation: BackwardFunction, **params: Any) -> None:
        """Record ``output = f(*inputs)`` on the tape.

        inputs: the arrays the output was computed from. Anything that is not an
            ndarray (a Python number or list, a ``constant(x)``) is recorded as a
            constant: it receives no gradient.
        output: the NumPy array the forward produced; a new object, used downstream as is.
        gradients_to_update: one entry per input: an array (e.g. a layer's ``dW``,
            or a view of it such as ``dW.T``) into which that input's gradient is
            added in place, or ``None`` to keep it in ``memory_buffer``.
        backward_operation: called as ``backward_operation(grad_output, *inputs, **params)``.
        params: non-differentiable arguments (axis=..., shape=..., index=...).
        """
        if not _recording:
            return
        if not isinstance(output, np.ndarray):
            raise TypeError(
                f"add_operation({_name(backward_operation)}): output must be a NumPy array, got "
                f"{describe(output)}; wrap it with np.asarray(...) and use that very object downstream."
            )
        if len(inputs) != len(gradients_to_update) or not callable(backward_operation):
            _bad_arguments(inputs, gradients_to_update, backward_operation)
        key = id(output)
        if key in self._outputs:
            _output_on_tape(backward_operation, output)
        constants = _NO_CONSTANTS
        for i, x in enumerate(inputs):
            if x is output:
                _output_on_tape(backward_operation, output)
            if not isinstance(x, np.ndarray):
                if constants is _NO_CONSTANTS:
                    inputs, constants = list(inputs), set()
                inputs[i] = x = np.asarray(x)
                constants.add(i)
            target = gradients_to_update[i]
            if target is not None and (not isinstance(target, np.ndarray) or target.shape != x.shape):
                raise ValueError(
                    f"add_operation({_name(backward_operation)}): gradients_to_update[{i}] is "
                    f"{describe(target)} but input {i} has shape {x.shape}; give a NumPy array of "
                    "its input's shape (the gradient is added into it in place), or None."
                )
        # BEGIN SOLUTION autograd_engine
        # PROMPT: add a spot in the memory buffer for each differentiable input (a floating-point array that
        # PROMPT: is not a constant and has no gradients_to_update array); append an Operation (with params and
        # PROMPT: constants) to the tape, and remember that id(output) is a recorded output, not a leaf
        add_spot = self.memory_buffer.add_spot
        for i, x in enumerate(inputs):
            if gradients_to_update[i] is None and i not in constants and x.dtype.kind in "fc":
                add_spot(x)
        self.operation_list.append(Operation(inputs, output, gradients_to_update, backward_operation, params,
                                             constants))
        self._outputs.add(key)
        # END SOLUTION
        if self.debug:
            recorded = self.operation_list[-1]
            recorded.snapshots = [x.copy() for x in recorded.inputs]

    def backward(self, divergence: Any = 1.0, output: Optional[np.ndarray] = None) -> None:
        """Backpropagate ``divergence`` = dL/d(output) through the tape.

        output: the recorded array to differentiate; by default the output of
            the last recorded operation. Pass another recorded output to
            differentiate it instead (several losses on one tape): operations
            recorded after it receive no gradient and are skipped.
        divergence: dL/d(output), a scalar or an array broadcastable to its shape.

        Gradients of leaves (arrays no operation produced, and the
        ``gradients_to_update`` arrays) accumulate across calls, like PyTorch's
        ``.grad``, until ``zero_grad()``; the buffer keeps the latest pass's
        gradient for intermediate arrays. Operations whose output received no
        gradient are skipped.
        """
        stop = self._find_output(output)
        output = self.operation_list[stop - 1].output
        seed = np.asarray(divergence, dtype=float_dtype(output))
        try:
            seed = np.full(output.shape, seed) if seed.shape != output.shape else seed.copy()
        except ValueError:
            raise ValueError(
                f"backward: divergence of shape {seed.shape} cannot be broadcast to the "
                f"output's shape {output.shape}."
            ) from None

        # BEGIN SOLUTION autograd_engine
        # PROMPT: keep this pass's gradients in a dict keyed by id(array), starting from {id(output): seed};
        # PROMPT: replay the tape in reverse, skipping operations whose output got no gradient; send each
        # PROMPT: input's gradient to its gradients_to_update array or sum it in the dict (_fit_to_input
        # PROMPT: reduces a broadcast gradient); finally store intermediate gradients in the buffer as they
        # PROMPT: are and accumulate leaf gradients with update_param
        grads: dict[int, np.ndarray] = {id(output): seed}
        arrays: dict[int, np.ndarray] = {id(output): output}
        owned: set[int] = {id(output)}  # gradients this pass allocated itself: safe to add into
        operations, outputs = self.operation_list, self._outputs
        for index in range(stop - 1, -1, -1):
            op = operations[index]
            grad_output = grads.get(id(op.output))
            if grad_output is None:
                continue  # not on a path to the output: skip, do not run on zeros
            if op.snapshots is not None:
                _check_unmodified(op, index)
            inputs = op.inputs
            input_grads = op.backward_operation(grad_output, *inputs, **op.params)
            if type(input_grads) is np.ndarray:
                input_grads = (input_grads,)
            if type(input_grads) is not tuple or len(input_grads) != len(inputs):
                input_grads = _as_tuple(op, index, input_grads)
            for i, g in enumerate(input_grads):
                if g is None or i in op.constants:
                    continue
                x = inputs[i]
                if type(g) is not np.ndarray or g.shape != x.shape:
                    g = _fit_to_input(op, index, i, x, g)
                target = op.gradients_to_update[i]
                key = id(x)
                if target is not None:
                    target += g
                    if key not in outputs:
                        continue  # a leaf whose gradient lives in its own array
                previous = grads.get(key)
                if previous is None:
                    grads[key] = g
                    arrays[key] = x
                elif key in owned and type(previous) is np.ndarray:
                    previous += g  # (a sum of 0-d arrays is a NumPy scalar: it takes the branch below)
                else:
                    grads[key] = previous + g
                    owned.add(key)

        buffer = self.memory_buffer
        for key, g in grads.items():
            if key in outputs:  # intermediate: this pass's gradient, not compounded
                buffer.memory[key] = g if type(g) is np.ndarray else np.asarray(g)
                buffer._arrays[key] = arrays[key]
            else:
                buffer.update_param(arrays[key], g)  # leaf: accumulates across passes
        # END SOLUTION

    def zero_grad(self) -> None:
        """Empty the tape and the memory buffer, releasing every array they held."""
        # BEGIN SOLUTION autograd_engine
        self.operation_list = []
        self._outputs = set()
        self.memory_buffer.clear()
        # END SOLUTION

    def _find_output(self, output: Optional[np.ndarray]) -> int:
        """Number of operations up to and including the one that produced ``output``."""
        if not self.operation_list:
            raise RuntimeError(
                "backward: the tape is empty. Record operations first (a forward pass), "
                "and call backward before zero_grad()."
            )
        if output is None:
            return len(self.operation_list)
        for index in range(len(self.operation_list) - 1, -1, -1):
            if self.operation_list[index].output is output:
                return index + 1
        raise ValueError(
            f"backward: the given output ({describe(output)}) is not the output of any "
            "recorded operation; pass the very array a recorded operation returned."
        )


class Constant:
    """An operand that needs no gradient, such as a batch of training data (``constant(x)``).

    NumPy sees it as its array (it has ``__array__``), so layers and helpers
    compute with it as usual; ``add_operation`` records any input that is not
    an ndarray as a constant, so no gradient is stored for it, and helpers may
    skip computing one (``matmul`` does: for ``constant(x) @ W`` only dL/dW is
    computed, as PyTorch does for data with ``requires_grad=False``).
    """

    __slots__ = ("array",)

    def __init__(self, array: Any) -> None:
        self.array = array.array if isinstance(array, Constant) else np.asarray(array)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.array if dtype is None else self.array.astype(dtype, copy=False)

    @property
    def shape(self) -> tuple:
        return self.array.shape

    def __repr__(self) -> str:
        return f"constant({self.array!r})"


def constant(array: Any) -> Constant:
    """Mark ``array`` as needing no gradient where it enters the tape (see ``Constant``)."""
    return Constant(array)


_recording = True
_NO_CONSTANTS: frozenset = frozenset()


def _name(backward_operation: Any) -> str:
    return getattr(backward_operation, "__name__", None) or repr(backward_operation)


def _bad_arguments(inputs: Sequence[Any], gradients_to_update: Sequence[Any], backward_operation: Any) -> None:
    name = _name(backward_operation)
    if not callable(backward_operation):
        raise TypeError(f"add_operation: backward_operation must be a function, got {name}")
    raise ValueError(
        f"add_operation({name}): {len(inputs)} inputs of shapes {[np.shape(x) for x in inputs]} "
        f"but {len(gradients_to_update)} gradients_to_update entries; give one entry "
        "(an array or None) per input."
    )


def _output_on_tape(backward_operation: Any, output: np.ndarray) -> None:
    raise ValueError(
        f"add_operation({_name(backward_operation)}): the output ({describe(output)}) is already on "
        "the tape (an input of this operation, or the output of an earlier one). Every "
        "operation must produce a new array; do not modify arrays in place."
    )


@contextmanager
def no_grad() -> Iterator[None]:
    """Inside ``with no_grad():`` nothing is recorded on the tape (evaluation, parameter updates)."""
    global _recording
    previous, _recording = _recording, False
    try:
        yield
    finally:
        _recording = previous


def is_recording() -> bool:
    """False inside ``no_grad()``."""
    return _recording


def current_engine() -> Autograd:
    """The live ``Autograd`` engine, on which the functional helpers record."""
    engine = Autograd._live() if Autograd._live is not None else None
    if engine is None:
        raise RuntimeError("No Autograd engine exists: create one with `engine = Autograd()` first.")
    return engine


def _as_tuple(op: Operation, index: int, result: Any) -> tuple:
    if not isinstance(result, (tuple, list)):
        result = (result,)
    if len(result) != len(op.inputs):
        raise ValueError(
            f"{op.name} (operation #{index} on the tape) returned {len(result)} gradient(s) "
            f"for {len(op.inputs)} input(s) of shapes {[x.shape for x in op.inputs]}; return "
            "one gradient per input, in order (None for a non-differentiable input)."
        )
    return tuple(result)


def _fit_to_input(op: Operation, index: int, i: int, x: np.ndarray, g: Any) -> np.ndarray:
    g = np.asarray(g)
    if g.shape == x.shape:
        return g
    if _reducible(g.shape, x.shape):
        return unbroadcast(g, x.shape)
    raise ValueError(
        f"{op.name} (operation #{index} on the tape) returned a gradient of shape {g.shape} "
        f"for input {i} of shape {x.shape}; it cannot be reduced to the input's shape."
    )


def _reducible(grad_shape: tuple, shape: tuple) -> bool:
    """Whether ``shape`` broadcasts to ``grad_shape`` (so summing reduces it back)."""
    try:
        return np.broadcast_shapes(grad_shape, shape) == grad_shape
    except ValueError:
        return False


def _check_unmodified(op: Operation, index: int) -> None:
    for i, (x, snapshot) in enumerate(zip(op.inputs, op.snapshots)):
        if x.shape != snapshot.shape or not np.array_equal(x, snapshot, equal_nan=x.dtype.kind in "fc"):
            raise RuntimeError(
                f"debug: input {i} ({describe(x)}) of {op.name} (operation #{index} on the "
                "tape) was modified in place after the operation was recorded; its gradient "
                "would be wrong. Compute into a new array instead."
            )
