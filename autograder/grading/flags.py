"""Flags for staff: what in a staged handin a TA should look at.

Grading confines the test processes, but it cannot tell an honest function
from one that reaches for the grader (its modules, the frames that call it,
its files), for other processes, or for code copied from the grader. This
module reads the handin's sources (never imports or runs them) and lists such
places as {"file", "line", "what"}. A flag is a pointer for a human: it never
changes a score, and an honest handin may well have one.

What is flagged: references to ``autograder``; ``sys.modules``,
``gc.get_objects`` and friends; frame inspection (``sys._getframe``,
``inspect``, ``f_back``, ``f_globals``); ``ctypes``; ``/proc``; signals
(``os.kill``, ``signal``); new processes and the network (``fork``,
``subprocess``, ``socket``, ``os.system``, ``os.exec*``, ``os.spawn*``,
``pty``); ``importlib``, ``builtins``, ``__import__``, ``exec``/``eval``;
files opened for writing, changed or removed, or opened outside the handin
(an absolute path or one with ``..``); compiled files shipped instead of
sources; a file whose content is byte for byte a file of the autograder
package; and a file that does not parse.

The scan is budgeted: at most ``MAX_FILES`` files of at most ``MAX_FILE_BYTES``
each, ``MAX_TOTAL_BYTES`` and ``MAX_SECONDS`` in all, and at most ``MAX_FLAGS``
flags; what was left out is itself a flag.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
import stat
import time
from pathlib import Path
from typing import Iterator, Optional

from autograder.grading.text import escape

MAX_FILES = 500
MAX_FILE_BYTES = 2**20
MAX_TOTAL_BYTES = 16 * 2**20  # sources parsed per handin
MAX_SECONDS = 30.0
MAX_FLAGS = 500
MIN_COPIED_BYTES = 256  # grader files shorter than this (empty __init__.py...) say nothing about copying

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # autograder/

# Imported at all: worth a look.
_MODULES = {
    "autograder": "imports the autograder", "ctypes": "ctypes (native calls)", "cffi": "cffi (native calls)",
    "inspect": "inspect (frame inspection)", "gc": "gc (reaches every object)",
    "signal": "signal", "subprocess": "subprocess (new processes)", "multiprocessing": "multiprocessing (fork)",
    "socket": "socket (network)", "pty": "pty (new processes)", "importlib": "importlib",
    "builtins": "builtins", "traceback": "traceback (frame inspection)", "threading": "threading",
    "mmap": "mmap", "fcntl": "fcntl", "resource": "resource (process limits)", "pickle": "pickle",
    "marshal": "marshal", "zipimport": "zipimport (code from an archive)", "zipfile": "zipfile",
    "base64": "base64 (encoded data)", "zlib": "zlib (compressed data)", "lzma": "lzma (compressed data)",
    "bz2": "bz2 (compressed data)", "codecs": "codecs",
}
# Attributes flagged wherever they appear (x.f_back, sys._getframe, ...).
_ATTRIBUTES = {
    "modules": None, "_getframe": "sys._getframe (frame inspection)", "f_back": "f_back (frame inspection)",
    "f_globals": "f_globals (frame inspection)", "f_locals": "f_locals (frame inspection)",
    "f_builtins": "f_builtins (frame inspection)", "tb_frame": "tb_frame (frame inspection)",
    "gi_frame": "gi_frame (frame inspection)", "__globals__": "__globals__", "__builtins__": "__builtins__",
    "__subclasses__": "__subclasses__", "get_objects": "gc.get_objects", "get_referrers": "gc.get_referrers",
    "get_referents": "gc.get_referents", "settrace": "settrace", "setprofile": "setprofile",
    "__code__": "__code__", "meta_path": "sys.meta_path (import hooks)", "path_hooks": "sys.path_hooks (import hooks)",
    # The grader's own names: a handin has no business with them.
    "RUNNERS": "the grader's RUNNERS", "SCENARIOS": "the grader's SCENARIOS", "load_all": "the grader's load_all",
    "make_inputs": "the grader's make_inputs", "expected": ".expected (the grader's oracle?)",
    "numerical_vjp": "the grader's numerical_vjp",
}
_GRADER_NAMES = ("RUNNERS", "SCENARIOS", "load_all", "numerical_vjp")
# Functions of os (and a few others) flagged by name prefix.
_OS_CALLS = ("kill", "killpg", "fork", "forkpty", "system", "popen", "exec", "spawn", "posix_spawn", "setuid",
             "setgid", "seteuid", "setsid", "setpgid", "remove", "unlink", "rename", "replace", "rmdir",
             "removedirs", "chmod", "chown", "truncate", "symlink", "link", "mkfifo", "pidfd_open", "open",
             "write", "dup2", "putenv")
_BUILTIN_CALLS = {"__import__": "__import__", "exec": "exec()", "eval": "eval()", "compile": "compile()",
                  "breakpoint": "breakpoint()"}
# Path methods that change files (not "replace" or "rename": str.replace is everywhere; os.replace is flagged).
_WRITERS = {"write_text", "write_bytes", "unlink", "rmdir", "symlink_to", "hardlink_to", "touch", "chmod", "mkfifo",
            "rmtree", "copyfile", "copytree", "move"}
_STRINGS = ("/proc", "autograder", "grader", "harness", "/dev/", "sys.modules")
_COMPILED = (".so", ".pyd", ".dylib", ".dll", ".pyc", ".pyo")


GIVEN_LIST = PACKAGE_DIR / "grading" / "given_files.txt"  # written into the platforms' bundles only
SOLUTION_MARKER = b"# BEGIN SOLUTION"  # (autograder/markers.py): a file with one is not handed out as it is


@functools.lru_cache(maxsize=1)
def given_hashes() -> frozenset:
    """Digests of the files the kit hands out as they are (the reference's files with no solution in them).

    A handin's file identical to one of them is the kit's code, not the student's: it is not scanned, so
    the kit's own ``visualize.py`` (which starts Graphviz) does not flag every handin. Read from the list
    a bundle carries, else computed from the reference next to the grader, else empty.
    """
    if GIVEN_LIST.exists():
        return frozenset(line.strip() for line in GIVEN_LIST.read_text().splitlines() if line.strip())
    from autograder.grading.staging import SubmissionError, reference_root
    try:
        sources = sorted((reference_root() / "mytorch").rglob("*.py"))
    except SubmissionError:
        return frozenset()
    return frozenset(_digest(data) for data in (p.read_bytes() for p in sources) if SOLUTION_MARKER not in data)


def flag_handin(folder: Path) -> list:
    """Flags for the staged handin in ``folder`` (the folder holding ``mytorch/``); never raises."""
    try:
        return scan(folder / "mytorch", folder)
    except Exception as error:  # a flag scan must never cost a handin its grade
        return [{"file": "", "line": 0, "what": f"the flag scan failed: {escape(error, 200)}"}]


def scan(tree: Path, relative_to: Optional[Path] = None) -> list:
    """Flags for every file under ``tree`` (paths shown relative to ``relative_to``, default ``tree``)."""
    base = relative_to or tree
    copies, given = grader_hashes(), given_hashes()
    flags: list = []
    started, total = time.monotonic(), 0
    for count, path in enumerate(_files(tree)):
        name = path.relative_to(base).as_posix()
        if count >= MAX_FILES:
            flags.append(_flag(name, 0, f"only the first {MAX_FILES} files were scanned"))
            break
        if time.monotonic() - started > MAX_SECONDS:
            flags.append(_flag(name, 0, f"the scan stopped here after {MAX_SECONDS:g} s"))
            break
        if path.name.endswith(_COMPILED):
            flags.append(_flag(name, 0, "compiled code shipped in the handin (not scanned)"))
            continue
        if not path.name.endswith(".py"):
            continue
        size = path.lstat().st_size
        if size > MAX_FILE_BYTES:
            flags.append(_flag(name, 0, f"larger than {MAX_FILE_BYTES // 2**20} MiB (not scanned)"))
            continue
        total += size
        if total > MAX_TOTAL_BYTES:
            flags.append(_flag(name, 0, f"the scan stopped here: more than {MAX_TOTAL_BYTES} bytes of sources"))
            break
        with open(path, "rb") as stream:  # at most the size checked above, even if the file grew since
            source = stream.read(MAX_FILE_BYTES + 1)
        digest = _digest(source)
        if digest in given:
            continue
        copied = copies.get(digest)
        if copied:
            flags.append(_flag(name, 1, f"same content as the grader's {copied}"))
        flags.extend(scan_source(source, name))
        if len(flags) >= MAX_FLAGS:
            break
    if len(flags) > MAX_FLAGS:
        flags = flags[:MAX_FLAGS] + [_flag("", 0, f"more than {MAX_FLAGS} flags: the rest were not listed")]
    return flags


def scan_source(source: bytes, name: str) -> list:
    """Flags for one Python file's source (bytes: its encoding cookie is honoured)."""
    try:
        tree = ast.parse(source, filename=name)
    except SyntaxError as error:
        return [_flag(name, error.lineno or 0, f"does not parse ({escape(error.msg, 120)})")]
    except (ValueError, RecursionError, MemoryError, UnicodeError) as error:
        return [_flag(name, 0, f"does not parse ({type(error).__name__})")]
    aliases = _import_aliases(tree)
    found: dict = {}
    for node in ast.walk(tree):  # ast.walk keeps its own queue: no recursion on deep code
        for what in _node_flags(node, aliases):
            found.setdefault((getattr(node, "lineno", 0), what), None)
    return [_flag(name, line, what) for line, what in sorted(found)]


def _import_aliases(tree: ast.AST) -> dict:
    """{local name: what it names} for the file's imports: ``import sys as s`` makes ``s.modules`` sys.modules."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


@functools.lru_cache(maxsize=1)
def grader_hashes() -> dict:
    """{sha256 of the file's bytes: its path} for the autograder package's Python files (computed once)."""
    hashes = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        data = path.read_bytes()
        if len(data) >= MIN_COPIED_BYTES:
            hashes.setdefault(_digest(data), f"autograder/{path.relative_to(PACKAGE_DIR).as_posix()}")
    return hashes


def _digest(data: bytes) -> str:
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()  # a copy saved with CRLF is still a copy


def _files(tree: Path) -> Iterator[Path]:
    """Regular files under ``tree``, sorted per folder, without following links (the staged tree has none)."""
    pending = [tree]
    while pending:
        folder = pending.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                pending.append(Path(entry.path))
            elif stat.S_ISREG(mode):
                yield Path(entry.path)


def _flag(file: str, line: int, what: str) -> dict:
    return {"file": file, "line": line, "what": what}


def _dotted(node: ast.AST, aliases: Optional[dict] = None) -> str:
    """``a.b.c`` for an attribute chain on a name (its import alias resolved), else the attribute path after
    whatever it is on."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append((aliases or {}).get(node.id, node.id))
    return ".".join(reversed(parts))


def _folded(node: ast.AST, depth: int = 0) -> Optional[str]:
    """The text of a string built from literals ("auto" + "grader", f"{'auto'}grader", "".join([...])), or None."""
    if depth > 30:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _folded(node.left, depth + 1), _folded(node.right, depth + 1)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):  # "...sllac"[::-1]
        text = _folded(node.value, depth + 1)
        bounds = [_slice_bound(b) for b in (node.slice.lower, node.slice.upper, node.slice.step)]
        if text is None or ... in bounds or bounds[2] == 0:
            return None
        return text[slice(*bounds)]
    if isinstance(node, ast.JoinedStr):
        pieces = [_folded(v.value if isinstance(v, ast.FormattedValue) else v, depth + 1) for v in node.values]
        return "".join(pieces) if all(p is not None for p in pieces) else None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join" \
            and len(node.args) == 1 and isinstance(node.args[0], (ast.List, ast.Tuple)):
        glue = _folded(node.func.value, depth + 1)
        pieces = [_folded(e, depth + 1) for e in node.args[0].elts]
        return glue.join(pieces) if glue is not None and all(p is not None for p in pieces) else None
    return None


def _module_flag(module: str) -> Optional[str]:
    top = module.split(".")[0]
    if top in _MODULES:
        return _MODULES[top] if module == top else f"{_MODULES[top]}: {module}"
    return None


def _node_flags(node: ast.AST, aliases: dict) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            what = _module_flag(alias.name)
            if what:
                yield what
    elif isinstance(node, ast.ImportFrom):
        module = node.module or ""
        what = _module_flag(module) if node.level == 0 else None
        if what:
            yield what
        for alias in node.names:
            if module in ("os", "posix", "sys", "gc") or alias.name in _ATTRIBUTES:
                inner = _attribute_flag(f"{module}.{alias.name}", alias.name)
                if inner:
                    yield inner
    elif isinstance(node, ast.Attribute):
        what = _attribute_flag(_dotted(node, aliases), node.attr)
        if what:
            yield what
    elif isinstance(node, ast.Name) and node.id in ("__builtins__", "__import__"):
        yield node.id
    elif isinstance(node, ast.Name) and node.id in _GRADER_NAMES:
        yield _ATTRIBUTES[node.id]
    elif isinstance(node, ast.Call):
        yield from _call_flags(node, aliases)
        folded = _folded(node)
        if folded is not None:
            yield from _string_flags(folded)
    elif isinstance(node, (ast.BinOp, ast.JoinedStr, ast.Subscript)):
        folded = _folded(node)
        if folded is not None:
            yield from _string_flags(folded)
    elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        yield from _string_flags(node.value if isinstance(node.value, str) else node.value.decode("latin-1"))


def _string_flags(text: str) -> Iterator[str]:
    for word in _STRINGS:
        if word in text:
            yield f"mentions {word!r}"
    if text in _ATTRIBUTES:
        yield f"the name {text!r} as a string (getattr?)"


def _slice_bound(node: Optional[ast.AST]) -> object:
    """An int literal (-1 included), None when absent, ``...`` for anything else."""
    if node is None:
        return None
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        sign, node = -1, node.operand
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return sign * node.value
    return ...


def _is_self(args: list) -> bool:
    return len(args) == 1 and isinstance(args[0], ast.Name) and args[0].id == "self"


def _attribute_flag(dotted: str, attr: str) -> Optional[str]:
    head = dotted.split(".")[0]
    if attr == "__dict__":
        return None if dotted == "self.__dict__" else "__dict__ of something else than self (a module's internals?)"
    if attr == "modules":
        return "sys.modules" if head == "sys" else None
    if attr == "path" and head == "sys" and dotted.count(".") == 1:
        return "sys.path (changes where modules are imported from)"
    if attr in ("get_objects", "get_referrers", "get_referents"):
        return f"gc.{attr}" if head == "gc" else None
    if attr in _ATTRIBUTES:
        return _ATTRIBUTES[attr]
    if head in ("os", "posix") and dotted.count(".") == 1 and attr.startswith(_OS_CALLS):
        return dotted
    return None


def _call_flags(node: ast.Call, aliases: dict) -> Iterator[str]:
    function = node.func
    if isinstance(function, ast.Name) and function.id in _BUILTIN_CALLS:
        yield _BUILTIN_CALLS[function.id]
    if isinstance(function, ast.Name) and function.id == "vars" and not _is_self(node.args):
        yield "vars() of something else than self (a module's internals?)"
    if isinstance(function, ast.Attribute) and function.attr in _WRITERS:
        yield f"changes files (.{function.attr})"
    dotted = _dotted(function, aliases)
    keywords = {k.arg: k.value for k in node.keywords if k.arg}
    if dotted in ("open", "io.open", "codecs.open"):  # open(file, mode)
        path = node.args[0] if node.args else keywords.get("file")
        mode = node.args[1] if len(node.args) > 1 else keywords.get("mode")
    elif isinstance(function, ast.Attribute) and function.attr == "open" and dotted != "os.open":  # Path.open(mode)
        path, mode = None, node.args[0] if node.args else keywords.get("mode")
    else:
        return
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str) and set(mode.value) & set("wax+"):
        yield "open() for writing"
    if isinstance(path, ast.Constant) and isinstance(path.value, str) and \
            (path.value.startswith(("/", "~")) or ".." in path.value.replace("\\", "/").split("/")):
        yield f"open() outside the handin: {escape(path.value, 80)}"
