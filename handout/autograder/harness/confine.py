"""Confining a test process with the kernel's own mechanisms, before the handin is imported.

Applied in this order, each only where the platform has it:

1. resource limits (``setrlimit``): address space, CPU seconds, processes of
   the uid, size of any file written, open files, no core dumps;
2. when the grader runs as root: mount, IPC and network namespaces of its own
   (no network at all; System V memory dies with the test); the Python
   installation made reachable for the unprivileged uid when it lives under a
   folder that uid cannot enter (a pyenv under /root); then ``setgroups``,
   ``setgid`` and ``setuid`` to that uid: no capability is left;
3. on Linux, Landlock (``landlock_create_ruleset`` / ``landlock_add_rule`` /
   ``landlock_restrict_self``, through ``ctypes``): the process and all it
   starts may read only the staged handin, the standard library and NumPy,
   write only its result file and create no file at all; with ABI 4 it may not connect or bind TCP
   sockets, with ABI 6 it may not signal or reach (abstract UNIX sockets) any
   process outside its own sandbox.

The grader reads ``describe`` to report what was in force; the test process
calls ``confine`` and exits before touching the handin if any step fails.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import stat
import sys
from pathlib import Path
from typing import Optional

try:
    import resource
except ImportError:  # not POSIX: no limits
    resource = None


class ConfinementError(RuntimeError):
    """A confinement step the grader asked for could not be applied: the test must not run."""


# ---------------------------------------------------------------- resource limits

def apply_limits(limits: dict) -> None:
    """``limits``: memory_bytes, cpu_seconds, processes, file_bytes, open_files (each optional)."""
    if resource is None:
        return
    wanted = [(resource.RLIMIT_CORE, 0)]
    for key, name in (("memory_bytes", "RLIMIT_AS"), ("cpu_seconds", "RLIMIT_CPU"), ("processes", "RLIMIT_NPROC"),
                      ("file_bytes", "RLIMIT_FSIZE"), ("open_files", "RLIMIT_NOFILE")):
        if limits.get(key) is not None and hasattr(resource, name):
            wanted.append((getattr(resource, name), int(limits[key])))
    for which, value in wanted:
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError) as error:
            raise ConfinementError(f"setrlimit({which}, {value}) failed: {error}") from None


# ---------------------------------------------------------------- the unprivileged uid

_CLONE_NEWNS, _CLONE_NEWIPC, _CLONE_NEWNET = 0x00020000, 0x08000000, 0x40000000
_MS_BIND, _MS_REC, _MS_PRIVATE = 0x1000, 0x4000, 1 << 18
_MNT_DETACH = 2
_NO_IPC = {"/proc/sys/kernel/shmall": "0", "/proc/sys/kernel/msgmni": "0", "/proc/sys/kernel/sem": "0 0 0 0",
           "/proc/sys/fs/mqueue/queues_max": "0"}


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    # The process's own symbols, libc's among them: ctypes.util.find_library would start a compiler
    # and write temporary files, which a confined process may not do.
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> int:
    if result < 0:
        error = ctypes.get_errno()
        raise ConfinementError(f"{what} failed: {os.strerror(error)}")
    return result


def can_enter(path: Path, uid: int, gid: int) -> bool:
    """Whether ``uid`` (with only group ``gid``) may search ``path`` itself (its x bit)."""
    info = path.stat()
    bits = (stat.S_IXUSR if info.st_uid == uid else stat.S_IXGRP if info.st_gid == gid else stat.S_IXOTH)
    return bool(info.st_mode & bits)


def blocked_ancestors(paths: list, uid: int, gid: int) -> list:
    """The outermost folder on the way to each path that ``uid`` cannot enter (sorted, no duplicates)."""
    blocked = set()
    for path in paths:
        path = Path(path).resolve()
        for folder in [*reversed(path.parents), path] if path.is_dir() else reversed(path.parents):
            if not can_enter(folder, uid, gid):
                blocked.add(folder)
                break
    return sorted(blocked)


def own_namespaces() -> None:
    """Give this process mount, IPC and network namespaces of its own (needs root).

    Its mounts change nothing outside; it may make no System V segment, semaphore or
    message queue, nor POSIX queue (memory no rlimit counts); its network has no interface
    but a loopback that is down, so no packet (UDP included, which Landlock does not cover)
    leaves it.
    """
    libc = _libc()
    _check(libc.unshare(_CLONE_NEWNS | _CLONE_NEWIPC | _CLONE_NEWNET), "unshare(mount, IPC, network)")
    _check(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "making mounts private")
    # Shared memory, semaphores and message queues are outside every rlimit: in this IPC namespace, none at all.
    for setting, value in _NO_IPC.items():
        try:
            Path(setting).write_text(value)
        except OSError as error:
            raise ConfinementError(f"could not set {setting} in the test's IPC namespace: {error}") from None


def reveal(paths: list, uid: int, gid: int, scratch: Path) -> list:
    """Make every folder of ``paths`` reachable for ``uid``, in this process's own mount namespace.

    A folder on the way that the uid cannot enter (``/root`` at mode 0700, holding a
    pyenv) is covered by an empty tmpfs in which only the needed paths are bind-mounted
    back: the uid reaches what it needs and sees nothing else of that folder. Needs root,
    after ``own_namespaces``. Returns the folders it covered.
    """
    covered = blocked_ancestors(paths, uid, gid)
    if covered and _same_mount_namespace(os.getpid(), os.getppid()):
        # Covering /root in the grader's own namespace would hide it from every process on the machine.
        raise ConfinementError("refusing to cover folders outside a mount namespace of this process's own")
    libc = _libc()
    for number, folder in enumerate(covered):
        inside = sorted({Path(p).resolve() for p in paths if folder in Path(p).resolve().parents})
        held = []
        for k, path in enumerate(inside):
            # Hold each needed path on a mount point in the scratch folder while the tmpfs covers its parent.
            hold = scratch / f".hold-{number}-{k}"
            hold.mkdir() if path.is_dir() else hold.touch()
            _check(libc.mount(str(path).encode(), str(hold).encode(), None, _MS_BIND | _MS_REC, None),
                   f"bind-mounting {path}")
            held.append((path, hold))
        _check(libc.mount(b"tmpfs", str(folder).encode(), b"tmpfs", 0, b"mode=0755,size=1m"),
               f"covering {folder}")
        for path, hold in held:
            relative = path.relative_to(folder)
            target = folder / relative
            if hold.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
            _check(libc.mount(str(hold).encode(), str(target).encode(), None, _MS_BIND | _MS_REC, None),
                   f"bind-mounting {path} back")
            # The holding mount sits in the writable scratch folder: take it away again.
            _check(libc.umount2(str(hold).encode(), _MNT_DETACH), f"unmounting {hold}")
            hold.rmdir() if hold.is_dir() else hold.unlink()
    return covered


def _same_mount_namespace(pid: int, other: int) -> bool:
    try:
        return os.stat(f"/proc/{pid}/ns/mnt").st_ino == os.stat(f"/proc/{other}/ns/mnt").st_ino
    except OSError:  # no /proc to tell: assume the worst
        return True


def drop_privileges(uid: int, gid: int) -> None:
    """Become ``uid``/``gid`` with no supplementary group (and so with no capability)."""
    try:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    except OSError as error:
        raise ConfinementError(f"could not switch to uid {uid}: {error}") from None
    if os.getuid() != uid or os.geteuid() != uid or os.getegid() != gid:
        raise ConfinementError(f"still uid {os.geteuid()} after switching to uid {uid}")


# ---------------------------------------------------------------- Landlock

_NR = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446), "arm64": (444, 445, 446)}
_PR_SET_NO_NEW_PRIVS = 38
_VERSION = 1  # landlock_create_ruleset flag: return the ABI version
_RULE_PATH_BENEATH = 1

# Filesystem rights, and the ABI that introduced each.
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1
_FILE_RIGHTS = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | (1 << 14)  # rights that apply to a file itself


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 where there is none (not Linux, disabled, too old)."""
    numbers = _NR.get(platform.machine())
    if sys.platform != "linux" or numbers is None:
        return 0
    try:
        libc = _libc()
        libc.syscall.restype = ctypes.c_long
        version = libc.syscall(ctypes.c_long(numbers[0]), None, ctypes.c_size_t(0), ctypes.c_uint(_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(0, int(version))


def handled_fs_rights(abi: int) -> int:
    return _FS_RIGHTS_BY_ABI[max(k for k in _FS_RIGHTS_BY_ABI if k <= abi)] if abi else 0


def landlock_features(abi: int) -> list:
    """What a ruleset of this ABI restricts, as the report names it."""
    return [name for name, needed in (("fs", 1), ("net", 4), ("signals", 6)) if abi >= needed]


def restrict(read_only: list, read_write: list, abi: int) -> None:
    """Enforce Landlock on this process and everything it starts (irreversible).

    ``read_only``: files and folders the process may read (folders: everything beneath);
    ``read_write``: files it may also write (folders: create, write and remove beneath).
    Everything else on the file system is refused, whatever the uid's permissions.
    """
    if abi < 1:
        raise ConfinementError("Landlock is not available")
    create, add_rule, restrict_self = _NR[platform.machine()]
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    fs_rights = handled_fs_rights(abi)
    attr = _RulesetAttr(fs_rights, (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0,
                        (_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if abi >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = _check(libc.syscall(ctypes.c_long(create), ctypes.byref(attr), ctypes.c_size_t(size),
                                  ctypes.c_uint(0)), "landlock_create_ruleset")
    try:
        read = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
        for paths, rights in ((read_only, read), (read_write, fs_rights)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except FileNotFoundError:
                    continue
                try:
                    allowed = rights if stat.S_ISDIR(os.fstat(fd).st_mode) else rights & _FILE_RIGHTS
                    rule = _PathBeneathAttr(allowed & fs_rights, fd)
                    _check(libc.syscall(ctypes.c_long(add_rule), ctypes.c_int(ruleset),
                                        ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint(0)),
                           f"landlock_add_rule({path})")
                finally:
                    os.close(fd)
        _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
        _check(libc.syscall(ctypes.c_long(restrict_self), ctypes.c_int(ruleset), ctypes.c_uint(0)),
               "landlock_restrict_self")
    finally:
        os.close(ruleset)


# ---------------------------------------------------------------- seccomp

# What Landlock and the namespaces leave open, refused with EPERM by a seccomp filter (x86_64, whose
# numbers these are; elsewhere no filter is applied and the isolation line says so): System V IPC and
# POSIX queues (memory no rlimit counts, and a nested user namespace would lift the IPC namespace's
# limits), anonymous memory files, the kernel keyring (not namespaced: keys outlive the test and
# reach the next handin given the same uid), new namespaces, tracing and other processes' memory,
# file handles, BPF, userfaultfd and io_uring; and UNIX sockets (a path-named socket outside the
# sandbox is reachable through any network namespace).
_AUDIT_ARCH_X86_64 = 0xC000003E
_DENIED_X86_64 = {"shmget": 29, "semget": 64, "msgget": 68, "mq_open": 240, "memfd_create": 319,
                  "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272, "setns": 308,
                  "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "name_to_handle_at": 303,
                  "open_by_handle_at": 304, "perf_event_open": 298, "bpf": 321, "userfaultfd": 323,
                  "io_uring_setup": 425}
_SOCKET_CALLS_X86_64 = (41, 53)  # socket, socketpair: refused for AF_UNIX only
_AF_UNIX, _X32_SYSCALL_BIT = 1, 0x40000000
_LD_ABS_W, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06
_RET_ALLOW, _RET_EPERM, _RET_KILL = 0x7FFF0000, 0x00050000 | 1, 0x80000000
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def seccomp_available() -> bool:
    return sys.platform == "linux" and platform.machine() == "x86_64"


def seccomp_program() -> list:
    """The filter as (code, jt, jf, k) instructions over struct seccomp_data (nr at 0, arch at 4, args at 16).

    A jump's offsets count from the next instruction: ``_jump`` computes them from the target's index.
    """
    denied, sockets = sorted(_DENIED_X86_64.values()), list(_SOCKET_CALLS_X86_64)
    head = [(_LD_ABS_W, 0, 0, 4), (_JEQ_K, 1, 0, _AUDIT_ARCH_X86_64), (_RET_K, 0, 0, _RET_KILL),
            (_LD_ABS_W, 0, 0, 0), (_JGE_K, 0, 1, _X32_SYSCALL_BIT), (_RET_K, 0, 0, _RET_EPERM)]
    first_test = len(head)
    allow = first_test + len(denied) + len(sockets)  # the ALLOW after the tests
    socket_block, eperm = allow + 1, allow + 4
    tests = [(_JEQ_K, _jump(first_test + i, eperm), 0, number) for i, number in enumerate(denied)]
    tests += [(_JEQ_K, _jump(first_test + len(denied) + i, socket_block), 0, number)
              for i, number in enumerate(sockets)]
    tail = [(_RET_K, 0, 0, _RET_ALLOW),
            (_LD_ABS_W, 0, 0, 16), (_JEQ_K, 1, 0, _AF_UNIX), (_RET_K, 0, 0, _RET_ALLOW),
            (_RET_K, 0, 0, _RET_EPERM)]
    return head + tests + tail


def _jump(at: int, target: int) -> int:
    return target - at - 1


def deny_syscalls() -> None:
    """Install the seccomp filter on this process and everything it starts (irreversible)."""
    program = seccomp_program()
    filters = (_SockFilter * len(program))(*[_SockFilter(*instruction) for instruction in program])
    fprog = _SockFprog(len(program), filters)
    libc = _libc()
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    _check(libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "installing seccomp")


# ---------------------------------------------------------------- all of it, in order

def confine(spec: dict, scratch: Path) -> None:
    """Apply what the grader asked for in ``spec`` (see ``autograder.grading.sandbox``), in order.

    ``spec``: limits (dict), uid and gid (or None: stay the grader's user), landlock
    (the ABI to use, 0 for none), read_only and read_write (path lists), and reveal:
    the folders the uid must reach (the Python installation, NumPy, the handin).
    """
    uid, gid = spec.get("uid"), spec.get("gid")
    if uid is not None:
        own_namespaces()
        reveal(list(spec["reveal"]), uid, gid, scratch)
    apply_limits(spec.get("limits") or {})
    if uid is not None:
        drop_privileges(uid, gid)
    if spec.get("landlock"):
        restrict(list(spec["read_only"]), list(spec["read_write"]), int(spec["landlock"]))
    if spec.get("seccomp"):
        deny_syscalls()


def describe(uid: Optional[int], abi: int, seccomp: bool = False) -> str:
    """The isolation line of a report: 'uid 61001 + namespaces (mount, ipc, net) + landlock abi 7 (...) + rlimits'."""
    parts = []
    if uid is not None:
        parts.append(f"uid {uid} + namespaces (mount, ipc, net)")
    if abi:
        parts.append(f"landlock abi {abi} ({', '.join(landlock_features(abi))})")
    if seccomp:
        parts.append("seccomp (ipc, keys, unix sockets, namespaces)")
    if resource is not None:
        parts.append("rlimits")
    if uid is None and not abi:
        return "unisolated (" + (" + ".join(parts) or "no limits") + "): the handin ran with the grader's own rights"
    return " + ".join(parts)
