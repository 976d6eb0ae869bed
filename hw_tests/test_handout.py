"""The student kit (handout/) is generated from the reference and must stay in sync with it.

- regenerating it gives exactly what is committed;
- the starter imports cleanly, and the grader gives it 0 with "not implemented yet" everywhere;
- no line of a solution body reaches the kit;
- restoring the solution task by task raises the score at every step, to full marks, and each
  task's tests pass as soon as that task and the ones before it are done.
"""

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from autograder.grading.grade import grade, grade_trusted
from autograder.handout import build_handin, generate, reference_sources
from autograder.markers import TASKS, MarkerError, marked_functions, solution_lines, strip_solutions
from autograder.grading.rubric import RUBRIC

REPO = Path(__file__).resolve().parent.parent
COMMITTED = REPO / "handout"


def tree(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kit") / "handout"
    generate(out)
    return out


def test_regenerating_the_kit_changes_nothing(kit):
    committed, fresh = tree(COMMITTED), tree(kit)
    assert sorted(committed) == sorted(fresh), "file lists differ: run `python -m autograder handout`"
    stale = [name for name in fresh if committed[name] != fresh[name]]
    assert not stale, f"out of date: {stale}; run `python -m autograder handout`"


def test_every_task_has_solution_markers():
    marked = set()
    for text in reference_sources().values():
        marked |= {line.split()[3] for line in text.splitlines() if line.strip().startswith("# BEGIN SOLUTION")}
    assert marked == set(TASKS), f"tasks without a solution block: {set(TASKS) - marked}"


def test_starter_imports_cleanly(kit):
    modules = sorted(".".join(Path(p).with_suffix("").parts) for p in reference_sources())
    modules = [m.removesuffix(".__init__") for m in modules]
    code = "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]"
    done = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, '.'); {code}", *modules],
                          cwd=kit, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_starter_scores_zero_with_not_implemented_everywhere(kit):
    report = grade(kit, timeout=60)
    assert report.score == 0 and report.max_score == 100
    wrong = [(t.name, t.reason) for t in report.tests if not t.reason.startswith("not implemented yet")]
    assert not wrong, wrong


def test_trusted_grading_of_the_starter_runs_every_case(kit):
    """Staged kits are graded in one process: a stub raising while a case's engine is closed
    (zero_grad, MemoryBuffer.clear) must cost only that case, not end the whole run."""
    results = grade_trusted(kit)
    other = [(name, r.reason) for name, r in results.items()
             if r.status != "passed" and not r.reason.startswith("not implemented yet")]
    assert not other, other[:3]


# Solution lines that given code ships on purpose, with the kit files allowed to hold them (anywhere
# else they are leaks). None gives away more than its backward's docstring already states.
SHIPPED_ON_PURPOSE = {
    # The engine task's graded cases record backward functions of their own, so it does not depend on task 3.
    "return grad_output * np.exp(a)": {"autograder/harness/calls.py"},
    # ... among them the 2-D matmul rule, which matmul_backward's docstring states anyway.
    "return grad_output @ b.T, a.T @ grad_output": {"autograder/harness/calls.py"},
    # A counting identity backward in a local test of the engine.
    "return grad_output": {"hw_tests/test_engine.py"},
    # Forward mode (a given tool) guards a**b ln(a) at a = 0 as pow_backward does.
    'with np.errstate(divide="ignore", invalid="ignore"):': {"mytorch/forward_mode.py"},
    "log_a = np.log(np.where(a == 0, 1.0, a))": {"mytorch/forward_mode.py"},
}


def test_no_solution_line_reaches_the_kit(kit):
    where: dict = {}  # stripped line -> kit files holding it
    for p in kit.rglob("*"):
        if p.is_file() and p.suffix in {".py", ".md", ".txt", ""} and "__pycache__" not in p.parts:
            for line in p.read_text(errors="replace").splitlines():
                where.setdefault(line.strip(), set()).add(str(p.relative_to(kit)))
    for relative, text in reference_sources().items():
        outside = {line.strip() for line in strip_solutions(text, relative).splitlines()}
        secret = [line for line in solution_lines(text) if line not in outside and len(line) > 12]
        leaked = [(line, sorted(where[line] - SHIPPED_ON_PURPOSE.get(line, set()))) for line in secret if line in where]
        leaked = [(line, files) for line, files in leaked if files]
        assert not leaked, f"{relative}: solution lines in the kit: {leaked[:5]}"


def test_score_rises_task_by_task(tmp_path):
    keys = [component.key for component in RUBRIC]
    previous = -1.0
    for done in range(len(keys) + 1):
        root = tmp_path / f"stage{done}"
        for relative, text in reference_sources().items():
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(strip_solutions(text, relative, keep=keys[:done]))
        results = grade_trusted(root)
        score = sum(r.score for r in results.values())
        assert score > previous, f"restoring task {done} ({keys[done - 1]}) did not raise the score"
        previous = score
        for component in RUBRIC[:done]:
            for test in component.tests:
                assert results[test.name].status == "passed", (done, test.name, results[test.name].reason)
    assert previous == 100


def test_unbalanced_or_unknown_markers_are_errors():
    with pytest.raises(MarkerError, match="x.py:2: BEGIN SOLUTION linear has no matching END"):
        strip_solutions("def f():\n    # BEGIN SOLUTION linear\n    return 1\n", "x.py")
    with pytest.raises(MarkerError, match="x.py:3: END SOLUTION without BEGIN"):
        strip_solutions("def f():\n    return 1\n    # END SOLUTION\n", "x.py")
    with pytest.raises(MarkerError, match="must name a rubric component"):
        strip_solutions("def f():\n    # BEGIN SOLUTION nonsense\n    return 1\n    # END SOLUTION\n", "x.py")


def test_stub_keeps_prompt_and_names_the_task():
    source = ('def f(x):\n    """Doc."""\n    # BEGIN SOLUTION linear\n    # PROMPT: use F.matmul\n'
              '    return x @ x\n    # END SOLUTION\n')
    stub = strip_solutions(source, "x.py")
    number = TASKS["linear"].number
    assert stub == ('def f(x):\n    """Doc."""\n    # use F.matmul\n'
                    f'    raise NotImplementedError("Task {number}: Linear layer — see Task {number} in README.md")\n')


def test_writeup_names_methods_with_their_class():
    source = ("class Linear:\n    def forward(self, x):\n        # BEGIN SOLUTION linear\n        return x\n"
              "        # END SOLUTION\n\n\nclass MSELoss:\n    def forward(self, y, t):\n"
              "        # BEGIN SOLUTION losses\n        return y\n        # END SOLUTION\n\n\n"
              "def neg_backward(g, a):\n    # BEGIN SOLUTION elementwise_backward\n    return -g\n    # END SOLUTION\n")
    assert marked_functions(source) == {"linear": ["Linear.forward"], "losses": ["MSELoss.forward"],
                                        "elementwise_backward": ["neg_backward"]}


def test_handin_holds_exactly_the_graded_files(kit, tmp_path):
    out = build_handin(kit, tmp_path / "handin.tar")
    with tarfile.open(out) as tar:
        names = sorted(tar.getnames())
    expected = sorted(str(p.relative_to(kit)) for p in (kit / "mytorch").rglob("*.py") if "__pycache__" not in p.parts)
    assert names == expected and all(n.startswith("mytorch/") and n.endswith(".py") for n in names)
