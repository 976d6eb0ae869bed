"""Runs one case in a child process with a wall-clock and a memory limit.

Each test gets its own process, so a test that hangs, exhausts memory, calls
``os._exit`` or patches NumPy spoils only itself. The child's stdout is
discarded (nothing it prints can reach a score line), its stderr is kept
only to explain a crash, and its result is read through ``protocol``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from autograder.harness import protocol

GRADER_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the autograder package

# The child imports the grader from GRADER_ROOT only; -I drops PYTHONPATH, the user's site and the cwd.
_BOOT = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
         "from autograder.harness.child import main; main(sys.argv[1:])")

_SINGLE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


@dataclass
class ChildResult:
    status: str  # ok | not_implemented | import_error | error | timeout | memory | crashed | protocol
    message: str = ""
    outputs: dict = field(default_factory=dict)
    bad_outputs: dict = field(default_factory=dict)
    seconds: float = 0.0
    header: dict = field(default_factory=dict)


def sandbox_user(submission: Path) -> Optional[tuple]:
    """(uid, gid) of 'nobody' when the grader runs as root and that user can run this Python, NumPy
    and read the submission; else None (the child then runs as the grader's own user).

    As another user, the student's code cannot signal the grader, nor overwrite the grader's files
    (results.json), even from a process that escaped the kill of its process group.
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    try:
        import pwd
        entry = pwd.getpwnam("nobody")
        ids = (entry.pw_uid, entry.pw_gid)
        probe = ("import sys, numpy; from pathlib import Path; "
                 "Path(sys.argv[1], 'mytorch').iterdir().__next__()")
        done = subprocess.run([sys.executable, "-I", "-c", probe, str(submission.resolve())], user=ids[0],
                              group=ids[1], extra_groups=[], cwd="/", env={"PATH": "/usr/bin:/bin", **_SINGLE_THREAD},
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=60)
        return ids if done.returncode == 0 else None
    except (KeyError, OSError, subprocess.SubprocessError):
        return None


def run_in_child(case_name: str, submission: Path, inputs: dict, timeout: float,
                 memory_mb: int, run_as: Optional[tuple] = None) -> ChildResult:
    """Run ``case_name`` against the submission in a fresh process and read back its results.

    ``run_as``: (uid, gid) to run the child as (see ``sandbox_user``).
    """
    with tempfile.TemporaryDirectory(prefix="mytorch-grade-") as work:
        inputs_file, result_file = Path(work, "inputs.bin"), Path(work, "result.bin")
        inputs_file.write_bytes(protocol.encode({}, inputs))
        user = {}
        if run_as is not None:
            os.chown(work, *run_as)
            user = {"user": run_as[0], "group": run_as[1], "extra_groups": []}
        command = [sys.executable, "-I", "-c", _BOOT, str(GRADER_ROOT), case_name, str(submission.resolve()),
                   str(inputs_file), str(result_file), str(memory_mb)]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": work, "TMPDIR": work, **_SINGLE_THREAD}
        started = time.monotonic()
        with open(Path(work, "stderr.txt"), "w+b") as stderr:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=stderr, cwd=work, env=env, start_new_session=True, **user)
            try:
                returncode = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(process)
                return ChildResult("timeout", f"timed out after {timeout:g} s", seconds=timeout)
            finally:
                _kill_group(process)  # leftovers the submission may have spawned
            seconds = time.monotonic() - started
            stderr.seek(0)
            err_tail = stderr.read()[-4000:].decode(errors="replace")
        return _read_result(result_file, returncode, err_tail, memory_mb, seconds)


def run_trusted(submission: Path, seed: int, names: list, timeout: float) -> ChildResult:
    """All of ``names`` in one child process (``child.main_all``); see ``grade.grade_trusted``."""
    with tempfile.TemporaryDirectory(prefix="mytorch-grade-") as work:
        result_file = Path(work, "result.bin")
        boot = _BOOT.replace("import main; main(", "import main_all; main_all(")
        command = [sys.executable, "-I", "-c", boot, str(GRADER_ROOT), str(submission.resolve()), str(seed),
                   str(result_file), *names]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": work, "TMPDIR": work, **_SINGLE_THREAD}
        started = time.monotonic()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, cwd=work, env=env, start_new_session=True)
        try:
            _, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            return ChildResult("timeout", f"timed out after {timeout:g} s", seconds=timeout)
        return _read_result(result_file, process.returncode, err[-4000:].decode(errors="replace"), 0,
                            time.monotonic() - started)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _read_result(result_file: Path, returncode: int, err_tail: str, memory_mb: int,
                 seconds: float) -> ChildResult:
    if not result_file.exists():
        if "MemoryError" in err_tail or returncode == -signal.SIGKILL:
            return ChildResult("memory", f"memory limit exceeded ({memory_mb} MiB)", seconds=seconds)
        if returncode < 0:
            return ChildResult("crashed", f"the test process crashed ({signal.Signals(-returncode).name})",
                               seconds=seconds)
        return ChildResult("crashed", f"the submission ended the test process (exit code {returncode}, "
                                      "e.g. sys.exit or os._exit) before it returned results", seconds=seconds)
    if result_file.stat().st_size > protocol.MAX_MESSAGE_BYTES:
        return ChildResult("protocol", "the test process sent back too much data", seconds=seconds)
    try:
        header, arrays = protocol.decode(result_file.read_bytes())
    except protocol.ProtocolError as error:
        return ChildResult("protocol", f"the test process sent back an unreadable result ({error})",
                           seconds=seconds)
    status = header.get("status")
    if status not in {"ok", "not_implemented", "import_error", "error", "memory"}:
        return ChildResult("protocol", "the test process sent back an unknown status", seconds=seconds)
    message = str(header.get("message", ""))[:1000]
    if status == "memory":
        message = f"memory limit exceeded ({memory_mb} MiB)"
    bad = header.get("bad_outputs", {})
    bad = {str(k)[:200]: str(v)[:200] for k, v in bad.items()} if isinstance(bad, dict) else {}
    return ChildResult(status, message, outputs=arrays, bad_outputs=bad, seconds=seconds, header=header)


def case_rng(seed: int, case_name: str) -> np.random.Generator:
    """Each case draws its inputs from (seed, its own name): independent of order and of other cases."""
    return np.random.default_rng([seed, zlib.crc32(case_name.encode())])
