"""Attacks on the grader, each by a handin that wants points it did not earn or to harm others.

Each test builds one hostile handin (the untouched starter, or the reference
with a few lines appended), grades a handful of tests with the real grader,
and checks that the attacker earns no more than the same code earns honestly,
that honest handins keep their marks and their files, and that grading ends
with a valid report. Attacks whose defence is the kernel's (Landlock, an
unprivileged uid) skip, saying why, where that mechanism is missing.

Every attack is aimed at canaries the test owns (a process it started, files
in its own temporary folder, a file opened for appending but never written),
so that a grader whose confinement fails makes the test fail, not the machine.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest

from autograder import batch, cli
from autograder.batch import run_batch
from autograder.grading import diagnose
from autograder.grading.grade import grade
from autograder.grading.rubric import all_tests
from autograder.grading.sandbox import Isolation, IsolationUnavailable, isolation
from autograder.harness.confine import landlock_abi, seccomp_available

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


@pytest.mark.parametrize("mechanism", ["default", "uid only"])
def test_a_fifo_or_a_link_in_place_of_the_result_neither_hangs_nor_reads_elsewhere(tmp_path, mechanism):
    """With Landlock the test process cannot even remove its result file; without, the grader still
    refuses to follow a link or to wait on a FIFO."""
    if mechanism == "uid only" and os.geteuid() != 0:
        pytest.skip("needs root: an unprivileged uid without Landlock")
    root = handin(tmp_path, """
        import os

        def _replace(make):
            try:
                os.remove("result.bin")
                make()
            except OSError:
                pass
            os._exit(0)

        def add_backward(grad_output, a, b):
            _replace(lambda: os.mkfifo("result.bin"))

        def sub_backward(grad_output, a, b):
            _replace(lambda: os.symlink("/proc/self/environ", "result.bin"))
        """, module="nn/functional.py")
    with isolation(landlock=False if mechanism == "uid only" else None) as iso:
        results = scores(root, ["backward.add", "backward.sub", "backward.mul"], timeout=20, iso=iso)
    # Under Landlock the file cannot be removed, so the process just ends with its result unwritten.
    expected = "ended the test process (exit code 0" if iso.landlock else "unreadable result"
    for name in ("backward.add", "backward.sub"):
        assert results[name].score == 0 and expected in results[name].reason, results[name].reason
    assert results["backward.mul"].score == POINTS["backward.mul"]


def test_a_flood_on_stderr_is_capped_and_costs_the_grader_no_memory(tmp_path):
    root = handin(tmp_path, """
        import os

        def add_backward(grad_output, a, b):
            block = b"x" * 2**20
            for _ in range(256):  # 256 MiB, far past the 4 MiB file size limit
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
    outside = tmp_path / "outside.txt"
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
            # Opening for appending is the test: nothing is written even where it succeeds.
            seen += [_try(lambda: open(p, "a").close()) for p in {[str(t) for t in targets]!r}]
            seen.append(_try(lambda: socket.create_connection(("127.0.0.1", 9), timeout=1).close()))
            seen.append(_try(lambda: os.kill(os.getppid(), 0)))
            seen.append(_try(lambda: open({str(outside)!r}, "w").close()))
            seen.append(_try(lambda: open("another file in my own folder", "w").close()))  # no disk to fill
            raise RuntimeError("seen " + " ".join(seen))
        """, module="nn/functional.py")
    add = scores(root, ["backward.add"])["backward.add"]
    seen = add.reason.split("seen ", 1)[1].split()[:8]
    assert all(word.endswith("Error") for word in seen), add.reason
    assert not outside.exists()


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
    batch_folder = tmp_path / "handins"
    honest = handin(batch_folder, name="alice")
    canary = subprocess.Popen(["sleep", "120"])  # a process of the grader's user, as the grader is
    try:
        handin(batch_folder, name="mallory", code=f"""
            import os, signal, tempfile

            def _harm():
                try:  # the grader's own user
                    os.kill({canary.pid}, signal.SIGKILL)
                except OSError:
                    pass
                try:  # every other sandboxed process it can find: another handin's tests
                    for pid in filter(str.isdigit, os.listdir("/proc")):
                        with open(f"/proc/{{pid}}/status") as status:
                            uid = int(next(l for l in status if l.startswith("Uid:")).split()[1])
                        if uid >= 61000 and int(pid) != os.getpid():
                            os.kill(int(pid), signal.SIGKILL)
                except (OSError, StopIteration, ValueError):
                    pass
                # another handin's files: the original, and any staging folder of the grader
                places = [{str(honest)!r}] + [os.path.join(tempfile.gettempdir(), name)
                                              for name in os.listdir(tempfile.gettempdir())
                                              if name.startswith("mytorch-")] if os.access(
                                                  tempfile.gettempdir(), os.R_OK) else [{str(honest)!r}]
                for top in places:
                    for folder, _, files in os.walk(top):
                        for name in files:
                            if name.endswith(".py"):
                                try:
                                    with open(os.path.join(folder, name), "a") as stream:
                                        stream.write("\\nraise SystemExit('sabotaged')\\n")
                                except OSError:
                                    pass

            _harm()
            """)
        alice_files = digest(honest)
        results = {r.name: r for r in run_batch(batch_folder, jobs=2, only=FEW, timeout=30)}
        assert canary.poll() is None, "the hostile handin killed a process of the grader's user"
    finally:
        canary.kill()
        canary.wait()
    assert results["alice"].report.score == sum(POINTS[n] for n in FEW), results["alice"].report.tests
    assert digest(honest) == alice_files


# ---------------------------------------------------------------- failing closed

@contextmanager
def _no_isolation(landlock=None):
    yield Isolation(None, 0)


def test_grading_refuses_to_run_a_handin_unconfined_when_staff_rely_on_isolation(tmp_path):
    with pytest.raises(IsolationUnavailable, match="Landlock"):
        grade(REFERENCE.parent, only=["backward.add"], iso=Isolation(None, 0), require_isolation=True)


def test_the_gradescope_bundle_writes_a_valid_zero_report_saying_why_it_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "isolation", _no_isolation)
    results = tmp_path / "results.json"
    cli.main(["--gradescope", str(results), "--only", "backward.add", "backward.sub"])
    data = json.loads(results.read_text())
    assert data["score"] == 0 and len(data["tests"]) == 2
    assert all("not graded: no isolation mechanism" in t["output"] for t in data["tests"])
    cli.main(["--gradescope", str(results), "--only", "backward.add", "--allow-unisolated"])
    data = json.loads(results.read_text())
    assert data["score"] == POINTS["backward.add"]
    assert "unisolated" in capsys.readouterr().out


def test_a_batch_refuses_every_handin_unconfined_unless_allowed(tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "isolation", _no_isolation)
    handin(tmp_path / "handins", name="alice")
    refused = run_batch(tmp_path / "handins", only=["backward.add"])
    assert [(r.status, r.report.score) for r in refused] == [("grader_error", 0.0)]
    allowed = run_batch(tmp_path / "handins", only=["backward.add"], require_isolation=False)
    assert [(r.status, r.report.score) for r in allowed] == [("graded", POINTS["backward.add"])]


@needs_landlock
def test_landlock_alone_confines_a_handin_graded_without_root(tmp_path):
    """The staff-laptop mode: no uid of its own, yet the grader's files and its process are out of reach."""
    oracle = REPO / "autograder" / "grading" / "oracle.py"
    root = handin(tmp_path, f"""
        import os

        def add_backward(grad_output, a, b):
            seen = []
            for action in (lambda: open({str(oracle)!r}).read(), lambda: open({str(oracle)!r}, "a"),
                           lambda: os.kill(os.getppid(), 0)):
                try:
                    action()
                    seen.append("ok")
                except OSError as error:
                    seen.append(type(error).__name__)
            raise RuntimeError("seen " + " ".join(seen))
        """, module="nn/functional.py")
    report = grade(root, only=["backward.add"], iso=Isolation(None, landlock_abi()))
    assert report.isolation.startswith("landlock abi") and "ok" not in report.tests[0].reason.split("seen ")[1]


