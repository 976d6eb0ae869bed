"""Models built from layers: ``Sequential`` (a chain) and ``MLP`` (Linear layers with activations)."""

from __future__ import annotations

from typing import Any, Sequence, Union

from mytorch.autograd_engine import Autograd
from mytorch.nn.activation import ACTIVATIONS
from mytorch.nn.linear import Linear
from mytorch.nn.module import Module, Seed, make_rng


class Sequential(Module):
    """y = f_k(... f_2(f_1(x))): the layers applied in order.

    ``parameters()`` lists every layer's (parameter, gradient) pairs in order.
    """

    def __init__(self, *layers: Module) -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: layer {i} is a {type(layer).__name__}, not a Module")
        engines = {id(layer.autograd_engine) for layer in layers if layer.autograd_engine is not None}
        if len(engines) > 1:
            raise ValueError("Sequential: the layers were built with different engines; "
                             "build them all with the live engine")
        super().__init__(layers[0].autograd_engine if layers else None)
        self.layers = list(layers)

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, index: int) -> Module:
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)


ActivationSpec = Union[str, Module, None]


class MLP(Sequential):
    """A multilayer perceptron: Linear(sizes[i], sizes[i+1]) followed by activation i, for each i.

        h_0 = x,   h_{i+1} = act_i(h_i W_i^T + b_i),   i = 0 .. len(sizes) - 2.

    Shapes: x (batch, sizes[0]) -> (batch, sizes[-1]).

    ``activations``: one entry per Linear layer (len(sizes) - 1 of them), each a
    layer instance (``ReLU(engine)``), a name ("relu", "tanh", "sigmoid",
    "gelu", "leaky_relu", "identity", "softmax", "log_softmax") or None (no
    activation); or a single name, used after every hidden layer and not after
    the last, which then outputs raw scores (logits), as a loss such as
    ``SoftmaxCrossEntropy`` expects. ``rng`` seeds every Linear's initialisation.
    """

    def __init__(self, sizes: Sequence[int], activations: Union[str, Sequence[ActivationSpec]],
                 autograd_engine: Autograd, rng: Seed = None) -> None:
        sizes = [int(n) for n in sizes]
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes must list at least the input and output sizes, got {sizes}")
        count = len(sizes) - 1
        if isinstance(activations, str):
            activations = [activations] * (count - 1) + [None]
        activations = list(activations)
        if len(activations) != count:
            raise ValueError(f"MLP: sizes {sizes} make {count} Linear layers, so {count} activations are "
                             f"needed (one per layer, None for none), got {len(activations)}")
        rng = make_rng(rng)
        layers: list[Module] = []
        for i, activation in enumerate(activations):
            layers.append(Linear(sizes[i], sizes[i + 1], autograd_engine, rng=rng))
            if activation is not None:
                layers.append(_activation(activation, autograd_engine))
        super().__init__(*layers)
        self.autograd_engine = autograd_engine
        self.sizes = sizes

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}"


def _activation(spec: ActivationSpec, autograd_engine: Autograd) -> Module:
    if isinstance(spec, Module):
        return spec
    if isinstance(spec, str) and spec.lower() in ACTIVATIONS:
        return ACTIVATIONS[spec.lower()](autograd_engine)
    raise ValueError(f"MLP: unknown activation {spec!r}; give a layer instance, None, or one of "
                     f"{sorted(ACTIVATIONS)}")


__all__ = ["Sequential", "MLP"]
