"""Graded test cases: one definition each, shared by the autograder and by ``hw_tests``.

A ``Case`` has three halves that run in different places:

* ``make_inputs(rng)`` (grader): the input arrays, drawn from a seeded generator;
* ``run(sub, inputs)`` (child process, next to the student's code): calls the
  submission and returns named results (arrays, numbers, booleans);
* ``expected(inputs)`` (grader): the oracle, closed-form NumPy or central
  differences computed by the grader itself, never by the submission.

Each expected result is one *part* of the test; a test's points are shared
among its parts by ``weights`` (equal by default), so a layer whose forward is
right but one gradient wrong earns the forward's share.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable

import numpy as np

Inputs = dict  # name -> ndarray


@dataclass
class Case:
    name: str
    target: str  # what the student wrote that this case grades, for messages ("add_backward", "Linear")
    make_inputs: Callable[[np.random.Generator], Inputs]
    run: Callable[["Submission", Inputs], dict]
    expected: Callable[[Inputs], dict]
    weights: dict = field(default_factory=dict)  # part name -> weight; missing parts weigh 1
    rtol: float = 1e-5
    atol: float = 1e-6
    probe_tape: bool = False  # composite case: on failure, check each primitive on the recorded tape


CASES: dict[str, Case] = {}


def register(case: Case) -> Case:
    if case.name in CASES:
        raise ValueError(f"two cases are named {case.name!r}")
    CASES[case.name] = case
    return case


class Submission:
    """The student's ``mytorch`` as the cases see it (inside the child process)."""

    def __init__(self) -> None:
        self.last_engine: Any = None  # set by composite cases, for the tape probe

    @staticmethod
    def module(name: str) -> ModuleType:
        return importlib.import_module(f"mytorch.{name}")

    @property
    def engine_module(self) -> ModuleType:
        return self.module("autograd_engine")

    @property
    def functional(self) -> ModuleType:
        return self.module("nn.functional")

    @property
    def utils(self) -> ModuleType:
        return self.module("utils")

    def new_engine(self) -> Any:
        """A fresh engine, releasing any earlier one (the singleton allows one at a time)."""
        if self.last_engine is not None:
            close = getattr(self.last_engine, "close", None)
            if callable(close):
                close()
            self.last_engine = None
        self.last_engine = self.engine_module.Autograd()
        return self.last_engine


def load_all() -> dict[str, Case]:
    """Import every case module (each registers its cases) and return the registry."""
    from autograder.grading.cases import buffer, engine, layers, primitives  # noqa: F401
    return CASES


def grads_by_name(names: list, result: Any, prefix: str = "") -> dict:
    """Name the gradients a backward function returned: {'dL/da': ..., 'dL/db': ...}.

    A lone array is accepted for a one-input function, as the engine accepts it.
    """
    grads = tuple(result) if isinstance(result, (tuple, list)) else (result,)
    if len(grads) != len(names):
        raise WrongArity(len(grads), len(names))
    return {f"{prefix}dL/d{n}": g for n, g in zip(names, grads)}


class WrongArity(Exception):
    """A backward function returned a different number of gradients than it has inputs."""

    def __init__(self, got: int, expected: int) -> None:
        super().__init__(f"returned {got} gradient(s) for {expected} input(s)")

