"""Grading: every rubric test run in its own child process, scored here against the oracle."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

from autograder.grading import oracle
from autograder.grading.cases import Case, load_all
from autograder.grading.rubric import Component, Test, all_tests, select_tests, total_points
from autograder.grading.sandbox import ChildResult, case_rng, run_in_child, run_trusted, sandbox_user

DEFAULT_SEED = 11785
DEFAULT_TIMEOUT = 20.0
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
    isolation: str = ""  # what confined the test processes, e.g. "uid 990 + landlock abi 7 (fs, signals, net) + rlimits"
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
          progress: Optional[Callable[[TestResult], None]] = None) -> Report:
    """Grade the ``mytorch/`` inside the folder ``submission``."""
    cases = load_all()
    check_rubric(cases)
    selected = select_tests(only)
    started = time.monotonic()
    run_as = sandbox_user(submission)

    def one(item: tuple) -> TestResult:
        component, test = item
        result = grade_case(cases[test.name], component, test, submission, seed, timeout, memory_mb, run_as)
        if progress:
            progress(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, selected))
    max_score = total_points() if not only else sum(t.points for _, t in selected)
    return Report(str(submission), seed, round(sum(r.score for r in results), 2), max_score, results,
                  round(time.monotonic() - started, 2))


def grade_case(case: Case, component: Component, test: Test, submission: Path, seed: int,
               timeout: float, memory_mb: int, run_as: Optional[tuple] = None) -> TestResult:
    inputs = case.make_inputs(case_rng(seed, case.name))
    expected = case.expected(inputs)
    child = run_in_child(case.name, submission, inputs, timeout, memory_mb, run_as)
    return _score(case, component, test, expected, child)


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
    if reason and case.probe_tape and child.header.get("probe"):
        culprit = oracle.diagnose_tape(child.header["probe"], child.outputs, case.rtol, case.atol)
        reason += (f"; first primitive on the tape whose backward disagrees: {culprit}" if culprit else
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
    """Score every case in ONE child process: fast, but no isolation between tests.

    Only for code the staff trust (the reference, its seeded-bug mutants, the
    handout's staged solutions); students are graded with ``grade``.
    Returns {test name: TestResult}.
    """
    cases = load_all()
    chosen = {t.name: (c, t) for c, t in all_tests() if not names or t.name in names}
    child = run_trusted(submission, seed, list(chosen), timeout)
    results = {}
    for name, (component, test) in chosen.items():
        case = cases[name]
        header = child.header.get("cases", {}).get(name, {}) if child.status == "ok" else {}
        status = header.get("status", child.status)
        message = header.get("message", child.message)
        prefix = f"{name}::"
        outputs = {k[len(prefix):]: v for k, v in child.outputs.items() if k.startswith(prefix)}
        bad = {k[len(prefix):]: v for k, v in child.bad_outputs.items() if k.startswith(prefix)}
        case_result = ChildResult(status if status != "ok" else "ok", message, outputs, bad)
        results[name] = _score(case, component, test, case.expected(case.make_inputs(case_rng(seed, name))),
                               case_result)
    return results


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
