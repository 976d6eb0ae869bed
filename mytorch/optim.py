"""Optimizers: update parameters in place from their gradients.

An optimizer takes the (parameter, gradient) pairs of a model
(``model.parameters()``, or the model itself). ``step()`` updates every
parameter in place from its gradient array; ``zero_grad()`` sets every
gradient to zero. A training step::

    engine.zero_grad()              # clear the tape of the previous step
    optimizer.zero_grad()           # gradients accumulate until zeroed
    loss = criterion(model(x), y)   # forward: recorded on the tape
    criterion.backward()            # fills every dW, db
    optimizer.step()                # W -= lr * (update computed from dW)

Weight decay adds lambda P to the gradient (L2 regularisation of
lambda/2 ||P||^2), as PyTorch's ``SGD`` and ``Adam`` do.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence, Tuple, Union

import numpy as np

from mytorch.nn.module import Module

ParamPairs = Union[Module, Iterable[Tuple[np.ndarray, np.ndarray]]]


class Optimizer:
    """Base class: holds the (parameter, gradient) pairs and zeroes the gradients."""

    def __init__(self, params: ParamPairs, lr: float) -> None:
        name = type(self).__name__
        pairs = params.parameters() if isinstance(params, Module) else list(params)
        if not pairs:
            raise ValueError(f"{name}: no parameters to optimize (got an empty list)")
        for i, pair in enumerate(pairs):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError(f"{name}: parameter {i} is not a (parameter, gradient) pair; "
                                "pass model.parameters()")
            param, grad = pair
            if not (isinstance(param, np.ndarray) and isinstance(grad, np.ndarray)
                    and np.issubdtype(param.dtype, np.floating)):
                raise TypeError(f"{name}: pair {i} must be two floating-point NumPy arrays, got "
                                f"{type(param).__name__} and {type(grad).__name__}")
            if not param.flags.writeable:
                raise ValueError(f"{name}: parameter {i} (shape {param.shape}) is read-only; "
                                 "parameters are updated in place")
            if param.shape != grad.shape:
                raise ValueError(f"{name}: parameter {i} has shape {param.shape} but its gradient has "
                                 f"shape {grad.shape}; expected equal shapes")
        if not lr > 0:
            raise ValueError(f"{name}: learning rate must be positive, got {lr}")
        self.params: list = [tuple(pair) for pair in pairs]
        self.lr = float(lr)

    def zero_grad(self) -> None:
        """Set every gradient to zero, in place."""
        for _, grad in self.params:
            grad.fill(0.0)

    def step(self) -> None:
        """Update every parameter in place from its gradient."""
        raise NotImplementedError

    def _gradient(self, param: np.ndarray, grad: np.ndarray, weight_decay: float) -> np.ndarray:
        return grad + weight_decay * param if weight_decay else grad


def _check_range(optimizer: str, name: str, value: float, low: float, high: float) -> float:
    if not low <= value < high:
        raise ValueError(f"{optimizer}: {name} must be in [{low}, {high}), got {value}")
    return float(value)


class SGD(Optimizer):
    """Stochastic gradient descent with momentum and weight decay (PyTorch's update rule).

        g = dL/dP + weight_decay P
        v = g (first step), then v = momentum v + g
        P = P - lr v              (P - lr (g + momentum v) with nesterov=True)

    With momentum = 0 this is P = P - lr g. ``v`` is kept per parameter, and so is a
    scratch array that receives lr v: without weight decay or Nesterov momentum the update
    allocates nothing, which at large sizes spares the allocator a fresh parameter-sized
    array (and its page faults) every step.
    """

    def __init__(self, params: ParamPairs, lr: float = 0.01, momentum: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(params, lr)
        self.momentum = _check_range("SGD", "momentum", momentum, 0.0, 1.0)
        self.weight_decay = _check_range("SGD", "weight_decay", weight_decay, 0.0, np.inf)
        if nesterov and not momentum:
            raise ValueError("SGD: nesterov momentum needs momentum > 0")
        self.nesterov = nesterov
        self.velocities: list[Any] = [None] * len(self.params)
        self._scaled = [np.empty_like(param) for param, _ in self.params]

    def step(self) -> None:
        """One update of every parameter, in place."""
        if not self.momentum and not self.weight_decay:  # plain P -= lr dL/dP: no per-parameter branches
            for (param, grad), scaled in zip(self.params, self._scaled):
                param -= np.multiply(grad, self.lr, out=scaled)
            return
        for i, (param, grad) in enumerate(self.params):
            g = self._gradient(param, grad, self.weight_decay)
            if self.momentum:
                v = self.velocities[i]
                if v is None:
                    v = self.velocities[i] = np.array(g, dtype=param.dtype)
                else:
                    v *= self.momentum
                    v += g
                g = g + self.momentum * v if self.nesterov else v
            scaled = self._scaled[i]
            np.multiply(g, self.lr, out=scaled)
            param -= scaled


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), as PyTorch's ``Adam``; at step t = 1, 2, ...:

        g = dL/dP + weight_decay P
        m = beta1 m + (1 - beta1) g,        v = beta2 v + (1 - beta2) g^2      (m = v = 0 at first)
        m_hat = m / (1 - beta1^t),          v_hat = v / (1 - beta2^t)          (bias correction)
        P = P - lr m_hat / (sqrt(v_hat) + eps)

    At t = 1, m_hat = g and v_hat = g^2, so each entry moves by lr g / (|g| + eps),
    about lr, against the sign of its gradient.
    """

    def __init__(self, params: ParamPairs, lr: float = 1e-3, betas: Sequence[float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        if len(betas) != 2:
            raise ValueError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}")
        self.beta1 = _check_range("Adam", "betas[0]", betas[0], 0.0, 1.0)
        self.beta2 = _check_range("Adam", "betas[1]", betas[1], 0.0, 1.0)
        if not eps > 0:
            raise ValueError(f"Adam: eps must be positive, got {eps}")
        self.eps = float(eps)
        self.weight_decay = _check_range("Adam", "weight_decay", weight_decay, 0.0, np.inf)
        self.t = 0
        self.m = [np.zeros_like(param) for param, _ in self.params]
        self.v = [np.zeros_like(param) for param, _ in self.params]

    def step(self) -> None:
        """One update of every parameter, in place."""
        self.t += 1
        correction1, correction2 = 1.0 - self.beta1 ** self.t, 1.0 - self.beta2 ** self.t
        for (param, grad), m, v in zip(self.params, self.m, self.v):
            g = self._gradient(param, grad, self.weight_decay)
            m *= self.beta1
            m += (1.0 - self.beta1) * g
            v *= self.beta2
            v += (1.0 - self.beta2) * g * g
            param -= self.lr * (m / correction1) / (np.sqrt(v / correction2) + self.eps)


__all__ = ["Optimizer", "SGD", "Adam"]
