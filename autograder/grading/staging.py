"""Finding the ``mytorch/`` to grade and staging it: a folder, a handin archive, or the bundled reference.

Whatever the handin is, its ``mytorch/`` tree is copied or unpacked into a
fresh staging folder the grader owns (folders 0o750, files 0o640), and the
test processes only ever see that copy: the original is never run in place
and never modified. Only regular files and folders are staged. A member or
file is refused (skipped, and named in the report's notes) when its path is
absolute or climbs out with ``..``, when it is a link, a device or a FIFO,
or when it is nested too deep or named too long; the rest is graded.

A handin is hostile input to the grader itself, so every budget is checked
before the data it bounds is parsed or decompressed:

* tar: every 512-byte header is read and checked by this module first (a GNU
  long name or a pax header larger than ``MAX_HEADER_BYTES`` is refused
  before ``tarfile``, which reads such a header whole, ever sees it), and the
  whole decompressed stream (refused members included, and read to its end
  so a corrupt gzip's checksum is verified) counts against
  ``MAX_TOTAL_BYTES``, ``MAX_MEMBERS`` and ``MAX_SECONDS``; only then does
  ``tarfile`` unpack it. A tar that stops in the middle of a member is refused
  rather than graded in part;
* zip: the central directory's size and entry count are read from the end
  record and counted before ``zipfile`` builds its list of members;
* folders: walked without following links, under the same budgets.

Anything that goes wrong while unpacking becomes one ``SubmissionError``
with a short message (names in messages are escaped and capped).
"""

from __future__ import annotations

import bz2
import gzip
import importlib.util
import lzma
import os
import shutil
import stat
import struct
import tarfile
import tempfile
import time
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Iterator, Optional

from autograder.grading.sandbox import GRADER_ROOT
from autograder.grading.text import escape, shown_name

MAX_MEMBERS = 5000  # archive members or folder entries, refused ones included
MAX_TOTAL_BYTES = 200 * 2**20  # decompressed bytes, refused members included
MAX_HEADER_BYTES = 64 * 2**10  # one GNU long name / long link or pax header
MAX_EXTENSION_HEADERS = 8  # such headers in a row before a member (a real archive has at most 3 or 4)
MAX_DEPTH = 32  # folders from the top of the handin to a file
MAX_NAME_CHARS = 1024  # a member's whole path
MAX_PART_BYTES = 255  # one component of a path (the usual file-system limit)
MAX_CENTRAL_DIRECTORY = 4 * 2**20  # a zip's list of members (5000 entries of ~800 bytes)
MAX_SECONDS = 60.0  # to unpack or copy one handin
MAX_LISTED = 50  # refused members named one by one in the notes; the rest are counted

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".zip")
DIR_MODE, FILE_MODE = 0o750, 0o640
_CHUNK = 2**20
_BLOCK = 512


class SubmissionError(Exception):
    """The submission cannot be graded at all (missing, not an archive, no mytorch/)."""


def reference_root() -> Path:
    """The folder holding the bundled reference ``mytorch`` (found without importing it)."""
    if (GRADER_ROOT / "mytorch" / "__init__.py").exists():
        return GRADER_ROOT
    spec = importlib.util.find_spec("mytorch")
    if spec is None or not spec.origin:
        raise SubmissionError("the reference mytorch is not installed next to the autograder")
    return Path(spec.origin).resolve().parent.parent


def is_archive(path: Path) -> bool:
    """A regular file (not a link) whose name ends like a handin archive."""
    return path.name.endswith(ARCHIVE_SUFFIXES) and _is_real(path, stat.S_ISREG)


def lone_archive(folder: Path) -> Optional[Path]:
    """The one handin archive in a folder that holds no mytorch/ (Gradescope's submission/ with a handin.tar)."""
    if not _is_real(folder, stat.S_ISDIR) or _mytorch_candidates(folder):
        return None
    archives = _archives_in(folder)
    return archives[0] if len(archives) == 1 else None


# ---------------------------------------------------------------- budgets


