"""Graded test cases, the grader's half: inputs drawn from a seed, and the oracle.

A ``Case`` is split across the process boundary:

* ``make_inputs(rng)`` (grader): the input arrays, drawn from a seeded generator;
* ``runner`` and ``plan`` (sent to the test process): which runner of
  ``autograder.harness.calls`` calls the submission, and how (a function name,
  a layer's constructor arguments...); plain JSON, no expected value;
* ``expected(inputs)`` (grader, after the test process has exited): the oracle,
  closed-form NumPy or central differences computed by the grader itself.

Each expected result is one *part* of the test; a test's points are shared
among its parts by ``weights`` (equal by default), so a layer whose forward is
right but one gradient wrong earns the forward's share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

Inputs = dict  # name -> ndarray


@dataclass
class Case:
    name: str
    target: str  # what the student wrote that this case grades, for messages ("add_backward", "Linear")
    make_inputs: Callable[[np.random.Generator], Inputs]
    expected: Callable[[Inputs], dict]
    runner: str  # a key of autograder.harness.calls.RUNNERS
    plan: dict = field(default_factory=dict)  # JSON the runner needs (never an answer)
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


def scenario(name: str, target: str, make_inputs: Callable, expected: Callable) -> Case:
    """A case whose test-process half is a fixed script, ``autograder.harness.calls.SCENARIOS[name]``."""
    return register(Case(name, target, make_inputs, expected, "scenario", {"name": name}))


def load_all() -> dict[str, Case]:
    """Import every case module (each registers its cases) and return the registry."""
    from autograder.grading.cases import buffer, engine, layers, primitives  # noqa: F401
    return CASES