# ---------------------------------------------------------------- work the grader does on the handin's data

def test_a_tape_that_makes_the_probe_s_oracle_explode_is_cut_off(tmp_path, monkeypatch):
    """The tape probe's central differences run in a process of their own, with a time and memory limit:
    a recorded ``pad`` of 1,000 elements padded to 10^7 would take the oracle 2,000 evaluations of 80 MB each."""
    monkeypatch.setattr(diagnose, "SECONDS", 3.0)
    root = handin(tmp_path, """
        import numpy as np
        import mytorch.nn.functional as F

        def pad_backward(grad_output, a, pad_width, value=0.0):
            return np.zeros(a.shape)

        _forward = Linear.forward

        def forward(self, x):
            small = np.ones(1000)
            self.autograd_engine.add_operation([small], np.ones(1), [None], pad_backward, pad_width=((0, 10**7),))
            return F.add(_forward(self, x), 1.0)  # wrong, so that the probe runs

        Linear.forward = forward
        """, module="nn/linear.py")
    linear = scores(root, ["linear.batch"], timeout=30)["linear.batch"]
    assert linear.status == "partial" or linear.score < POINTS["linear.batch"]
    assert "forward output is wrong" in linear.reason


def test_a_handin_whose_every_test_hangs_holds_a_batch_slot_no_longer_than_its_budget(tmp_path):
    root = handin(tmp_path, """
        import time

        time.sleep(3600)
        """)
    report = grade(root, only=FEW, jobs=1, timeout=30, handin_timeout=3)
    reasons = [t.reason for t in report.tests]
    # The first test gets what is left of the budget: 3 s less the moments spent before it started.
    assert report.score == 0 and re.match(r"timed out after (3|2\.\d+) s", reasons[0]), reasons
    assert all(r == "not run: the handin's time budget of 3 s was used up" for r in reasons[1:]), reasons