class Budget:
    """What one handin may cost the grader: members, decompressed bytes, seconds."""

    def __init__(self, what: str, members: int = 0, total_bytes: int = 0, seconds: float = 0.0):
        self.what = what  # the handin, for the messages (already escaped)
        self.max_members = members or MAX_MEMBERS
        self.max_bytes = total_bytes or MAX_TOTAL_BYTES
        self.max_seconds = seconds or MAX_SECONDS
        self.members = self.bytes = 0
        self.started = time.monotonic()

    def member(self) -> None:
        self.members += 1
        if self.members > self.max_members:
            raise SubmissionError(f"{self.what} has more than {self.max_members} members (the limit)")
        self.check_time()

    def spend(self, count: int) -> None:
        self.bytes += count
        if self.bytes > self.max_bytes:
            raise SubmissionError(f"{self.what} unpacks to more than {_size(self.max_bytes)} "
                                  "(the limit, refused members included)")
        self.check_time()

    def check_time(self) -> None:
        if time.monotonic() - self.started > self.max_seconds:
            raise SubmissionError(f"{self.what} took more than {self.max_seconds:g} s to unpack (the limit)")


class _Refusals:
    """Refused members: the first ``MAX_LISTED`` named in the warnings, the others counted."""

    def __init__(self, warnings: list):
        self.warnings, self.unlisted = warnings, 0

    def __call__(self, name: str, why: str) -> None:
        listed = sum(w.startswith("refused") for w in self.warnings)
        if listed < MAX_LISTED:
            self.warnings.append(f"refused {shown_name(name)}: {why}")
        else:
            self.unlisted += 1

    def close(self) -> None:
        if self.unlisted:
            self.warnings.append(f"and {self.unlisted} more members refused (only the first {MAX_LISTED} listed)")


# ---------------------------------------------------------------- staging


@contextmanager
def open_handin(path: Optional[Path], warnings: list, group: Optional[int] = None) -> Iterator[Path]:
    """The staging folder that directly contains the ``mytorch/`` to grade, for as long as the context lasts.

    ``path`` is a folder (holding ``mytorch/``, or one folder holding it, or one
    archive), an archive, or None for the bundled reference. Its ``mytorch/``
    tree is copied or unpacked into a fresh folder (made with ``mkdtemp``, so
    no one else can create it first) that is removed on exit. Folders are
    0o750 and files 0o640; with ``group`` (the grader runs as root), every
    staged path is owned by (the grader, ``group``), so a test process of that
    group can read the handin but not change it. Refused members and notes on
    ambiguous uploads are appended to ``warnings``; ``SubmissionError`` says
    why there is nothing to grade.
    """
    root = Path(tempfile.mkdtemp(prefix="mytorch-handin-")).resolve()
    try:
        try:
            stage(path, root, warnings)
        except RecursionError:
            raise SubmissionError(f"{_shown_path(path)} is nested too deeply to stage") from None
        except OSError as error:
            raise SubmissionError(f"{_shown_path(path)} could not be staged ({escape(error, 200)})") from None
        _seal(root, group)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def stage(path: Optional[Path], root: Path, warnings: list) -> None:
    """Put the ``mytorch/`` of ``path`` (None: the reference) at ``root/mytorch``."""
    if path is None:
        _copy_tree(reference_root() / "mytorch", root / "mytorch", Budget("the reference"), _Refusals([]))
        return
    path = Path(path)
    if not os.path.lexists(path):
        raise SubmissionError(f"{escape(path, 300)} does not exist")
    if os.path.islink(path):
        raise SubmissionError(f"{escape(path, 300)} is a symbolic link (not followed)")
    if is_archive(path):
        _stage_archive(path, root, warnings)
        return
    if not path.is_dir():
        raise SubmissionError(f"{escape(path, 300)} is not a folder or a .tar/.tar.gz/.zip archive")
    candidates = _mytorch_candidates(path)
    archives = _archives_in(path)
    if candidates:
        found = _pick(path, candidates, warnings)
        if archives:
            warnings.append(f"the upload also holds {_names(archives)}, which was not graded: graded "
                            f"{escape(found.relative_to(path).as_posix(), 200)}/ (upload only one of the two)")
        refusals = _Refusals(warnings)
        _copy_tree(found, root / "mytorch", Budget(shown_name(path.name)), refusals)
        refusals.close()
        return
    if len(archives) == 1:
        warnings.append(f"graded the archive {shown_name(archives[0].name)}")
        _stage_archive(archives[0], root, warnings)
        return
    if len(archives) > 1:
        raise SubmissionError(f"{escape(path, 300)} holds {len(archives)} archives ({_names(archives)}) and no "
                              "mytorch/ folder: upload only one")
    raise SubmissionError(f"no mytorch/ folder in {escape(path, 300)}")


