"""Finding the ``mytorch/`` to grade: a folder, a handin archive, or the bundled reference.

Archives are unpacked member by member into a fresh folder. A member is
refused (skipped, and named in the report) when its path is absolute or
climbs out with ``..``, when it is a link, a device or a FIFO, or when the
archive grows past the size limits; the rest is unpacked and graded.
"""

from __future__ import annotations

import importlib.util
import stat
import tarfile
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Iterator, Optional

from autograder.grading.sandbox import GRADER_ROOT

MAX_MEMBERS = 5000
MAX_TOTAL_BYTES = 200 * 2**20
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".zip")


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
    return path.is_file() and path.name.endswith(ARCHIVE_SUFFIXES)


def lone_archive(folder: Path) -> Optional[Path]:
    """The one handin archive in a folder that holds no mytorch/ (Gradescope's submission/ with a handin.tar)."""
    if not folder.is_dir() or (folder / "mytorch").is_dir() or any(p.is_dir() for p in folder.glob("*/mytorch")):
        return None
    archives = [p for p in folder.iterdir() if not p.name.startswith(".") and is_archive(p)]
    return archives[0] if len(archives) == 1 else None


@contextmanager
def open_handin(path: Optional[Path], warnings: list) -> Iterator[Path]:
    """The folder that directly contains the ``mytorch/`` to grade, for as long as the context lasts.

    ``path`` is a folder, an archive, a folder holding one archive, or None for
    the bundled reference. An archive is unpacked into a temporary folder that
    is removed on exit. Refused archive members are appended to ``warnings``;
    ``SubmissionError`` says why there is nothing to grade.
    """
    if path is None:
        yield reference_root()
        return
    archive = path if is_archive(path) else lone_archive(path)
    if archive is None:
        yield locate(path, warnings)
        return
    if archive != path:
        warnings.append(f"graded the archive {archive.name}")
    with tempfile.TemporaryDirectory(prefix="mytorch-handin-") as scratch:
        folder, refused = unpack(archive, Path(scratch))
        warnings.extend(refused)
        yield locate(folder, warnings)


def locate(path: Path, warnings: list) -> Path:
    """The folder that directly contains the submission's ``mytorch/``."""
    if not path.exists():
        raise SubmissionError(f"{path} does not exist")
    if path.is_file():
        raise SubmissionError(f"{path} is not a folder or a .tar/.tar.gz/.zip archive")
    if (path / "mytorch").is_dir():
        return path.resolve()
    nested = [p.parent for p in sorted(path.glob("*/mytorch")) if p.is_dir()]
    if len(nested) == 1:
        warnings.append(f"graded {nested[0].relative_to(path)}/mytorch (the handin had an extra top folder)")
        return nested[0].resolve()
    raise SubmissionError(f"no mytorch/ folder in {path}")


def unpack(archive: Path, destination: Optional[Path] = None) -> tuple:
    """Safely unpack ``archive``; returns (folder, warnings about refused members)."""
    target = Path(destination or tempfile.mkdtemp(prefix="mytorch-handin-")).resolve()
    warnings: list = []
    try:
        members = _zip_members(archive) if archive.name.endswith(".zip") else _tar_members(archive)
        _unpack_members(members, target, warnings)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as error:
        raise SubmissionError(f"{archive.name} is not a readable archive ({error})") from None
    return target, warnings


def _safe_path(name: str, target: Path, warnings: list) -> Optional[Path]:
    pure = PurePosixPath(name.replace("\\", "/"))
    if not pure.parts or pure.is_absolute() or ":" in pure.parts[0]:  # "C:" is absolute on Windows
        warnings.append(f"refused {name!r}: absolute or empty path")
        return None
    if ".." in pure.parts:
        warnings.append(f"refused {name!r}: path leaves the handin folder")
        return None
    path = (target / pure).resolve()
    if not path.is_relative_to(target):
        warnings.append(f"refused {name!r}: path leaves the handin folder")
        return None
    return path


def _tar_members(archive: Path) -> Iterator[tuple]:
    """(name, kind, size, open) per member; kind is file, dir, link or special."""
    with tarfile.open(archive) as tar:
        for member in tar:
            kind = ("dir" if member.isdir() else "file" if member.isfile()
                    else "link" if member.issym() or member.islnk() else "special")
            yield member.name, kind, member.size, lambda member=member: tar.extractfile(member)


def _zip_members(archive: Path) -> Iterator[tuple]:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            mode = info.external_attr >> 16
            kind = ("link" if stat.S_ISLNK(mode) else "special" if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))
                    else "dir" if info.is_dir() else "file")
            yield info.filename, kind, info.file_size, lambda info=info: zf.open(info)


def _unpack_members(members: Iterator[tuple], target: Path, warnings: list) -> None:
    """Write the safe regular files and folders of an archive under ``target``; refuse the rest."""
    total = 0
    for count, (name, kind, size, open_member) in enumerate(members):
        if count >= MAX_MEMBERS:
            warnings.append(f"stopped after {MAX_MEMBERS} members")
            break
        path = _safe_path(name, target, warnings)
        if path is None:
            continue
        if kind in ("link", "special"):
            warnings.append(f"refused {name!r}: {'link' if kind == 'link' else 'device or special file'}")
            continue
        if kind == "dir":
            path.mkdir(parents=True, exist_ok=True)
            continue
        total += size
        if total > MAX_TOTAL_BYTES:
            warnings.append(f"stopped at {name!r}: handin larger than {MAX_TOTAL_BYTES // 2**20} MiB")
            break
        source = open_member()
        if source is not None:
            with source:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(source.read(size + 1)[:size])