# ---------------------------------------------------------------- what Landlock does not cover, as root

@needs_root
def test_no_udp_packet_leaves_a_test_process(tmp_path):
    import socket
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    root = handin(tmp_path, f"""
        import socket

        def add_backward(grad_output, a, b):
            try:
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"leak", ("127.0.0.1", {port}))
                raise RuntimeError("sent")
            except OSError as error:
                raise RuntimeError(type(error).__name__)
        """, module="nn/functional.py")
    reason = scores(root, ["backward.add"])["backward.add"].reason
    try:
        received = listener.recv(16)
    except socket.timeout:
        received = b""
    finally:
        listener.close()
    assert received == b"" and "sent" not in reason.split("RuntimeError")[1][:30], reason


@needs_root
def test_system_v_shared_memory_is_refused(tmp_path):
    """Segments hold memory that no rlimit counts, and would outlive the process that made them."""
    def segments() -> int:
        return len(Path("/proc/sysvipc/shm").read_text().splitlines()) - 1

    before = segments()
    root = handin(tmp_path, """
        import ctypes

        def add_backward(grad_output, a, b):
            libc = ctypes.CDLL(None, use_errno=True)
            made = libc.shmget(0, 64 * 2**20, 0o1000 | 0o600)  # IPC_PRIVATE, IPC_CREAT
            raise RuntimeError(f"made {made}")
        """, module="nn/functional.py")
    reason = scores(root, ["backward.add"])["backward.add"].reason
    assert "made -1" in reason, reason
    assert segments() == before


@needs_root
def test_folders_are_never_covered_in_the_grader_s_own_mount_namespace(tmp_path):
    """The tmpfs that hides an unreachable folder from the test process must never be mounted for everyone."""
    from autograder.harness import confine

    blocked = tmp_path / "blocked"
    (blocked / "inside").mkdir(parents=True)
    blocked.chmod(0o700)
    with pytest.raises(confine.ConfinementError, match="mount namespace"):
        confine.reveal([blocked / "inside"], 61999, 61999, tmp_path)
    assert (blocked / "inside").is_dir() and not os.path.ismount(blocked)