def _stage_archive(archive: Path, root: Path, warnings: list) -> None:
    unpacked = root / "unpacked"
    unpack(archive, unpacked, warnings=warnings)
    candidates = _mytorch_candidates(unpacked)
    if not candidates:
        raise SubmissionError(f"no mytorch/ folder in {shown_name(archive.name)}")
    found = _pick(unpacked, candidates, warnings, shown_name(archive.name))
    os.rename(found, root / "mytorch")
    shutil.rmtree(unpacked)  # the rest of the archive is not for the test processes


def _pick(folder: Path, candidates: list, warnings: list, what: str = "") -> Path:
    """The one ``mytorch/`` to grade among ``folder/mytorch`` and ``folder/*/mytorch``."""
    if candidates[0] == folder / "mytorch":
        return candidates[0]
    if len(candidates) == 1:
        warnings.append(f"graded {escape(candidates[0].parent.name, 200)}/mytorch (the handin had an extra top folder)")
        return candidates[0]
    shown = ", ".join(escape(c.relative_to(folder).as_posix(), 80) for c in candidates[:5])
    raise SubmissionError(f"no mytorch/ folder in {what or escape(folder, 300)} (several one folder down: {shown}; "
                          "keep only one)")


def _mytorch_candidates(folder: Path) -> list:
    """Real (not linked) ``mytorch`` folders: ``folder/mytorch`` first, else those one folder down."""
    if _is_real(folder / "mytorch", stat.S_ISDIR):
        return [folder / "mytorch"]
    found = []
    try:
        with os.scandir(folder) as entries:
            for count, entry in enumerate(entries):
                if count >= MAX_MEMBERS:
                    break
                if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False) \
                        and _is_real(Path(entry.path) / "mytorch", stat.S_ISDIR):
                    found.append(Path(entry.path) / "mytorch")
    except OSError:
        return []
    return sorted(found)


def _archives_in(folder: Path) -> list:
    try:
        with os.scandir(folder) as entries:
            names = [e.name for _, e in zip(range(MAX_MEMBERS), entries)]
    except OSError:
        return []
    return sorted(folder / n for n in names if not n.startswith(".") and is_archive(folder / n))


def _size(count: int) -> str:
    return f"{count / 2**20:g} MiB" if count >= 2**20 else f"{count / 2**10:g} KiB"


def _shown_path(path: Optional[Path]) -> str:
    return "the reference" if path is None else escape(path, 300)


def _names(paths: list) -> str:
    return " and ".join(shown_name(p.name, 80) for p in paths[:2]) + (f" and {len(paths) - 2} more" if len(paths) > 2
                                                                       else "")


def _is_real(path: Path, kind: Callable[[int], bool]) -> bool:
    """``path`` exists and is of ``kind`` itself (a link to one does not count)."""
    try:
        return kind(os.lstat(path).st_mode)
    except (OSError, ValueError):
        return False


def _copy_tree(source: Path, target: Path, budget: Budget, refuse: Callable[[str, str], None]) -> None:
    """Copy the regular files and folders under ``source``; links, devices and FIFOs are refused, never followed."""
    target.mkdir(mode=0o700)
    pending = [(source, target, 0)]
    while pending:  # a loop, not recursion: depth is bounded by MAX_DEPTH but never costs a stack frame
        folder, into, depth = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                budget.member()
                name = os.path.join(into.relative_to(target.parent), entry.name)
                if entry.name == "__pycache__":
                    continue  # compiled files are rebuilt from the sources; a shipped one could hide code
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISLNK(mode):
                    refuse(name, "link (not followed)")
                elif stat.S_ISDIR(mode):
                    if depth + 1 >= MAX_DEPTH:
                        refuse(name, f"nested deeper than {MAX_DEPTH} folders")
                        continue
                    (into / entry.name).mkdir(mode=0o700)
                    pending.append((Path(entry.path), into / entry.name, depth + 1))
                elif stat.S_ISREG(mode):
                    _copy_file(Path(entry.path), into / entry.name, name, budget, refuse)
                else:
                    refuse(name, "device or special file")


