"""Starting test processes confined, and reading back what they send, trusting none of it.

Each test runs in a fresh process (``autograder.harness.child``) that confines
itself before it imports the handin (``autograder.harness.confine``): resource
limits always; as root, an unprivileged uid of its own handin; on Linux,
Landlock. This module decides what to ask for, reports it (``Isolation``),
and treats everything the process leaves behind as hostile: the result file
is opened without following links and without blocking, must be a regular
file under the size limit, and its header must match the schema; of stderr
only the tail is read; the whole process group is killed at the end.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from autograder.harness import confine, protocol
from autograder.harness.child import MAX_PROBE_OPS

try:  # POSIX; on Windows nothing confines a test process, and reports say so
    import fcntl
    import grp
    import pwd
except ImportError:
    fcntl = grp = pwd = None

GRADER_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the autograder package

# The child imports the harness from GRADER_ROOT only (-I drops PYTHONPATH, the user's site and the cwd),
# then takes that folder off its path: after confinement it could not read it anyway.
_BOOT = ("import sys; root = sys.argv.pop(1); sys.path.insert(0, root); "
         "from autograder.harness.child import main; sys.path.remove(root); main(sys.argv[1:])")

_SINGLE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}

MAX_RESULT_BYTES = 4 * 2**20  # also the largest file a test process may write (RLIMIT_FSIZE): memfd files too
STDERR_TAIL_BYTES = 4000
STATUSES = {"ok", "not_implemented", "import_error", "error", "memory"}
# Unprivileged uids for test processes when the grader runs as root: one per handin being graded.
UID_BASE = int(os.environ.get("MYTORCH_SANDBOX_UID_BASE", "61000"))
UID_COUNT = 1000


class IsolationUnavailable(RuntimeError):
    """Staff asked for isolated grading and this machine offers no isolation mechanism."""


@dataclass(frozen=True)
class Isolation:
    """What confines the test processes of one handin."""

    uid: Optional[int]  # the unprivileged uid (and gid) they run as; None: the grader's own user
    landlock: int  # the Landlock ABI applied, 0 for none
    seccomp: bool = False  # the seccomp filter of ``confine.deny_syscalls`` applied

    @property
    def isolated(self) -> bool:
        return self.uid is not None or self.landlock > 0

    def describe(self) -> str:
        return confine.describe(self.uid, self.landlock, self.seccomp)


@dataclass
class ChildResult:
    status: str  # ok | not_implemented | import_error | error | timeout | memory | crashed | protocol | sandbox
    message: str = ""
    outputs: dict = field(default_factory=dict)
    bad_outputs: dict = field(default_factory=dict)
    seconds: float = 0.0
    probe: list = field(default_factory=list)


def _unused_ids() -> Iterator[int]:
    """Numbers in the range that no account and no group has."""
    for uid in range(UID_BASE, UID_BASE + UID_COUNT):
        if not (_known(pwd.getpwuid, uid) or _known(grp.getgrgid, uid)):
            yield uid


def _known(lookup, number: int) -> bool:
    try:
        lookup(number)
        return True
    except (KeyError, OverflowError):
        return False


def _lock_folder() -> Path:
    """Where graders on this machine claim uids: root's own folder, refused if anyone else could plant it."""
    base = Path("/run") if os.access("/run", os.W_OK) else Path(tempfile.gettempdir())
    folder = base / "mytorch-sandbox-uids"
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o077:
        raise IsolationUnavailable(f"{folder} is not a folder of root's alone: remove it and grade again")
    return folder