def test_stubs_that_do_nothing_earn_nothing(tmp_path):
    """Parts that check "nothing happened" (no gradient, an empty tape, no call) also check that
    something did happen first, so a buffer and an engine that do nothing score 0."""
    import re

    root = tmp_path / "lazy"
    shutil.copytree(STARTER, root / "mytorch", ignore=shutil.ignore_patterns("__pycache__"))
    for module in ("utils.py", "autograd_engine.py"):
        path = root / "mytorch" / module
        path.write_text(re.sub(r"raise NotImplementedError\(.*\)", "return None", path.read_text()))
    only = [test.name for component, test in all_tests() if component.key in ("memory_buffer", "autograd_engine")]
    results = scores(root, only)
    assert {name: r.score for name, r in results.items() if r.score} == {}


def test_code_hidden_in_a_zip_inside_the_handin_never_runs(tmp_path):
    """The starter plus a zip on sys.path carrying a copy of the kit's own oracle once earned 100/100 with no
    flag: only Python sources are staged, and the sys.path edit is flagged."""
    import zipfile
    from argparse import Namespace

    from autograder.cli import grade_path

    root = handin(tmp_path, """
        import os as _o, sys as _s
        _s.path.insert(0, _o.path.join(_o.path.dirname(__file__), "res.zip"))
        import kit_hook
        """, source=STARTER)
    with zipfile.ZipFile(root / "mytorch" / "res.zip", "w") as bundle:
        bundle.writestr("kit_hook.py", "import sys\nsys.modules['autograder.harness.calls'].RUNNERS.clear()\n")
    args = Namespace(seed=11785, timeout=30, memory_mb=2048, jobs=2, only=FEW, handin_timeout=600)
    report, warnings = grade_path(root, args)
    assert report.score == 0
    assert all("No module named 'kit_hook'" in t.reason for t in report.tests), [t.reason for t in report.tests]
    assert "refused 'mytorch/res.zip': not a Python source (only .py files are graded)" in warnings
    assert any(f["what"].startswith("sys.path") for f in report.flags), report.flags


def test_a_huge_exception_message_is_cut_not_taken_for_a_broken_result(tmp_path):
    root = handin(tmp_path, """
        def add_backward(grad_output, a, b):
            raise NotImplementedError("A" * 5_000_000)
        """, module="nn/functional.py")
    add = scores(root, ["backward.add"])["backward.add"]
    assert add.reason.startswith("not implemented yet in add_backward") and len(add.reason) < 1000, add.reason[:200]


@pytest.mark.skipif(not seccomp_available(), reason="the seccomp filter is x86_64's")
def test_what_landlock_and_the_namespaces_leave_open_is_refused(tmp_path):
    """Found by attacking the grader: a nested user namespace lifted the IPC limits (7 GiB of System V
    memory held under a 256 MiB limit), a key in the kernel keyring outlived the test for the next handin
    given the same uid, and a path-named UNIX socket outside the sandbox took the test's data."""
    listener_path = tmp_path / "outside.sock"
    import socket
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(listener_path))
    listener.listen(1)
    os.chmod(listener_path, 0o777)
    root = handin(tmp_path, f"""
        import ctypes, os, socket

        def add_backward(grad_output, a, b):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            outcome = {{}}
            outcome["unshare"] = libc.unshare(0x10000000 | 0x08000000)  # a user and an IPC namespace
            outcome["shmget"] = libc.shmget(0, 4096, 0o1600)
            outcome["add_key"] = libc.syscall(248, b"user", b"note", b"x", 1, -4)
            outcome["memfd_create"] = libc.syscall(319, b"m", 0)
            try:
                socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect({str(listener_path)!r})
                outcome["unix socket"] = 0
            except OSError:
                outcome["unix socket"] = -1
            raise RuntimeError("outcome " + repr(outcome))
        """, module="nn/functional.py")
    try:
        reason = scores(root, ["backward.add"])["backward.add"].reason
        listener.settimeout(0.2)
        with pytest.raises(socket.timeout):
            listener.accept()
    finally:
        listener.close()
    outcome = ast.literal_eval(reason.split("outcome ", 1)[1].split("}", 1)[0] + "}")
    assert outcome == {"unshare": -1, "shmget": -1, "add_key": -1, "memfd_create": -1, "unix socket": -1}, reason
