"""The student's test loop, run on generated kits as a student meets it.

- with tasks 1 to N solved and the later ones still stubs, ``pytest --task N`` (``make test TASK=N``)
  passes: the tests of task N need no later task (for every N; 0 is the given code, on the starter);
- with every solution restored, the kit's whole pytest passes: no kit test needs a file the kit
  does not ship, and every test copied to the kit belongs to a task;
- on the untouched starter, a test that reaches a stub is one short "not implemented yet: Task N"
  line, never a failure, an error or a traceback.

Each run is a separate ``python -m pytest`` in the kit, as ``make test`` does.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.grading.rubric import RUBRIC
from autograder.handout import MAKEFILE, generate, reference_sources
from autograder.writeup import render

KEYS = [component.key for component in RUBRIC]


def run_pytest(kit: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", "hw_tests", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=kit, capture_output=True, text=True, timeout=timeout)


def counts(output: str) -> dict:
    """{"passed": 12, "skipped": 3, ...} from pytest's last line."""
    last = output.strip().splitlines()[-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", last)}


@pytest.mark.parametrize("done", range(len(KEYS) + 1))
def test_the_tests_of_task_n_need_only_tasks_1_to_n(tmp_path, done):
    kit = tmp_path / "kit"
    generate(kit, keep=KEYS[:done])
    result = run_pytest(kit, "--task", str(done), "-q", "-x")
    output = result.stdout + result.stderr
    # A test that reached a later task's stub is skipped, not failed: here that is the error.
    assert "not implemented yet" not in output, output[-3000:]
    assert result.returncode == 0, output[-3000:]
    assert counts(output).get("passed", 0) > 0, output[-3000:]


@pytest.fixture(scope="module")
def solved_kit(tmp_path_factory) -> Path:
    kit = tmp_path_factory.mktemp("solved") / "handout"
    generate(kit, keep=KEYS)
    return kit


def test_the_kits_tests_pass_with_every_solution_restored(solved_kit):
    result = run_pytest(solved_kit, "-q", "-x")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "not implemented yet" not in output and "not part of the student kit" not in output, output[-3000:]


def test_every_kit_test_belongs_to_a_task(solved_kit):
    everything = run_pytest(solved_kit, "--collect-only", "-q")
    tasked = run_pytest(solved_kit, "--collect-only", "-q", "--task", f"0-{len(KEYS)}")
    assert everything.returncode == tasked.returncode == 0, everything.stdout[-2000:] + tasked.stdout[-2000:]
    ids = lambda out: {line for line in out.splitlines() if "::" in line}  # noqa: E731
    assert len(ids(everything.stdout)) > 500
    missing = sorted(ids(everything.stdout) - ids(tasked.stdout))
    assert not missing, f"tests without a taskN marker: {missing[:10]}"


def test_a_starter_run_is_one_not_implemented_line_per_test(tmp_path):
    kit = tmp_path / "kit"
    generate(kit)
    files = ["hw_tests/test_memory_buffer.py", "hw_tests/test_engine.py", "hw_tests/test_linear.py"]
    result = subprocess.run([sys.executable, "-m", "pytest", *files, "-p", "no:cacheprovider"],
                            cwd=kit, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    tally = counts(output)
    assert not {"failed", "error", "errors"} & set(tally) and tally.get("skipped", 0) > 30, tally
    assert "Traceback" not in output and "NotImplementedError" not in output, output[-3000:]
    lines = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    tests = {line.split()[2].rstrip(":") for line in lines}
    assert len(lines) == len(tests), "one line per test, its cases folded into it"
    stubbed = [line for line in lines if "not implemented yet: Task" in line]
    assert {re.search(r"Task (\d+)", line)[1] for line in stubbed} == {"1", "2", "9"}
    assert re.search(r"tests waiting for a stub you have not written yet: Task 1: \d+, Task 2: \d+", output)
    assert len(output.splitlines()) < 120


def test_task_option_rejects_what_is_not_a_task(tmp_path):
    kit = tmp_path / "kit"
    generate(kit)
    for bad in ("13", "three"):
        result = run_pytest(kit, "--collect-only", "-q", "--task", bad)
        assert result.returncode != 0 and f"--task {bad}" in result.stdout + result.stderr


def test_make_test_passes_the_task_to_pytest(tmp_path):
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    (tmp_path / "Makefile").write_text(MAKEFILE)
    dry = lambda *args: subprocess.run([make, "-n", "test", *args], cwd=tmp_path, capture_output=True,  # noqa: E731
                                       text=True, check=True).stdout.split()
    assert dry("TASK=3")[-4:] == ["pytest", "hw_tests", "--task", "3"]
    assert dry()[-2:] == ["pytest", "hw_tests"]


def test_the_writeup_shows_make_test_task_n_for_every_task():
    text = render(reference_sources(), Path(__file__).resolve().parent.parent)
    for number in range(1, len(KEYS) + 1):
        assert f"Check this task alone: `make test TASK={number}`" in text, number
    running = text[text.index("## Running the tests"):]
    assert "make test TASK=3" in running and "not implemented yet" in running


def test_the_kits_graded_case_test_is_named_for_the_code_it_runs(tmp_path):
    """In the kit it runs the student's code, so neither its name nor its docstring may say "reference"
    alone: it runs "the mytorch in this folder"."""
    kit = tmp_path / "kit"
    generate(kit)
    text = (kit / "hw_tests" / "test_graded_cases.py").read_text()
    assert "def test_graded_case_passes_on_this_mytorch(" in text and "the mytorch in this folder" in text
    assert "test_reference_passes" not in text and "against the reference" not in text


def test_only_a_stubs_error_becomes_a_skip(tmp_path):
    """A stub's NotImplementedError("Task N: ...") skips its test, in the call or in a fixture; any other
    NotImplementedError, and any other error, stays a failure."""
    kit = tmp_path / "kit"
    generate(kit)
    (kit / "hw_tests" / "test_probe.py").write_text(
        "import pytest\n\n"
        "@pytest.fixture\ndef stubbed():\n    raise NotImplementedError('Task 9: Linear layer — see writeup section 9')\n\n"
        "def test_stub():\n    raise NotImplementedError('Task 3: Elementwise backward functions — see writeup section 3')\n\n"
        "def test_stub_in_a_fixture(stubbed):\n    pass\n\n"
        "def test_other_not_implemented():\n    raise NotImplementedError('an abstract method')\n\n"
        "def test_wrong():\n    assert 1 == 2\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "hw_tests/test_probe.py", "-p", "no:cacheprovider"],
                            cwd=kit, capture_output=True, text=True, timeout=300)
    output = result.stdout
    assert counts(output) == {"failed": 2, "skipped": 2}, output[-3000:]
    assert "test_probe.py:7: not implemented yet: Task 3 (Elementwise backward functions)" in output
    assert "test_probe.py:10: not implemented yet: Task 9 (Linear layer)" in output
    assert "FAILED hw_tests/test_probe.py::test_other_not_implemented" in output
    assert "tests waiting for a stub you have not written yet: Task 3: 1, Task 9: 1" in output