def _claim(folder: Path, uid: int) -> Optional[int]:
    """An exclusive lock on ``uid`` for as long as the returned descriptor is open (None: taken)."""
    fd = os.open(folder / str(uid), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        os.close(fd)
        return None


@contextmanager
def isolation(landlock: Optional[bool] = None) -> Iterator[Isolation]:
    """The isolation for one handin, for as long as it is graded.

    As root: a uid (and gid of the same number) of its own, from a range that no
    account and no group uses, locked (``flock``) so that no other handin, in this
    grader or in another one running on the machine, gets it at the same time.
    ``landlock``: None to use it where the kernel has it, False never.
    """
    abi = confine.landlock_abi() if landlock is not False else 0
    seccomp = confine.seccomp_available()
    if fcntl is None or os.geteuid() != 0:
        yield Isolation(None, abi, seccomp)
        return
    folder = _lock_folder()
    for uid in _unused_ids():
        fd = _claim(folder, uid)
        if fd is not None:
            break
    else:
        raise IsolationUnavailable(f"no free uid in {UID_BASE}..{UID_BASE + UID_COUNT - 1} "
                                   "(set MYTORCH_SANDBOX_UID_BASE to an unused range)")
    try:
        yield Isolation(uid, abi, seccomp)
    finally:
        os.close(fd)


def readable_roots() -> list:
    """What a test process must read besides the handin: the standard library and NumPy."""
    stdlib = Path(os.__file__).resolve().parent
    numpy_dir = Path(np.__file__).resolve().parent
    roots = [stdlib, numpy_dir]
    roots += sorted(p for p in numpy_dir.parent.glob("numpy*.libs") if p.is_dir())  # a wheel's bundled libraries
    return roots


def _stdlib_entries(stdlib: Path) -> list:
    """The standard library folder's entries, less the installed packages (the grader may be one)."""
    return [p for p in sorted(stdlib.iterdir()) if p.name not in ("site-packages", "dist-packages")]


def confinement(iso: Isolation, submission: Path, scratch: Path, result_file: Path, timeout: float,
                memory_mb: int) -> dict:
    """The ``confine`` spec a test process applies to itself (see ``autograder.harness.confine``)."""
    stdlib, *others = readable_roots()
    limits = {"memory_bytes": memory_mb * 2**20 if memory_mb > 0 else None,
              "cpu_seconds": int(timeout) + 2, "processes": 1, "file_bytes": MAX_RESULT_BYTES,
              "open_files": 64}
    return {"limits": limits, "uid": iso.uid, "gid": iso.uid, "landlock": iso.landlock, "seccomp": iso.seccomp,
            "reveal": [str(p) for p in (stdlib, *others, submission)],
            "read_only": [str(p) for p in (*_stdlib_entries(stdlib), *others, submission, scratch, Path("/dev/null"))],
            # The result file is the one thing it may write: it can create no file, so it cannot fill the disk
            # with many files of the size limit, nor put a FIFO or a link where the result should be.
            "read_write": [str(result_file)]}


def run_in_child(cases: list, inputs: dict, submission: Path, iso: Optional[Isolation], timeout: float,
                 memory_mb: int) -> dict:
    """Run ``cases`` ([{"name", "target", "runner", "plan", "probe_tape"}]) against the handin in one
    fresh, confined process; inputs are named "case::input". Returns {case name: ChildResult}.

    ``iso`` None: no confinement at all (trusted code only: the reference, its mutants).
    """
    names = [case["name"] for case in cases]
    with tempfile.TemporaryDirectory(prefix="mytorch-grade-") as work:
        scratch = Path(work, "scratch")
        scratch.mkdir()
        result_file = scratch / "result.bin"
        result_file.touch(mode=0o600)
        if iso is not None and iso.uid is not None:
            for path in (scratch, result_file):
                os.chown(path, iso.uid, iso.uid)
            os.chmod(work, 0o711)  # the uid may pass through to its scratch folder, not list this one
        header = {"submission": str(submission), "result": str(result_file), "scratch": str(scratch),
                  "cases": cases, "confine": None if iso is None else
                  confinement(iso, submission, scratch, result_file, timeout, memory_mb)}
        message = protocol.encode(header, inputs)
        # The status pipe says whether confinement held; where nothing confines (Windows) there is none.
        status_read, status_write = os.pipe() if os.name == "posix" else (-1, -1)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(scratch), "TMPDIR": str(scratch), "LANG": "C.UTF-8",
               **_SINGLE_THREAD}
        started = time.monotonic()
        with open(Path(work, "stderr"), "w+b") as stderr:
            try:
                process = subprocess.Popen(
                    [sys.executable, "-I", "-c", _BOOT, str(GRADER_ROOT), str(status_write)],
                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr, cwd=scratch, env=env,
                    start_new_session=True, pass_fds=(status_write,) if status_write >= 0 else ())
            finally:
                if status_write >= 0:
                    os.close(status_write)
            try:
                try:
                    process.communicate(message, timeout=timeout)
                except subprocess.TimeoutExpired:
                    return _every(names, ChildResult("timeout", f"timed out after {timeout:.3g} s", seconds=timeout))
                finally:
                    _kill_group(process)  # and whatever the handin started
                seconds = time.monotonic() - started
                status = _read_status(status_read) if status_read >= 0 else "confined"
            finally:
                if status_read >= 0:
                    os.close(status_read)
            err_tail = _tail(stderr)
        if not status.startswith("confined"):
            why = status[len("failed: "):] if status.startswith("failed: ") else f"exit code {process.returncode}"
            return _every(names, ChildResult("sandbox", f"the test process could not be confined: {why}",
                                             seconds=seconds))
        return _read_results(result_file, names, process.returncode, err_tail, memory_mb, seconds)


