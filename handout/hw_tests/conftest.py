"""Shared fixtures and helpers.

Fixtures: every test gets a fresh engine, released afterwards even if the test fails.

Helpers (import them with ``from conftest import ...``; pytest puts this folder on
``sys.path``): hypothesis strategies for shapes and broadcast pairs, random arrays,
and ``check_grad``, which runs ``mytorch.gradcheck`` with or without a live engine, so
it also works inside ``@given`` tests (hypothesis does not allow function-scoped fixtures).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from mytorch import Autograd, no_grad
from mytorch.gradcheck import gradcheck

# Modest sweeps: the machine is shared, and each example runs a finite-difference loop.
SWEEP = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture
def engine():
    engine = Autograd()
    yield engine
    engine.close()  # a failed test's traceback may still reference the engine: free the slot explicitly


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# ---------------------------------------------------------------- strategies

# Sizes 1..3 keep every finite-difference sweep small (at most 27 elements per input).
shapes = st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple)
nonscalar_shapes = st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple)
seeds = st.integers(0, 2**32 - 1)


@st.composite
def broadcast_pairs(draw: Any, max_rank: int = 3) -> tuple:
    """Two shapes that broadcast together: a full shape, then for each operand drop
    some leading axes (rank mismatch, down to 0-d) and set some axes to 1."""
    full = draw(st.lists(st.integers(1, 3), min_size=0, max_size=max_rank))

    def operand() -> tuple:
        rank = draw(st.integers(0, len(full)))
        kept = full[len(full) - rank:]
        return tuple(1 if draw(st.booleans()) else n for n in kept)

    return operand(), operand()


def uniform(rng: np.random.Generator, shape: tuple, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    return rng.uniform(low, high, size=shape)


def away_from_zero(rng: np.random.Generator, shape: tuple, low: float = 0.2, high: float = 1.5) -> np.ndarray:
    """|x| in [low, high] with a random sign: safe for division and kinks at 0."""
    return rng.uniform(low, high, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def check_grad(f: Callable[..., np.ndarray], *inputs: Any, **kwargs: Any) -> None:
    """Tape gradients of ``f`` against central differences; raises AssertionError with the report.

    Uses the live engine if there is one (its tape is cleared), else a temporary one.
    """
    gradcheck(f, *inputs, **kwargs)


def check_primitive(helper: Callable[..., np.ndarray], backward: Callable[..., Any], *inputs: Any,
                    reference: Optional[Callable[..., Any]] = None, seed: int = 0, **params: Any) -> np.ndarray:
    """Check one primitive three ways, and return its forward output.

    1. forward: ``helper(*inputs, **params)`` equals ``reference(*inputs)`` (plain NumPy), if given;
    2. backward through the engine: gradcheck against central differences (float64);
    3. backward called directly, not through the engine: every returned gradient already
       has exactly its input's shape (the unbroadcast is inside the backward function).
    """
    with no_grad():
        output = helper(*inputs, **params)
    if reference is not None:
        np.testing.assert_allclose(output, reference(*inputs), rtol=1e-12, atol=1e-12, equal_nan=False)
    check_grad(lambda *xs: helper(*xs, **params), *inputs, seed=seed)

    grad_output = np.random.default_rng(seed).standard_normal(np.shape(output))
    grads = backward(grad_output, *[np.asarray(x) for x in inputs], **params)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(inputs), f"{backward.__name__} returned {len(grads)} gradients for {len(inputs)} inputs"
    for i, (x, g) in enumerate(zip(inputs, grads)):
        if g is not None:
            assert np.shape(g) == np.shape(x), (
                f"{backward.__name__}: gradient {i} has shape {np.shape(g)}, input has {np.shape(x)}")
    return output
