"""Attacks on the grader, each by a handin that wants points it did not earn or to harm others.

Each test builds one hostile handin (the untouched starter, or the reference
with a few lines appended), grades a handful of tests with the real grader,
and checks that the attacker earns no more than the same code earns honestly,
that honest handins keep their marks and their files, and that grading ends
with a valid report. Attacks whose defence is the kernel's (Landlock, an
unprivileged uid) skip, saying why, where that mechanism is missing.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import textwrap
from pathlib import Path

import pytest

from autograder.batch import run_batch
from autograder.grading.grade import grade
from autograder.grading.rubric import all_tests
from autograder.grading.sandbox import isolation
from autograder.harness.confine import landlock_abi

REPO = Path(__file__).resolve().parent.parent
STARTER = REPO / "handout" / "mytorch"
REFERENCE = REPO / "mytorch"
POINTS = {test.name: test.points for _, test in all_tests()}
FEW = ["backward.add", "engine.chain", "linear.batch"]

needs_landlock = pytest.mark.skipif(landlock_abi() < 6, reason="needs Landlock ABI 6 (Linux 6.12+): the kernel "
                                                               "here cannot confine files, network and signals")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs the grader to run as root (an unprivileged "
                                                          "uid per handin)")


def handin(tmp_path: Path, code: str = "", source: Path = REFERENCE, name: str = "handin",
           module: str = "__init__.py") -> Path:
    """A handin folder: a copy of ``source`` with ``code`` appended to one of its modules."""
    root = tmp_path / name
    shutil.copytree(source, root / "mytorch", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    path = root / "mytorch" / module
    path.write_text(path.read_text() + "\n\n" + textwrap.dedent(code))
    return root


def scores(root: Path, only: list = FEW, **options) -> dict:
    options.setdefault("timeout", 30)
    report = grade(root, only=only, jobs=2, **options)
    return {t.name: t for t in report.tests}


def digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


# ---------------------------------------------------------------- the answer key

HUNT = """
import gc, sys

def _answer_like(o):
    try:
        return callable(getattr(o, "expected", None)) or hasattr(o, "make_inputs")
    except BaseException:  # objects whose attribute lookup does something else (a ctypes library loader)
        return False

def _hunt():
    found = [name for name in sys.modules if "grading" in name or "oracle" in name]
    found += [type(o).__name__ for o in gc.get_objects() if _answer_like(o)]
    try:
        import autograder.grading.cases as cases
        found.append("imported the cases: " + str(len(cases.load_all())))
    except BaseException as error:
        found.append("no cases: " + type(error).__name__)
    return found
"""


def test_the_test_process_holds_no_answer_key_and_cannot_import_one(tmp_path):
    root = handin(tmp_path, HUNT + textwrap.dedent("""
        def add_backward(grad_output, a, b):
            raise RuntimeError(f"found {_hunt()}")
        """), module="nn/functional.py")
    add = scores(root, ["backward.add"])["backward.add"]
    assert add.score == 0 and "found [" in add.reason
    found = add.reason.split("found ", 1)[1]
    assert "grading" not in found.replace("no cases", "") and "Case" not in found and "imported the cases" not in found


def test_the_starter_cannot_take_the_oracle_s_answers(tmp_path):
    """The old attack: replace what the test process runs by the oracle's expected values."""
    root = handin(tmp_path, HUNT + textwrap.dedent("""
        try:
            import autograder.grading.cases as _cases
            for _case in _cases.load_all().values():
                _case.run = lambda sub, inputs, _c=_case: _c.expected(inputs)
        except BaseException:
            pass
        try:
            import autograder.harness.calls as _calls
            for _key in list(_calls.RUNNERS):
                _calls.RUNNERS[_key] = lambda sub, inputs, plan: {}
        except BaseException:
            pass
        """), source=STARTER)
    assert sum(t.score for t in scores(root).values()) == 0


# ---------------------------------------------------------------- the result channel

def test_a_forged_result_earns_nothing_and_a_malformed_one_fails_that_test_alone(tmp_path):
    """The test process writes its own result; what it forges is judged like any answer."""
    root = handin(tmp_path, """
        import os
        import numpy as np
        from autograder.harness import protocol

        def add_backward(grad_output, a, b):
            zeros = {f"backward.add::{label}: dL/d{n}": np.zeros(1) for label in ("same shape",) for n in "ab"}
            with open("result.bin", "wb") as stream:
                stream.write(protocol.encode({"status": "ok", "cases": {"backward.add": {"status": "ok"}}}, zeros))
            os._exit(0)

        def sub_backward(grad_output, a, b):
            with open("result.bin", "wb") as stream:
                stream.write(protocol.encode({"status": "ok", "probe": [1], "cases": {}}, {}))
            os._exit(0)
        """, module="nn/functional.py")
    results = scores(root, ["backward.add", "backward.sub", "backward.mul"])
    assert results["backward.add"].score == 0
    assert results["backward.sub"].score == 0 and "unreadable result" in results["backward.sub"].reason
    assert results["backward.mul"].score == POINTS["backward.mul"]