def _every(names: list, result: ChildResult) -> dict:
    return {name: result for name in names}


def _read_status(fd: int) -> str:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 2000).decode(errors="replace")
    except BlockingIOError:
        return ""


def _tail(stream) -> str:
    size = stream.seek(0, os.SEEK_END)
    stream.seek(max(0, size - STDERR_TAIL_BYTES))
    return stream.read(STDERR_TAIL_BYTES).decode(errors="replace")


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL) if hasattr(os, "killpg") else process.kill()
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def read_untrusted(path: Path, limit: int) -> bytes:
    """The bytes of a file a test process wrote: no link followed, no FIFO waited on, at most ``limit``."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise protocol.ProtocolError("the result is not a regular file")
        if info.st_size > limit:
            raise protocol.ProtocolError(f"the result is larger than {limit // 2**20} MiB")
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 2**20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            raise protocol.ProtocolError(f"the result is larger than {limit // 2**20} MiB")
        return data
    finally:
        os.close(fd)


def _read_results(result_file: Path, names: list, returncode: int, err_tail: str, memory_mb: int,
                  seconds: float) -> dict:
    try:
        data = read_untrusted(result_file, MAX_RESULT_BYTES)
    except FileNotFoundError:
        data = b""
    except (OSError, protocol.ProtocolError) as error:
        return _every(names, _unreadable(str(error), seconds))
    if not data:  # the grader left the file empty: the process ended before it wrote its results
        return _every(names, _ended_early(returncode, err_tail, memory_mb, seconds))
    try:
        header, arrays = protocol.decode(data)
        statuses = _validated(header, names)
    except protocol.ProtocolError as error:
        return _every(names, _unreadable(str(error), seconds))
    except Exception as error:  # a case the checks above missed: still that test's failure, never the grader's
        return _every(names, _unreadable(type(error).__name__, seconds))
    results = {}
    for name in names:
        case = statuses[name]
        prefix = f"{name}::"
        outputs = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        message = f"memory limit exceeded ({memory_mb} MiB)" if case["status"] == "memory" else case["message"]
        results[name] = ChildResult(case["status"], message, outputs, _unprefixed(case["bad_outputs"], prefix),
                                    seconds, _strip_probe_prefix(case["probe"], prefix))
    return results


def _ended_early(returncode: int, err_tail: str, memory_mb: int, seconds: float) -> ChildResult:
    if "MemoryError" in err_tail or returncode == -signal.SIGKILL:
        return ChildResult("memory", f"memory limit exceeded ({memory_mb} MiB)", seconds=seconds)
    if returncode == -getattr(signal, "SIGXCPU", 24):
        return ChildResult("timeout", "CPU time limit exceeded", seconds=seconds)
    if returncode < 0:
        return ChildResult("crashed", f"the test process crashed ({_signal_name(-returncode)})", seconds=seconds)
    return ChildResult("crashed", f"the submission ended the test process (exit code {returncode}, e.g. sys.exit "
                                  "or os._exit) before it returned results", seconds=seconds)


def _unreadable(why: str, seconds: float) -> ChildResult:
    return ChildResult("protocol", f"the test process sent back an unreadable result ({why[:200]})", seconds=seconds)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# ---------------------------------------------------------------- the result header's schema

_MAX_TEXT = 1000
_MAX_PROBE_RECORDS = MAX_PROBE_OPS
_PROBE_KEYS = {"index": int, "name": str, "skipped": str, "error": str, "params": dict, "inputs": int,
               "grads": int, "bad": dict}


def _validated(header: dict, names: list) -> dict:
    """{case name: {"status", "message", "bad_outputs", "probe"}} from a header that must match the schema."""
    if set(header) != {"status", "cases"} or header["status"] != "ok" or not isinstance(header["cases"], dict):
        raise protocol.ProtocolError("the header does not have the expected form")
    cases = header["cases"]
    if set(cases) != set(names):
        raise protocol.ProtocolError("the header names other cases than were run")
    return {name: _validated_case(cases[name]) for name in names}


def _validated_case(case: object) -> dict:
    if not isinstance(case, dict) or not set(case) <= {"status", "message", "bad_outputs", "probe"}:
        raise protocol.ProtocolError("a case's header has unexpected fields")
    status, message = case.get("status"), case.get("message", "")
    if status not in STATUSES or not isinstance(message, str) or len(message) > 10 * _MAX_TEXT:
        raise protocol.ProtocolError("a case's status or message is not valid")
    bad = case.get("bad_outputs", {})
    if not isinstance(bad, dict) or len(bad) > 1000 or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= _MAX_TEXT and len(v) <= _MAX_TEXT
            for k, v in bad.items()):
        raise protocol.ProtocolError("a case's bad outputs are not valid")
    probe = case.get("probe", [])
    if not isinstance(probe, list) or len(probe) > _MAX_PROBE_RECORDS or not all(map(_valid_record, probe)):
        raise protocol.ProtocolError("a case's tape probe is not valid")
    return {"status": status, "message": message[:_MAX_TEXT], "bad_outputs": bad, "probe": probe}


def _valid_record(record: object) -> bool:
    if not isinstance(record, dict) or not set(record) <= set(_PROBE_KEYS):
        return False
    for key, value in record.items():
        kind = _PROBE_KEYS[key]
        if not isinstance(value, kind) or isinstance(value, bool) or (kind is str and len(value) > _MAX_TEXT):
            return False
        if kind is int and not 0 <= value <= 10**6:
            return False
    return len(repr(record.get("params", {}))) <= 100_000 and all(
        isinstance(k, str) and isinstance(v, str) for k, v in record.get("bad", {}).items())


def _unprefixed(named: dict, prefix: str) -> dict:
    """The test process names everything "case::name"; the oracle reads "name"."""
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in named.items()}


def _strip_probe_prefix(probe: list, prefix: str) -> list:
    for record in probe:
        if "bad" in record:
            record["bad"] = _unprefixed(record["bad"], prefix)
    return probe


def case_rng(seed: int, case_name: str) -> np.random.Generator:
    """Each case draws its inputs from (seed, its own name): independent of order and of other cases."""
    return np.random.default_rng([seed, zlib.crc32(case_name.encode())])
