"""``Module``: the base class of every layer, loss and model.

A module computes its output in ``forward`` by calling the recording helpers
of ``mytorch.nn.functional``, so the whole forward lands on the ``Autograd``
tape and the engine's backward differentiates it: no module has a backward
of its own.

Parameters. A module stores each parameter ``P`` (a float64 NumPy array) as
an attribute next to its gradient ``dP`` (the handout's ``W``/``dW``), and
passes ``dP`` as the ``gradients_to_update`` entry wherever ``P`` enters the
tape, so the engine's backward adds dL/dP into ``dP`` in place. Gradients
accumulate over backward passes until ``zero_grad()``. Parameters are
updated in place (``P -= lr * dP``), never rebound, so the tape, the
optimizer and the module always see the same arrays.

``parameters()`` lists the (parameter, gradient) pairs of a module and of
its sub-modules (attributes holding a ``Module``, or a list or tuple of
them), in the order they were assigned: this is what an optimizer takes.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional, Union

import numpy as np

from mytorch.autograd_engine import Autograd

Seed = Optional[Union[int, np.random.Generator]]
_call_with_tensors: Any = None


def make_rng(rng: Seed) -> np.random.Generator:
    """A NumPy generator from a seed, a generator (used as is) or None (fresh entropy)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def uniform_init(rng: np.random.Generator, shape: tuple, fan_in: int) -> np.ndarray:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) samples of ``shape``, as PyTorch's default initialisation.

    PyTorch initialises Linear and Conv weights with Kaiming-uniform (a = sqrt(5)),
    whose bound is sqrt(6 / ((1 + a^2) fan_in)) = 1/sqrt(fan_in), and their
    biases with the same bound; RNN and GRU cells use 1/sqrt(hidden_size) for all.
    """
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape)


class Module:
    """Base class: ``module(*inputs)`` calls ``forward(*inputs)``.

    ``autograd_engine`` is the engine the module records on (the handout's
    constructor argument). The recording itself goes through the functional
    helpers, which use the live engine, so this must be that engine.
    """

    def __init__(self, autograd_engine: Optional[Autograd] = None) -> None:
        self.autograd_engine = autograd_engine
        self._parameter_names: list[str] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # The single entry point into every layer: keep it a thin call of forward.
        # Tensor arguments are unwrapped to their arrays, and the output wrapped back.
        global _call_with_tensors
        if _call_with_tensors is None:
            from mytorch.tensor import call_with_tensors  # here: mytorch.tensor imports mytorch.nn
            _call_with_tensors = call_with_tensors
        return _call_with_tensors(self.forward, args, kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The layer's computation, written with the recording helpers of ``mytorch.nn.functional``."""
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def add_parameter(self, name: str, value: np.ndarray) -> np.ndarray:
        """Store ``value`` as parameter ``self.<name>`` and a zero gradient ``self.d<name>``."""
        value = np.array(value, dtype=np.float64)
        setattr(self, name, value)
        setattr(self, "d" + name, np.zeros_like(value))
        self._parameter_names.append(name)
        return value

    def named_parameters(self, prefix: str = "") -> list[tuple[str, np.ndarray, np.ndarray]]:
        """(dotted name, parameter, gradient) for this module and its sub-modules, each parameter once."""
        found: list[tuple[str, np.ndarray, np.ndarray]] = []
        seen: set[int] = set()
        for name, param, grad in self._walk(prefix):
            if id(param) not in seen:  # a layer used twice in a model is updated once
                seen.add(id(param))
                found.append((name, param, grad))
        return found

    def parameters(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The (parameter, gradient) pairs an optimizer updates: ``P -= lr * dP`` in place."""
        return [(param, grad) for _, param, grad in self.named_parameters()]

    def zero_grad(self) -> None:
        """Set every parameter gradient of this module and its sub-modules to zero, in place."""
        for _, grad in self.parameters():
            grad.fill(0.0)

    def _walk(self, prefix: str) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        for name in self._parameter_names:
            yield prefix + name, getattr(self, name), getattr(self, "d" + name)
        for attr, value in vars(self).items():
            if isinstance(value, Module):
                yield from value._walk(f"{prefix}{attr}.")
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield from item._walk(f"{prefix}{attr}.{i}.")

    def extra_repr(self) -> str:
        """The constructor arguments shown by ``repr``."""
        return ""

    def short_name(self) -> str:
        """``Type(arguments)`` on one line, for error messages."""
        return f"{type(self).__name__}({self.extra_repr()})"

    def __repr__(self) -> str:
        children = []
        for attr, value in vars(self).items():
            items = [(attr, value)] if isinstance(value, Module) else (
                [(f"{attr}.{i}", item) for i, item in enumerate(value)] if isinstance(value, (list, tuple)) else [])
            children += [f"  ({name}): {item!r}".replace("\n", "\n  ") for name, item in items
                         if isinstance(item, Module)]
        if not children:
            return self.short_name()
        extra = self.extra_repr()
        return f"{type(self).__name__}({extra}{',' if extra else ''}\n" + "\n".join(children) + "\n)"

