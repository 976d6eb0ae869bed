"""Grading: every rubric test run in its own child process, scored here against the oracle."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

from autograder.grading import diagnose, oracle
from autograder.grading.cases import Case, load_all
from autograder.grading.rubric import Component, Test, all_tests, select_tests, total_points
from autograder.grading.sandbox import (ChildResult, Isolation, IsolationUnavailable, case_rng, isolation,
                                        run_in_child)

DEFAULT_SEED = 11785
DEFAULT_TIMEOUT = 20.0
DEFAULT_HANDIN_TIMEOUT = 600.0
DEFAULT_MEMORY_MB = 2048


@dataclass
class TestResult:
    component: str
    name: str
    target: str
    score: float
    max_score: float
    status: str  # passed | partial | failed
    reason: str
    visibility: str
    seconds: float
    parts: list = field(default_factory=list)  # [{"part", "passed", "reason"}]


@dataclass
class Report:
    submission: str
    seed: int
    score: float
    max_score: float
    tests: list
    seconds: float
    warnings: list = field(default_factory=list)  # notes on the handin itself (refused archive members, ...)
    isolation: str = ""  # what confined the test processes (``sandbox.Isolation.describe``)
    flags: list = field(default_factory=list)  # for a TA to look at: {"file", "line", "what"}; never change a score

    def as_dict(self) -> dict:
        return asdict(self)

    def component_scores(self) -> dict:
        scores: dict = {}
        for test in self.tests:
            scores[test.component] = round(scores.get(test.component, 0.0) + test.score, 2)
        return scores


def grade(submission: Path, seed: int = DEFAULT_SEED, timeout: float = DEFAULT_TIMEOUT,
          memory_mb: int = DEFAULT_MEMORY_MB, jobs: int = 2, only: Optional[list] = None,
          progress: Optional[Callable[[TestResult], None]] = None, iso: Optional[Isolation] = None,
          require_isolation: bool = False, handin_timeout: float = DEFAULT_HANDIN_TIMEOUT) -> Report:
    """Grade the staged ``mytorch/`` inside the folder ``submission``, each test in its own confined process.

    ``iso``: the isolation of this handin (``sandbox.isolation()``); a fresh one when None.
    ``require_isolation``: raise ``IsolationUnavailable`` rather than grade with none.
    ``handin_timeout``: wall-clock seconds for the whole handin (0: none); tests that would start
    after it fail unrun, so a handin whose every test hangs holds a batch's slot no longer than that.
    """
    if iso is None:
        with isolation() as fresh:
            return grade(submission, seed, timeout, memory_mb, jobs, only, progress, fresh, require_isolation,
                         handin_timeout)
    if require_isolation and not iso.isolated:
        raise IsolationUnavailable(UNISOLATED_HELP)
    cases = load_all()
    check_rubric(cases)
    selected = select_tests(only)
    started = time.monotonic()

    deadline = started + handin_timeout if handin_timeout > 0 else float("inf")

    def one(item: tuple) -> TestResult:
        component, test = item
        left = deadline - time.monotonic()
        if left < 1.0:
            result = TestResult(component.key, test.name, cases[test.name].target, 0.0, test.points, "failed",
                                f"not run: the handin's time budget of {handin_timeout:g} s was used up",
                                test.visibility, 0.0)
        else:
            result = grade_case(cases[test.name], component, test, submission, seed, min(timeout, left),
                                memory_mb, iso)
        if progress:
            progress(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, selected))
    max_score = total_points() if not only else sum(t.points for _, t in selected)
    return Report(str(submission), seed, round(sum(r.score for r in results), 2), max_score, results,
                  round(time.monotonic() - started, 2), isolation=iso.describe())


UNISOLATED_HELP = ("no isolation mechanism is available here: the grader does not run as root (so it cannot "
                   "give the handin an unprivileged uid) and the kernel has no Landlock (Linux 5.13 or later, "
                   "with landlock in the lsm= boot list). Grade as root in a container, or on a kernel with "
                   "Landlock; --allow-unisolated grades anyway, with the handin holding the grader's own rights")


def child_case(case: Case) -> dict:
    """What the test process is told about a case: how to call the handin, never what to expect."""
    told = {"name": case.name, "target": case.target, "runner": case.runner, "plan": case.plan,
            "probe_tape": case.probe_tape}
    if case.probe_tape:  # the names of the backward functions the handout asks for, to recognise them by
        told["primitives"] = sorted(oracle.PRIMITIVES)
    return told


def prefixed(name: str, inputs: dict) -> dict:
    return {f"{name}::{key}": value for key, value in inputs.items()}


def grade_case(case: Case, component: Component, test: Test, submission: Path, seed: int,
               timeout: float, memory_mb: int, iso: Isolation) -> TestResult:
    inputs = case.make_inputs(case_rng(seed, case.name))
    child = run_in_child([child_case(case)], prefixed(case.name, inputs), submission, iso, timeout,
                         memory_mb)[case.name]
    # The oracle runs only now, after the test process has exited.
    return _score(case, component, test, case.expected(inputs), child)


def _score(case: Case, component: Component, test: Test, expected: dict, child: ChildResult) -> TestResult:
    parts = score_parts(case, expected, child)
    total_weight = sum(case.weights.get(p["part"], 1.0) for p in parts)
    earned = sum(case.weights.get(p["part"], 1.0) for p in parts if p["passed"])
    score = round(test.points * earned / total_weight, 2) if total_weight else 0.0
    failures = [p["reason"] for p in parts if not p["passed"]]
    if child.status != "ok":
        reason = child.message
    elif failures:
        reason = failures[0] + (f" (and {len(failures) - 1} more)" if len(failures) > 1 else "")
    else:
        reason = ""
    if reason and case.probe_tape and child.probe:
        finding = diagnose.first_wrong_primitive(child.probe, child.outputs, case.rtol, case.atol)
        reason += (f"; {finding}" if finding else
                   "; every primitive on the tape agrees with the oracle, so look at how the layer "
                   "composes them in its forward" if child.status == "ok" else "")
    status = "passed" if not failures and child.status == "ok" else ("partial" if score > 0 else "failed")
    return TestResult(component.key, test.name, case.target, score, test.points, status, reason,
                      test.visibility, round(child.seconds, 3), parts)


def score_parts(case: Case, expected: dict, child: ChildResult) -> list:
    parts = []
    for part, value in expected.items():
        if child.status != "ok":
            reason = child.message
        elif part in child.bad_outputs:
            reason = f"{case.target}: {part} {child.bad_outputs[part]}"
        elif part not in child.outputs:
            reason = f"{case.target}: {part} was not returned"
        else:
            reason = oracle.compare(case.target, part, child.outputs[part], value, case.rtol, case.atol)
        parts.append({"part": part, "passed": reason is None, "reason": reason or ""})
    return parts


def grade_trusted(submission: Path, seed: int = DEFAULT_SEED, names: Optional[list] = None,
                  timeout: float = 120.0) -> dict:
    """Score every case in ONE unconfined process: fast, but no isolation at all.

    Only for code the staff trust (the reference, its seeded-bug mutants, the
    handout's staged solutions); students are graded with ``grade``.
    Returns {test name: TestResult}.
    """
    cases = load_all()
    chosen = [(c, t) for c, t in all_tests() if not names or t.name in names]
    inputs = {t.name: cases[t.name].make_inputs(case_rng(seed, t.name)) for _, t in chosen}
    message = {key: value for name, arrays in inputs.items() for key, value in prefixed(name, arrays).items()}
    children = run_in_child([child_case(cases[t.name]) for _, t in chosen], message, submission, None, timeout, 0)
    return {t.name: _score(cases[t.name], c, t, cases[t.name].expected(inputs[t.name]), children[t.name])
            for c, t in chosen}


def check_rubric(cases: dict) -> None:
    """The rubric and the cases must name the same tests, once each."""
    names = [t.name for _, t in all_tests()]
    missing = [n for n in names if n not in cases]
    unlisted = sorted(set(cases) - set(names))
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if missing or unlisted or duplicated:
        raise RuntimeError(f"rubric and cases disagree: no case for {missing}, not in the rubric: {unlisted}, "
                           f"listed twice: {duplicated}")


def failed_report(submission: str, seed: int, reason: str, only: Optional[list] = None) -> Report:
    tests = [TestResult(c.key, t.name, t.name, 0.0, t.points, "failed", reason, t.visibility, 0.0)
             for c, t in select_tests(only)]
    return Report(submission, seed, 0.0, sum(t.max_score for t in tests), tests, 0.0)
