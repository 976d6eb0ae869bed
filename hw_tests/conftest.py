"""Shared fixtures, helpers, and the task-by-task test loop.

Tasks: every test carries one marker ``task0`` .. ``task12``: the task it tests (the tasks of
the writeup, in order; ``task0`` is the given code, such as forward mode and the optimizers,
which needs no task). A test of task N uses only what tasks 1 to N build, so
``pytest hw_tests --task N`` (``make test TASK=N``) can pass as soon as task N is done.
``--task`` also takes several tasks: ``--task 1,2`` or ``--task 1-4``.

Stubs: a stub you have not written yet raises ``NotImplementedError("Task N: ...")``. A test
that reaches one is reported as skipped, with the reason "not implemented yet: Task N ..."
(one line per test in the summary), not as a failure with a traceback: it did not test
anything yet. Any other exception is a real failure.

Fixtures: every test gets a fresh engine, released afterwards even if the test fails (or
``zero_grad`` is still a stub).

Helpers (import them with ``from conftest import ...``; pytest puts this folder on
``sys.path``): hypothesis strategies for shapes and broadcast pairs, random arrays,
and ``check_grad``, which runs ``mytorch.gradcheck`` with or without a live engine, so
it also works inside ``@given`` tests (hypothesis does not allow function-scoped fixtures).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Callable, Optional

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from autograder.grading.rubric import RUBRIC
from mytorch import Autograd, no_grad
from mytorch.gradcheck import gradcheck

# Modest sweeps: the machine is shared, and each example runs a finite-difference loop.
SWEEP = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


TASKS = range(0, len(RUBRIC) + 1)  # task0 (the given code) and the writeup's tasks, in rubric order
STUB = re.compile(r"^Task (\d+): (.*?)(?: — see .*)?$")


def pytest_addoption(parser: Any) -> None:
    parser.addoption("--task", default=None, metavar="N",
                     help="run only the tests of task N (also 1,2 or 1-4: several tasks); "
                          "0 is the given code, which needs no task")


def pytest_configure(config: Any) -> None:
    for n in TASKS:
        config.addinivalue_line("markers", f"task{n}: a test of task {n}; it uses only tasks 1 to {n}")
    # The skip reasons are the to-do list: show them in the short summary.
    chars = getattr(config.option, "reportchars", "") or ""
    if "s" not in chars and "a" not in chars and "A" not in chars and "N" not in chars:
        config.option.reportchars = chars + "s"


def task_of(item: Any) -> Optional[int]:
    """The task a collected test belongs to (its taskN marker), or None if it has none."""
    found = [int(m.name[4:]) for m in item.iter_markers() if re.fullmatch(r"task\d+", m.name)]
    return found[0] if found else None


def _parse_tasks(text: str) -> set:
    chosen: set = set()
    for part in text.replace(" ", "").split(","):
        try:
            low, _, high = part.partition("-")
            chosen.update(range(int(low), int(high or low) + 1))
        except ValueError:
            raise pytest.UsageError(f"--task {text}: give task numbers, such as 3, 1,2 or 1-4") from None
    unknown = sorted(chosen - set(TASKS))
    if unknown:
        raise pytest.UsageError(f"--task {text}: no task {unknown[0]}; tasks are 1 to {max(TASKS)} (0: the given code)")
    return chosen


def pytest_collection_modifyitems(config: Any, items: list) -> None:
    # One task per test, or `-m task3` and `--task 3` would disagree (a module's pytestmark and a
    # test's own marker add up rather than override each other).
    doubled = [item.nodeid for item in items
               if sum(1 for m in item.iter_markers() if re.fullmatch(r"task\d+", m.name)) > 1]
    if doubled:
        raise pytest.UsageError(f"tests with more than one task marker: {doubled[:3]}")
    option = config.getoption("--task")
    if option is None:
        return
    chosen = _parse_tasks(option)
    selected = [item for item in items if task_of(item) in chosen]
    deselected = [item for item in items if task_of(item) not in chosen]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def _stub_error(excinfo: Any) -> Optional[BaseException]:
    """The stub's NotImplementedError("Task N: ...") that ended the test, if that is what did."""
    error = excinfo.value
    while isinstance(getattr(error, "exceptions", None), tuple) and error.exceptions:
        error = error.exceptions[0]  # an exception group: hypothesis reports distinct failures together
    if isinstance(error, NotImplementedError) and STUB.match(str(error)):
        return error
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    """A test that reached a stub is skipped with one line, "not implemented yet: Task N ..."."""
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is None or call.when == "teardown" or report.outcome != "failed":
        return
    error = _stub_error(call.excinfo)
    if error is None:
        return
    number, title = STUB.match(str(error)).groups()
    path, line = item.reportinfo()[:2]
    report.outcome = "skipped"
    # The test's own location and the task, nothing more, so that the summary folds the cases of
    # one test into one line; the traceback would only point at the stub.
    report.longrepr = (str(path), (line or 0) + 1, f"not implemented yet: Task {number} ({title})")
    _WAITING[item.nodeid] = int(number)


_WAITING: dict = {}  # test id -> the task whose stub stopped it


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line: how many tests wait for each task's stubs."""
    if _WAITING:
        counts = Counter(_WAITING.values())
        listed = ", ".join(f"Task {n}: {k}" for n, k in sorted(counts.items()))
        terminalreporter.write_line(f"tests waiting for a stub you have not written yet: {listed}")


@pytest.fixture(autouse=True)
def no_engine_outlives_its_test():
    """Close any engine a test left alive: one that stopped at a stub (or failed) keeps its engine
    referenced from the traceback, and the singleton would then fail every later test's setup."""
    yield
    live = Autograd._live() if Autograd._live is not None else None
    if live is not None:
        try:
            live.close()
        except Exception:  # an unfinished zero_grad: close() has freed the slot all the same
            pass


@pytest.fixture
def engine():
    engine = Autograd()
    yield engine
    # A failed test's traceback may still reference the engine: free the slot explicitly. An
    # unwritten zero_grad must not turn every test's teardown into an error (close frees the slot anyway).
    try:
        engine.close()
    except NotImplementedError:
        pass


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