def _copy_file(source: Path, target: Path, name: str, budget: Budget, refuse: Callable[[str, str], None]) -> None:
    # O_NOFOLLOW and O_NONBLOCK: a file swapped for a link or a FIFO since the listing is neither
    # followed nor waited on; fstat then checks what was really opened.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(source, flags)
    except OSError as error:
        refuse(name, f"could not be read ({escape(error.strerror or error, 80)})")
        return
    with os.fdopen(fd, "rb") as stream:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            refuse(name, "device or special file")
            return
        with _create(target) as out:
            _pump(stream, out, budget)


def _create(path: Path) -> BinaryIO:
    """A new file only the grader can read until ``_seal`` (O_EXCL: never an existing file or link)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    return os.fdopen(fd, "wb")


def _pump(source: BinaryIO, out: BinaryIO, budget: Optional[Budget], limit: Optional[int] = None) -> int:
    """Copy in chunks, every byte counted against the budget (if any); at most ``limit`` bytes."""
    copied = 0
    while limit is None or copied < limit:
        chunk = source.read(_CHUNK if limit is None else min(_CHUNK, limit - copied))
        if not chunk:
            break
        if budget is not None:
            budget.spend(len(chunk))
        out.write(chunk)
        copied += len(chunk)
    return copied


def _seal(root: Path, group: Optional[int]) -> None:
    """Give every staged path its final mode (folders 0o750, files 0o640) and owner."""
    owner = os.geteuid() if hasattr(os, "geteuid") else -1
    for folder, dirs, files in os.walk(root, topdown=True, followlinks=False):
        os.chmod(folder, DIR_MODE)
        if group is not None:
            os.chown(folder, owner, group, follow_symlinks=False)
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            path = os.path.join(folder, name)
            if os.path.islink(path):  # never made by staging; removed rather than trusted
                os.unlink(path)
                continue
            os.chmod(path, FILE_MODE)
            if group is not None:
                os.chown(path, owner, group, follow_symlinks=False)


# ---------------------------------------------------------------- archives


def unpack(archive: Path, destination: Optional[Path] = None, warnings: Optional[list] = None,
           budget: Optional[Budget] = None) -> tuple:
    """Safely unpack ``archive`` into ``destination`` (a new folder); returns (folder, warnings).

    The warnings name the refused members. Any unreadable, corrupt, encrypted or
    over-budget archive raises ``SubmissionError``.
    """
    target = Path(destination or tempfile.mkdtemp(prefix="mytorch-handin-")).resolve()
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    warnings = [] if warnings is None else warnings
    what = shown_name(archive.name)
    budget = budget or Budget(what)
    refusals = _Refusals(warnings)
    try:
        if archive.name.endswith(".zip"):
            _unpack_zip(archive, target, budget, refusals, what)
        else:
            scan = Budget(what, seconds=budget.max_seconds)
            scan.started = budget.started  # one time budget for both passes
            if not _scan_tar(archive, scan, what):
                warnings.append(f"{what} ends without the tar end-of-archive marker (it may be cut short)")
            _unpack_tar(archive, target, budget, refusals)
    except SubmissionError:
        raise
    except RecursionError:
        raise SubmissionError(f"{what} is nested too deeply to unpack") from None
    except (tarfile.TarError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, zlib.error,
            lzma.LZMAError, RuntimeError, NotImplementedError, UnicodeError, ValueError, struct.error) as error:
        raise SubmissionError(f"{what} is not a readable archive ({escape(error, 200)})") from None
    refusals.close()
    return target, warnings


def _member_path(name: str, target: Path, refuse: Callable[[str, str], None]) -> Optional[Path]:
    """Where a member goes under ``target``, or None (refused, with the reason)."""
    if "\x00" in name:
        refuse(name, "NUL character in the name")
        return None
    if len(name) > MAX_NAME_CHARS:
        refuse(name, f"name longer than {MAX_NAME_CHARS} characters")
        return None
    pure = PurePosixPath(name.replace("\\", "/"))
    if not pure.parts or pure.is_absolute() or ":" in pure.parts[0]:  # "C:" is absolute on Windows
        refuse(name, "absolute or empty path")
        return None
    if ".." in pure.parts:
        refuse(name, "path leaves the handin folder")
        return None
    if len(pure.parts) > MAX_DEPTH:
        refuse(name, f"nested deeper than {MAX_DEPTH} folders")
        return None
    if any(len(os.fsencode(part)) > MAX_PART_BYTES for part in pure.parts):
        refuse(name, f"a part of the name is longer than {MAX_PART_BYTES} bytes")
        return None
    if "__pycache__" in pure.parts:
        return None  # compiled files are rebuilt from the sources; a shipped one could hide code that differs
    path = target.joinpath(*[p for p in pure.parts if p != "."])
    if path == target:
        return None  # "./": the top folder itself
    return path


def _write_member(name: str, kind: str, path: Path, target: Path, opener: Callable[[], Optional[BinaryIO]],
                  size: int, refuse: Callable[[str, str], None]) -> None:
    """Make one folder or write one regular file of at most ``size`` bytes (already counted against the
    budget); a member that cannot be written is refused."""
    try:
        for parent in reversed(path.relative_to(target).parents[:-1]):
            folder = target / parent
            if not folder.is_dir() or folder.is_symlink():
                folder.mkdir(mode=0o700)
        if kind == "dir":
            if not path.is_dir():
                path.mkdir(mode=0o700)
            return
        if os.path.lexists(path):
            if not _is_real(path, stat.S_ISREG):
                refuse(name, "a folder of the same name is already in the archive")
                return
            path.unlink()  # a later member of the same name replaces the earlier one, as tar does
        source = opener()
        if source is None:
            return
        with source, _create(path) as out:
            copied = _pump(source, out, None, size)
            if source.read(1) and copied >= size:
                raise SubmissionError(f"{shown_name(name)} holds more data than its header says")
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        refuse(name, "clashes with another member of the same name")


def _unpack_tar(archive: Path, target: Path, budget: Budget, refuse: Callable[[str, str], None]) -> None:
    with tarfile.open(archive) as tar:
        for member in tar:
            budget.member()
            budget.spend(member.size if member.isreg() else 0)  # refused members too: tarfile reads past them
            path = _member_path(member.name, target, refuse)
            if path is None:
                continue
            if member.issym() or member.islnk():
                refuse(member.name, "link")
            elif member.isdir():
                _write_member(member.name, "dir", path, target, lambda: None, 0, refuse)
            elif member.isfile():
                _write_member(member.name, "file", path, target, lambda m=member: tar.extractfile(m), member.size,
                              refuse)
            else:
                refuse(member.name, "device or special file")
            budget.check_time()


# Types whose data blocks follow the header (tarfile skips the data of these and of unknown types).
_TAR_DATA = (b"0", b"\x00", b"7")
_TAR_NO_DATA = (b"1", b"2", b"3", b"4", b"5", b"6")


def _open_decompressed(archive: Path) -> BinaryIO:
    with open(archive, "rb") as raw:
        magic = raw.read(6)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.open(archive, "rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(archive, "rb")
    if magic.startswith(b"BZh"):
        return bz2.open(archive, "rb")
    return open(archive, "rb")


def _scan_tar(archive: Path, budget: Budget, what: str) -> bool:
    """Walk every tar header before ``tarfile`` does, enforcing the budgets; True if the end marker was found.

    Raises ``SubmissionError`` for an oversized long-name or pax header, too many
    members or bytes, a bad header checksum, a tar cut inside a member, or a
    compressed stream that is corrupt anywhere (it is read to its end).
    """
    pax_next: dict = {}
    ended = False
    extensions = 0  # long-name and pax headers since the last member: tarfile reads such a chain recursively
    with _open_decompressed(archive) as stream:
        while True:
            block = _read_exactly(stream, _BLOCK, budget)
            if not block:
                break  # no end marker: tarfile stops here too
            if len(block) < _BLOCK:
                if budget.members == 0:
                    raise SubmissionError(f"{what} is not a readable archive (too short to be a tar)")
                raise SubmissionError(f"{what} is cut short inside a tar header")
            if block == b"\x00" * _BLOCK:
                ended = True
                break
            if not _checksum_ok(block) and budget.members == 0 and budget.bytes == _BLOCK:
                raise SubmissionError(f"{what} is not a readable archive (not a tar, nor a gzip, xz or bzip2 of one)")
            if not _checksum_ok(block):
                raise SubmissionError(f"{what} is corrupt: a tar header after member {budget.members} has a bad "
                                      "checksum")
            kind, size = block[156:157], _tar_number(block[124:136], what)
            if kind in (b"L", b"K", b"x", b"g"):
                extensions += 1
                if extensions > MAX_EXTENSION_HEADERS:
                    raise SubmissionError(f"{what} holds more than {MAX_EXTENSION_HEADERS} long-name or pax headers "
                                          "in a row (the limit)")
                if size > MAX_HEADER_BYTES:
                    label = "long name" if kind in (b"L", b"K") else "pax"
                    raise SubmissionError(f"{what} holds a {label} header of {size} bytes (the limit is "
                                          f"{_size(MAX_HEADER_BYTES)})")
                data = _read_exactly(stream, _blocks(size), budget)
                if len(data) < _blocks(size):
                    raise SubmissionError(f"{what} is cut short inside a tar header")
                if kind in (b"x", b"g"):
                    records = _pax_records(data[:size], what)
                    if any(key.startswith("GNU.sparse") for key in records) or (kind == b"g" and "size" in records):
                        raise SubmissionError(f"{what} uses sparse or global-size tar headers (not supported)")
                    if kind == b"x":
                        pax_next = records
                continue
            if kind == b"S":
                raise SubmissionError(f"{what} holds a sparse file (not supported)")
            budget.member()
            extensions = 0
            if "size" in pax_next:
                try:
                    size = int(pax_next["size"])
                except ValueError:
                    raise SubmissionError(f"{what} is corrupt: a pax size is not a number") from None
            pax_next = {}
            if kind in _TAR_DATA or kind not in _TAR_NO_DATA:
                if size < 0:
                    raise SubmissionError(f"{what} is corrupt: a negative member size")
                skipped = _skip(stream, _blocks(size), budget)
                if skipped < _blocks(size):
                    raise SubmissionError(f"{what} is cut short inside a member: only part of it could be graded, "
                                          "so none of it is")
        # Read to the end, so the decompressor checks its CRC and length (tarfile stops at the marker).
        _skip(stream, None, budget)
    return ended


def _read_exactly(stream: BinaryIO, count: int, budget: Budget) -> bytes:
    data = b""
    while len(data) < count:
        chunk = stream.read(count - len(data))
        if not chunk:
            break
        budget.spend(len(chunk))
        data += chunk
    return data


def _skip(stream: BinaryIO, count: Optional[int], budget: Budget) -> int:
    skipped = 0
    while count is None or skipped < count:
        chunk = stream.read(_CHUNK if count is None else min(_CHUNK, count - skipped))
        if not chunk:
            break
        budget.spend(len(chunk))
        skipped += len(chunk)
    return skipped


def _blocks(size: int) -> int:
    return -(-size // _BLOCK) * _BLOCK


def _checksum_ok(block: bytes) -> bool:
    try:
        stored = int(block[148:156].split(b"\x00", 1)[0].strip() or b"0", 8)  # read as tarfile reads it
    except ValueError:
        return False
    header = block[:148] + b" " * 8 + block[156:]
    unsigned = sum(header)
    signed = sum(b - 256 if b > 127 else b for b in header)
    return stored in (unsigned, signed)


def _tar_number(field: bytes, what: str) -> int:
    """A tar numeric field: octal text, or base-256 when the first byte has its top bit set."""
    if field and field[0] & 0x80:
        value = int.from_bytes(field[1:], "big")
        return -(256 ** (len(field) - 1) - value) if field[0] == 0xFF else value
    text = field.split(b"\x00", 1)[0].strip()  # up to the first NUL, as tarfile reads it
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise SubmissionError(f"{what} is corrupt: a tar size field is not a number") from None


def _pax_records(data: bytes, what: str) -> dict:
    """The "LENGTH KEY=VALUE\\n" records of a pax header (only keys and values are kept)."""
    records, position = {}, 0
    while position < len(data) and data[position:position + 1] not in (b"", b"\x00"):
        space = data.find(b" ", position)
        try:
            length = int(data[position:space])
        except ValueError:
            raise SubmissionError(f"{what} is corrupt: a pax header record has no length") from None
        if space < 0 or length <= 0 or position + length > len(data):
            raise SubmissionError(f"{what} is corrupt: a pax header record is malformed")
        key, _, value = data[space + 1:position + length - 1].partition(b"=")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        position += length
    return records


# ---------------------------------------------------------------- zip


def _check_zip_directory(archive: Path, what: str) -> None:
    """Count the central directory's entries from the end record, before ``zipfile`` reads them all."""
    with open(archive, "rb") as raw:
        raw.seek(0, os.SEEK_END)
        end = raw.tell()
        tail_size = min(end, 22 + 0xFFFF)
        raw.seek(end - tail_size)
        tail = raw.read(tail_size)
        # Found as zipfile finds it: a record with no comment at the very end, else the last signature.
        at = len(tail) - 22 if tail[-22:-18] == b"PK\x05\x06" and tail[-2:] == b"\x00\x00" else tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            raise SubmissionError(f"{what} is not a readable archive (not a zip: no end record)")
        total, size = struct.unpack("<6xHL", tail[at + 4:at + 16])
        record = end - tail_size + at  # the central directory ends here
        # As zipfile does: a zip64 end record sits right before its locator, right before the end record.
        if record >= 76:
            raw.seek(record - 76)
            zip64 = raw.read(76)
            if zip64[56:60] == b"PK\x06\x07" and zip64[:4] == b"PK\x06\x06":
                total, size = struct.unpack("<QQ", zip64[32:48])
                record -= 76
        if total > MAX_MEMBERS:
            raise SubmissionError(f"{what} lists {total} members (the limit is {MAX_MEMBERS})")
        if size > MAX_CENTRAL_DIRECTORY:
            raise SubmissionError(f"{what} has a list of members of {size} bytes (the limit is "
                                  f"{_size(MAX_CENTRAL_DIRECTORY)})")
        # zipfile reads entries until it has read `size` bytes, whatever the count says: count them.
        raw.seek(max(0, record - size))
        directory = raw.read(size)
    position = entries = 0
    while position + 46 <= len(directory) and directory[position:position + 4] == b"PK\x01\x02":
        name_len, extra_len, comment_len = struct.unpack("<HHH", directory[position + 28:position + 34])
        position += 46 + name_len + extra_len + comment_len
        entries += 1
        if entries > MAX_MEMBERS:
            raise SubmissionError(f"{what} has more than {MAX_MEMBERS} members (the limit)")


