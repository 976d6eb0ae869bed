"""Every graded case, run in this process on the mytorch in this folder (the reference in the
staff repository, your code in the student kit), judged by the grader's own oracle.

The autograder and this file share one definition per case (``autograder/grading/cases``),
so what pytest checks here is exactly what the grader awards points for. Each case is a test
of its task (its rubric component); ``--task N`` runs task N's cases alone.
"""

import pytest

from autograder.grading.cases import load_all
from autograder.grading.grade import DEFAULT_SEED, check_rubric, score_parts
from autograder.grading.rubric import RUBRIC, all_tests, total_points
from autograder.grading.sandbox import ChildResult, case_rng
from autograder.harness.calls import RUNNERS, Submission
from autograder.harness.child import _plain_arrays

CASES = load_all()
TASK = {component.key: number for number, component in enumerate(RUBRIC, start=1)}
GRADED = [pytest.param(test.name, id=test.name, marks=getattr(pytest.mark, f"task{TASK[component.key]}"))
          for component, test in all_tests()]


@pytest.mark.parametrize("name", GRADED)
@pytest.mark.parametrize("seed", [DEFAULT_SEED, 7])
def test_graded_case_passes_on_this_mytorch(name, seed):
    """The case ``name`` run on the mytorch in this folder (the reference in the staff repository,
    your code in the kit) passes every part the grader checks."""
    case = CASES[name]
    inputs = case.make_inputs(case_rng(seed, name))
    sub = Submission()
    try:
        outputs = RUNNERS[case.runner](sub, inputs, case.plan)
    finally:
        if sub.last_engine is not None:
            sub.last_engine.close()
    arrays, bad = _plain_arrays(outputs)
    parts = score_parts(case, case.expected(inputs), ChildResult("ok", outputs=arrays, bad_outputs=bad))
    failures = [p["reason"] for p in parts if not p["passed"]]
    assert parts and not failures, failures


@pytest.mark.task0
def test_rubric_and_cases_name_the_same_tests():
    check_rubric(CASES)


@pytest.mark.task0
def test_every_component_has_points_and_tests():
    for component in RUBRIC:
        assert component.tests and component.points > 0, component.key
        assert all(t.visibility in {"visible", "hidden", "after_due_date", "after_published"} for t in component.tests)
    assert total_points() == sum(t.points for _, t in all_tests()) == 100