def test_a_fifo_or_a_link_in_place_of_the_result_neither_hangs_nor_reads_elsewhere(tmp_path):
    root = handin(tmp_path, """
        import os

        def add_backward(grad_output, a, b):
            os.mkfifo("result.bin")
            os._exit(0)

        def sub_backward(grad_output, a, b):
            os.symlink("/proc/self/environ", "result.bin")
            os._exit(0)
        """, module="nn/functional.py")
    results = scores(root, ["backward.add", "backward.sub", "backward.mul"], timeout=20)
    for name in ("backward.add", "backward.sub"):
        assert results[name].score == 0 and "unreadable result" in results[name].reason, results[name].reason
    assert results["backward.mul"].score == POINTS["backward.mul"]


def test_a_flood_on_stderr_is_capped_and_costs_the_grader_no_memory(tmp_path):
    root = handin(tmp_path, """
        import os

        def add_backward(grad_output, a, b):
            block = b"x" * 2**20
            for _ in range(1024):  # 1 GiB, far past the file size limit
                os.write(2, block)
            raise RuntimeError("unreachable")
        """, module="nn/functional.py")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    add = scores(root, ["backward.add"], timeout=60)["backward.add"]
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert add.score == 0 and "unreachable" not in add.reason
    assert grown_mib < 64, grown_mib


# ---------------------------------------------------------------- what the test process can touch

@needs_landlock
def test_the_grader_s_files_the_reference_and_the_network_are_out_of_reach(tmp_path):
    targets = [REPO / "autograder" / "grading" / "oracle.py", REPO / "mytorch" / "utils.py"]
    before = {str(t): t.read_bytes() for t in targets}
    root = handin(tmp_path, f"""
        import os, socket

        def _try(action):
            try:
                action()
                return "ok"
            except OSError as error:
                return type(error).__name__

        def add_backward(grad_output, a, b):
            seen = [_try(lambda: open(p).read()) for p in {[str(t) for t in targets]!r}]
            seen += [_try(lambda: open(p, "a").write("# tampered")) for p in {[str(t) for t in targets]!r}]
            seen.append(_try(lambda: socket.create_connection(("127.0.0.1", 9), timeout=1)))
            seen.append(_try(lambda: os.kill(os.getppid(), 0)))
            seen.append(_try(lambda: open("/tmp/mytorch-escape", "w")))
            raise RuntimeError("seen " + " ".join(seen))
        """, module="nn/functional.py")
    add = scores(root, ["backward.add"])["backward.add"]
    seen = add.reason.split("seen ", 1)[1].split()
    assert "ok" not in seen[:7], add.reason
    assert {str(t): t.read_bytes() for t in targets} == before
    assert not Path("/tmp/mytorch-escape").exists()


def test_a_fork_bomb_or_a_daemon_cannot_start(tmp_path):
    root = handin(tmp_path, """
        import os, threading

        def add_backward(grad_output, a, b):
            outcome = []
            try:
                if os.fork() == 0:
                    os._exit(0)
                outcome.append("forked")
            except OSError as error:
                outcome.append(type(error).__name__)
            try:
                threading.Thread(target=lambda: None).start()
                outcome.append("thread")
            except RuntimeError as error:
                outcome.append("no thread")
            raise RuntimeError(" ".join(outcome))
        """, module="nn/functional.py")
    add = scores(root, ["backward.add"])["backward.add"]
    assert "forked" not in add.reason and "no thread" in add.reason, add.reason


@needs_root
def test_as_root_each_handin_runs_as_its_own_unprivileged_uid(tmp_path):
    root = handin(tmp_path, """
        import os

        def add_backward(grad_output, a, b):
            raise RuntimeError(f"uid {os.getuid()} euid {os.geteuid()} groups {os.getgroups()}")
        """, module="nn/functional.py")
    with isolation() as first, isolation() as second:
        assert first.uid != second.uid and first.uid not in (None, 0)
        reason = grade(root, only=["backward.add"], iso=first).tests[0].reason
    assert f"uid {first.uid} euid {first.uid} groups []" in reason


# ---------------------------------------------------------------- one handin against the others

@needs_landlock
def test_a_hostile_handin_in_a_batch_leaves_the_honest_ones_their_marks_and_files(tmp_path):
    batch = tmp_path / "handins"
    honest = handin(batch, name="alice")
    handin(batch, name="mallory", code="""
        import os, signal

        def _harm():
            for pid in filter(str.isdigit, os.listdir("/proc") if os.path.isdir("/proc") else []):
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            for top in ("/tmp", os.path.dirname(os.getcwd()), os.path.dirname(os.path.dirname(os.getcwd()))):
                try:
                    for folder, _, files in os.walk(top):
                        for name in files:
                            if name.endswith(".py"):
                                try:
                                    with open(os.path.join(folder, name), "a") as stream:
                                        stream.write("\\nraise SystemExit('sabotaged')\\n")
                                except OSError:
                                    pass
                except OSError:
                    pass

        _harm()
        """)
    alice_files = digest(honest)
    results = {r.name: r for r in run_batch(batch, jobs=2, only=FEW, timeout=30)}
    assert results["alice"].report.score == sum(POINTS[n] for n in FEW), results["alice"].report.tests
    assert digest(honest) == alice_files