_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


def _zip_kind(info: zipfile.ZipInfo) -> str:
    """file, dir, link or special. Mode bits count only when written by a Unix zip and they hold a
    file type: ``ZipFile.writestr`` stores permissions alone (0o600), which is a regular file."""
    mode = info.external_attr >> 16 if info.create_system == 3 else 0
    kind = stat.S_IFMT(mode)
    if kind == 0:
        return "dir" if info.is_dir() else "file"
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "special"


def _unpack_zip(archive: Path, target: Path, budget: Budget, refuse: Callable[[str, str], None], what: str) -> None:
    _check_zip_directory(archive, what)
    try:
        bundle = zipfile.ZipFile(archive)
    except UnicodeDecodeError:
        raise SubmissionError(f"{what} has a member name that is not valid UTF-8 (though the zip says it is)") from None
    with bundle:
        for info in bundle.infolist():
            budget.member()
            budget.spend(info.file_size)  # declared sizes, refused members included; reads stop there
            path = _member_path(info.filename, target, refuse)
            if path is None:
                continue
            kind = _zip_kind(info)
            if kind == "link":
                refuse(info.filename, "link")
                continue
            if kind == "special":
                refuse(info.filename, "device or special file")
                continue
            if info.flag_bits & 0x1:
                raise SubmissionError(f"{what} is encrypted ({shown_name(info.filename)} needs a password): "
                                      "upload it without a password")
            if info.compress_type not in _ZIP_METHODS:
                raise SubmissionError(f"{what} uses compression method {info.compress_type} for "
                                      f"{shown_name(info.filename)} (deflate64 or another this grader cannot read): "
                                      "make it with plain zip (deflate)")
            _write_member(info.filename, kind, path, target, lambda i=info: bundle.open(i), info.file_size, refuse)
