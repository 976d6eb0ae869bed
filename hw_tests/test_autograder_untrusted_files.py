"""Hostile archives, folders and names on the grader's side: unpacking, staging, reports, batch CSV, flags.

Every archive here is built in the test (tarfile, zipfile or raw bytes) and is
small: the budgets are lowered with monkeypatch where a finding is about size,
so each test shows the check without spending the real budget. Staff-only
(its name starts with test_autograder_).
"""

from __future__ import annotations

import csv
import re
import gzip
import io
import json
import lzma
import os
import stat
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest

from autograder.grading import staging
from autograder.grading.staging import SubmissionError, open_handin, unpack

INIT = b"from .tensor import Tensor\n"
ESC = "\x1b]52;c;ZXZpbA==\x07"  # OSC 52: would set the TA's clipboard


# ---------------------------------------------------------------- helpers

def tar_bytes(members: list, fmt: int = tarfile.GNU_FORMAT, compression: str = "") -> bytes:
    """A tar of (name, data) regular files (data None: a folder)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:" + compression, format=fmt) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def raw_header(name: bytes, kind: bytes, size: int) -> bytes:
    """One 512-byte ustar header with a correct checksum."""
    block = bytearray(512)
    block[0:len(name)] = name
    block[100:108] = b"0000644\x00"
    block[124:136] = b"%011o\x00" % size
    block[156:157] = kind
    block[257:263] = b"ustar\x00"
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block)
    return bytes(block)


def zip_bytes(members: list) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members:
            bundle.writestr(name, data)
    return buffer.getvalue()


def patch_zip(data: bytes, local_at: int, central_at: int, value: bytes) -> bytes:
    """Overwrite the same field in every local header and every central directory entry."""
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", local_at), (b"PK\x01\x02", central_at)):
        start = 0
        while (start := out.find(signature, start)) >= 0:
            out[start + offset:start + offset + len(value)] = value
            start += 4
    return bytes(out)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def stage_of(path: Path) -> tuple:
    """(relative paths of the staged tree, warnings), or raises SubmissionError."""
    warnings: list = []
    with open_handin(path, warnings) as folder:
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
    return files, warnings


def forbid(monkeypatch, module, name: str) -> None:
    """Make ``module.name`` fail the test if it is ever called."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"{name} was called before the budget check")
    monkeypatch.setattr(module, name, refuse)


GOOD = [("mytorch/__init__.py", INIT)]


# ---------------------------------------------------------------- budgets before parsing

@pytest.mark.parametrize("kind", [b"L", b"x"])
def test_an_oversized_long_name_or_pax_header_is_refused_before_tarfile_reads_it(tmp_path, monkeypatch, kind):
    # A 1 MiB long name (the attack used 16 MiB): tarfile would read it whole, then copy it into every reason.
    size = 2**20
    payload = b"a" * size if kind == b"L" else b"%d path=%s\n" % (size, b"a" * (size - 12 - len(str(size))))
    payload = payload[:size].ljust(size, b"\n")
    raw = raw_header(b"././@LongLink", kind, size) + payload + raw_header(b"x.py", b"0", 0) + b"\x00" * 1024
    archive = write(tmp_path / "handin.tar.gz", gzip.compress(raw))
    assert archive.stat().st_size < 16 * 2**10
    forbid(monkeypatch, staging.tarfile, "open")
    with pytest.raises(SubmissionError) as caught:
        stage_of(archive)
    message = str(caught.value)
    assert "header of 1048576 bytes" in message and "64 KiB" in message and len(message) < 300


def test_a_chain_of_pax_headers_is_refused_before_tarfile_recurses_through_it(tmp_path, monkeypatch):
    record = b"20 comment=xxxxxxxx\n"
    chain = (raw_header(b"pax", b"x", len(record)) + record.ljust(512, b"\x00")) * 2000
    archive = write(tmp_path / "handin.tar.gz", gzip.compress(chain + tar_bytes(GOOD)))
    forbid(monkeypatch, staging.tarfile, "open")
    with pytest.raises(SubmissionError, match=r"more than 8 long-name or pax headers in a row \(the limit\)"):
        stage_of(archive)


def test_member_count_is_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(staging, "MAX_MEMBERS", 10)
    archive = write(tmp_path / "handin.tar", tar_bytes(GOOD + [(f"mytorch/f{i}.py", b"") for i in range(10)]))
    forbid(monkeypatch, staging.tarfile, "open")
    with pytest.raises(SubmissionError, match=r"more than 10 members \(the limit\)"):
        stage_of(archive)


def test_refused_members_count_against_the_decompressed_budget(tmp_path, monkeypatch):
    # Members refused for their path (../x) still cost their decompression: they are counted.
    monkeypatch.setattr(staging, "MAX_TOTAL_BYTES", 64 * 2**10)
    archive = write(tmp_path / "handin.tar.gz",
                    tar_bytes(GOOD + [(f"../x{i}", b"\x00" * 40000) for i in range(4)], compression="gz"))
    assert archive.stat().st_size < 8 * 2**10
    forbid(monkeypatch, staging.tarfile, "open")
    with pytest.raises(SubmissionError, match=r"more than 64 KiB \(the limit, refused members included\)"):
        stage_of(archive)


def test_unpacking_has_a_time_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(staging, "MAX_SECONDS", 1e-9)
    archive = write(tmp_path / "handin.tar", tar_bytes(GOOD))
    with pytest.raises(SubmissionError, match=r"took more than 1e-09 s to unpack \(the limit\)"):
        stage_of(archive)


def test_a_zip_with_too_many_entries_is_refused_from_its_end_record(tmp_path, monkeypatch):
    monkeypatch.setattr(staging, "MAX_MEMBERS", 100)
    archive = write(tmp_path / "handin.zip", zip_bytes(GOOD + [(f"d{i}/", b"") for i in range(150)]))
    forbid(monkeypatch, staging.zipfile, "ZipFile")
    with pytest.raises(SubmissionError, match=r"lists 151 members \(the limit is 100\)"):
        stage_of(archive)


def test_a_zip_whose_end_record_understates_its_entries_is_still_refused(tmp_path, monkeypatch):
    # zipfile reads entries for as many bytes as the directory's size, whatever the count says.
    monkeypatch.setattr(staging, "MAX_MEMBERS", 100)
    data = bytearray(zip_bytes(GOOD + [(f"d{i}/", b"") for i in range(150)]))
    end = data.rfind(b"PK\x05\x06")
    data[end + 8:end + 12] = struct.pack("<HH", 1, 1)  # "one entry"
    archive = write(tmp_path / "handin.zip", bytes(data))
    forbid(monkeypatch, staging.zipfile, "ZipFile")
    with pytest.raises(SubmissionError, match=r"more than 100 members"):
        stage_of(archive)


def test_a_zip_whose_directory_is_too_large_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(staging, "MAX_CENTRAL_DIRECTORY", 1024)
    archive = write(tmp_path / "handin.zip", zip_bytes(GOOD + [(f"mytorch/{'d' * 50}{i}/", b"") for i in range(30)]))
    forbid(monkeypatch, staging.zipfile, "ZipFile")
    with pytest.raises(SubmissionError, match=r"list of members of \d+ bytes \(the limit is 1 KiB\)"):
        stage_of(archive)


# ---------------------------------------------------------------- unpacking errors: one clear failure

def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path):
    deep = "mytorch/" + "d/" * 1500 + "x.py"
    archive = write(tmp_path / "handin.tar", tar_bytes(GOOD + [(deep, b"x = 1\n")], fmt=tarfile.PAX_FORMAT))
    files, warnings = stage_of(archive)
    assert files == ["mytorch", "mytorch/__init__.py"]
    assert len(warnings) == 1 and warnings[0].startswith("refused 'mytorch/d/d/") and len(warnings[0]) < 300


def test_a_deeply_nested_folder_handin_is_copied_down_to_the_depth_limit(tmp_path):
    handin = tmp_path / "handin"
    (handin / "mytorch").mkdir(parents=True)
    (handin / "mytorch" / "__init__.py").write_bytes(INIT)
    deep = Path(handin / "mytorch", *["d"] * 200)
    deep.mkdir(parents=True)
    (deep / "x.py").write_text("x = 1\n")
    files, warnings = stage_of(handin)
    assert "mytorch/__init__.py" in files and not any(f.endswith("x.py") for f in files)
    assert len(warnings) == 1 and f"nested deeper than {staging.MAX_DEPTH} folders" in warnings[0]


def test_an_encrypted_zip_is_one_clear_failure(tmp_path):
    data = patch_zip(zip_bytes(GOOD), 6, 8, struct.pack("<H", 0x1))  # "encrypted" flag bit
    with pytest.raises(SubmissionError, match=r"'handin.zip' is encrypted .* upload it without a password"):
        stage_of(write(tmp_path / "handin.zip", data))


def test_a_deflate64_zip_is_one_clear_failure(tmp_path):
    data = patch_zip(zip_bytes(GOOD), 8, 10, struct.pack("<H", 9))  # method 9: deflate64
    with pytest.raises(SubmissionError, match=r"compression method 9 .*deflate64"):
        stage_of(write(tmp_path / "handin.zip", data))


def test_a_corrupt_deflate_stream_is_one_clear_failure(tmp_path):
    body = b"x = 1\n" * 200
    data = bytearray(zip_bytes(GOOD + [("mytorch/a.py", body)]))
    start = data.find(b"mytorch/a.py") + len("mytorch/a.py")  # the local header's name, then the data
    data[start:start + 20] = b"\xff" * 20  # block type 3: invalid
    with pytest.raises(SubmissionError, match=r"'handin.zip' is not a readable archive \(.*\)"):
        stage_of(write(tmp_path / "handin.zip", bytes(data)))


def test_a_bad_utf8_name_under_the_utf8_flag_is_one_clear_failure(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("mytorch/__init__.py", INIT)
        bundle.writestr("mytorch/aaaa.py", b"")
    data = patch_zip(buffer.getvalue(), 6, 8, struct.pack("<H", 0x800))  # "names are UTF-8"
    data = data.replace(b"mytorch/aaaa.py", b"mytorch/\xff\xfe\xfd\xfc.py")
    with pytest.raises(SubmissionError, match="not valid UTF-8"):
        stage_of(write(tmp_path / "handin.zip", data))


def test_a_nul_in_a_pax_path_refuses_that_member_only(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("mytorch/__init__.py")
        info.size = len(INIT)
        tar.addfile(info, io.BytesIO(INIT))
        evil = tarfile.TarInfo("mytorch/evil.py")
        evil.pax_headers = {"path": "mytorch/evil\x00.py"}
        tar.addfile(evil, io.BytesIO(b""))
    files, warnings = stage_of(write(tmp_path / "handin.tar", buffer.getvalue()))
    assert files == ["mytorch", "mytorch/__init__.py"]
    assert warnings == ["refused 'mytorch/evil\\x00.py': NUL character in the name"]


def test_a_corrupt_xz_is_one_clear_failure(tmp_path):
    data = bytearray(lzma.compress(tar_bytes(GOOD + [("mytorch/a.py", os.urandom(4000))])))
    data[len(data) // 2:len(data) // 2 + 16] = b"\x00" * 16
    with pytest.raises(SubmissionError, match=r"'handin.tar' (is not a readable archive|is corrupt)"):
        stage_of(write(tmp_path / "handin.tar", bytes(data)))


def test_a_corrupt_gzip_is_not_graded_in_part(tmp_path):
    # The tar inside is whole, and tarfile stops at its end marker before the gzip trailer: a wrong CRC
    # would go unseen and the handin would be graded as if nothing were wrong.
    data = bytearray(gzip.compress(tar_bytes(GOOD + [("mytorch/a.py", b"x = 1\n")])))
    data[-8:-4] = bytes(b ^ 0xFF for b in data[-8:-4])
    with pytest.raises(SubmissionError, match=r"'handin.tar.gz' is not a readable archive \(.*CRC"):
        stage_of(write(tmp_path / "handin.tar.gz", bytes(data)))


def test_a_gzip_cut_inside_a_member_is_not_graded_in_part(tmp_path):
    raw = tar_bytes(GOOD + [("mytorch/a.py", os.urandom(5000))])
    with pytest.raises(SubmissionError, match="(cut short|not a readable archive)"):
        stage_of(write(tmp_path / "handin.tar.gz", gzip.compress(raw[:2048])))
    with pytest.raises(SubmissionError, match="cut short inside a member"):
        stage_of(write(tmp_path / "handin.tar", raw[:2048]))


def test_a_tar_without_its_end_marker_is_graded_with_a_note(tmp_path):
    raw = tar_bytes(GOOD)
    files, warnings = stage_of(write(tmp_path / "handin.tar", raw[:1024]))  # header + one data block
    assert files == ["mytorch", "mytorch/__init__.py"]
    assert warnings == ["'handin.tar' ends without the tar end-of-archive marker (it may be cut short)"]


def test_a_huge_member_name_is_capped_and_escaped_in_messages(tmp_path):
    name = "mytorch/" + ESC + "\n" + "/".join(["n" * 200] * 4) + ".py"  # under every name limit
    data = patch_zip(zip_bytes([(name, b"")]), 6, 8, struct.pack("<H", 0x1))
    with pytest.raises(SubmissionError) as caught:
        stage_of(write(tmp_path / "handin.zip", data))
    message = str(caught.value)
    assert len(message) < 400 and "\x1b" not in message and "\n" not in message and "\\x1b]52" in message


def test_refused_names_are_escaped_and_only_the_first_ones_listed(tmp_path, monkeypatch):
    monkeypatch.setattr(staging, "MAX_LISTED", 3)
    evil = [(f"/{ESC}{i}\u202e.py", b"") for i in range(5)]
    files, warnings = stage_of(write(tmp_path / "handin.tar", tar_bytes(GOOD + evil)))
    assert files == ["mytorch", "mytorch/__init__.py"]
    assert len(warnings) == 4 and warnings[-1] == "and 2 more members refused (only the first 3 listed)"
    assert all("\x1b" not in w and "\u202e" not in w and "\x07" not in w for w in warnings)
    assert "\\x1b]52;c;ZXZpbA==\\x070\\u202e.py" in warnings[0]


def test_zip_members_without_file_type_bits_are_regular_files(tmp_path):
    # ZipFile.writestr with a name stores permissions only (0o600 << 16): no S_IFREG bit.
    archive = write(tmp_path / "handin.zip", zip_bytes(GOOD + [("mytorch/a.py", b"x = 1\n")]))
    with zipfile.ZipFile(archive) as bundle:
        assert all(stat.S_IFMT(info.external_attr >> 16) == 0 for info in bundle.infolist())
    files, warnings = stage_of(archive)
    assert files == ["mytorch", "mytorch/__init__.py", "mytorch/a.py"] and warnings == []


# ---------------------------------------------------------------- staging

def folder_handin(tmp_path: Path) -> Path:
    handin = tmp_path / "handin"
    (handin / "mytorch" / "sub").mkdir(parents=True)
    (handin / "mytorch" / "__init__.py").write_bytes(INIT)
    (handin / "mytorch" / "sub" / "a.py").write_text("x = 1\n")
    (handin / "notes.txt").write_text("not code\n")
    return handin


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): (p.lstat().st_mode, p.read_bytes() if p.is_file() and not
                                               p.is_symlink() else None) for p in sorted(folder.rglob("*"))}


def test_a_folder_handin_is_copied_never_used_in_place_nor_changed(tmp_path):
    handin = folder_handin(tmp_path)
    os.symlink("/etc/passwd", handin / "mytorch" / "passwd.py")
    os.mkfifo(handin / "mytorch" / "pipe.py")  # read, it would hang the grader
    before = snapshot(handin)
    warnings: list = []
    with open_handin(handin, warnings) as folder:
        assert folder.resolve() != handin.resolve() and not folder.is_relative_to(handin.resolve())
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
        assert files == ["mytorch", "mytorch/__init__.py", "mytorch/sub", "mytorch/sub/a.py"]  # mytorch/ only
        modes = {p.relative_to(folder).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in folder.rglob("*")}
        assert modes == {"mytorch": 0o750, "mytorch/__init__.py": 0o640, "mytorch/sub": 0o750,
                         "mytorch/sub/a.py": 0o640}
        assert stat.S_IMODE(folder.stat().st_mode) == 0o750
    assert not folder.exists()  # removed on exit
    assert snapshot(handin) == before
    assert sorted(warnings) == ["refused 'mytorch/passwd.py': link (not followed)",
                                "refused 'mytorch/pipe.py': device or special file"]


def test_staged_paths_belong_to_the_grader_and_the_given_group(tmp_path):
    group = os.getegid()  # a group the grader is in: allowed without root
    for handin in (folder_handin(tmp_path), write(tmp_path / "handin.tar", tar_bytes(GOOD)), None):
        with open_handin(handin, [], group=group) as folder:
            paths = [folder, *folder.rglob("*")]
            assert all((p.stat().st_uid, p.stat().st_gid) == (os.geteuid(), group) for p in paths)
            assert all(not p.stat().st_mode & 0o027 for p in paths)  # group cannot write, others nothing


def test_the_reference_is_staged_too(tmp_path):
    with open_handin(None, []) as folder:
        assert folder.resolve() != staging.reference_root().resolve()
        assert (folder / "mytorch" / "__init__.py").read_bytes() == \
            (staging.reference_root() / "mytorch" / "__init__.py").read_bytes()
        assert not list(folder.rglob("__pycache__"))


def test_only_python_sources_of_mytorch_are_staged(tmp_path):
    """A zip put on sys.path (carrying, say, a copy of the kit's grader) would hold code no scan reads."""
    archive = write(tmp_path / "handin.tar", tar_bytes([("mytorch/__init__.py", INIT), ("mytorch/res.zip", b"PK"),
                                                        ("mytorch/data.npy", b"x"), ("notes.txt", b"x")]))
    files, warnings = stage_of(archive)
    assert files == ["mytorch", "mytorch/__init__.py"]
    assert warnings == ["refused 'mytorch/res.zip': not a Python source (only .py files are graded)",
                        "refused 'mytorch/data.npy': not a Python source (only .py files are graded)"]
    folder = tmp_path / "folder"
    (folder / "mytorch").mkdir(parents=True)
    (folder / "mytorch" / "__init__.py").write_bytes(INIT)
    (folder / "mytorch" / "res.zip").write_bytes(b"PK")
    warnings = []
    with open_handin(folder, warnings) as staged:
        assert sorted(p.name for p in (staged / "mytorch").iterdir()) == ["__init__.py"]
    assert warnings == ["refused 'mytorch/res.zip': not a Python source (only .py files are graded)"]


def test_an_archive_is_staged_with_only_its_mytorch(tmp_path):
    archive = write(tmp_path / "handin.tar", tar_bytes([("top/README", b"x"), ("top/mytorch/__init__.py", INIT),
                                                        ("top/mytorch/__pycache__/__init__.cpython-311.pyc", b"x")]))
    files, warnings = stage_of(archive)
    assert files == ["mytorch", "mytorch/__init__.py"]
    assert warnings == ["graded top/mytorch (the handin had an extra top folder)"]


def test_an_upload_with_both_a_folder_and_an_archive_grades_the_folder_and_says_so(tmp_path):
    handin = folder_handin(tmp_path)
    write(handin / "handin.tar", tar_bytes([("mytorch/__init__.py", b"raise SystemExit\n")]))
    warnings: list = []
    with open_handin(handin, warnings) as folder:
        assert (folder / "mytorch" / "__init__.py").read_bytes() == INIT
    assert warnings == ["the upload also holds 'handin.tar', which was not graded: graded mytorch/ "
                        "(upload only one of the two)"]


def test_an_upload_with_two_archives_names_both(tmp_path):
    handin = tmp_path / "submission"
    handin.mkdir()
    write(handin / "a.tar", tar_bytes(GOOD))
    write(handin / "b.zip", zip_bytes(GOOD))
    with pytest.raises(SubmissionError, match=r"holds 2 archives \('a.tar' and 'b.zip'\) and no mytorch/ folder"):
        stage_of(handin)


def test_a_lone_archive_in_a_folder_is_graded_with_a_note(tmp_path):
    handin = tmp_path / "submission"
    handin.mkdir()
    write(handin / "handin.tar", tar_bytes(GOOD))
    files, warnings = stage_of(handin)
    assert files == ["mytorch", "mytorch/__init__.py"] and warnings == ["graded the archive 'handin.tar'"]


def test_unpack_never_writes_outside_its_folder_even_through_a_clashing_member(tmp_path):
    # A file then a folder of the same name: the second member is refused, not an OSError for the handin.
    archive = write(tmp_path / "handin.tar", tar_bytes(GOOD + [("mytorch/a.py", b"x"), ("mytorch/a.py/b.py", b"y")]))
    folder, warnings = unpack(archive, tmp_path / "out")
    assert (folder / "mytorch" / "a.py").read_bytes() == b"x"
    assert warnings == ["refused 'mytorch/a.py/b.py': clashes with another member of the same name"]


# ---------------------------------------------------------------- reports: names and reasons escaped

from autograder.grading import report as reports  # noqa: E402
from autograder.grading.grade import Report  # noqa: E402
from autograder.grading.grade import TestResult as Graded  # noqa: E402  (not Test*: pytest would collect it)
from autograder.grading.rubric import RUBRIC  # noqa: E402
from autograder.grading.text import csv_cell, escape  # noqa: E402

FORGED = "NotImplementedError: x\nbackward.sub 2/2 passed\nTOTAL 100 / 100\r"
HIDDEN = ESC + "\x00\x85\u202e\u2028\udcff"  # OSC 52, NUL, a C1 control, a bidi override, a line separator, a non-UTF-8 byte


def hostile_report(name: str = "evil" + ESC + ".tar", isolation: str = "") -> Report:
    key = RUBRIC[0].key
    tests = [Graded(key, "first.test", "Tensor", 0.0, 2.0, "failed", FORGED + HIDDEN, "visible", 0.1,
                    [{"part": "p", "passed": False, "reason": FORGED + "<script>x</script>"}])]
    return Report(name, 7, 0.0, 2.0, tests, 1.0, warnings=[f"refused '{HIDDEN}': link"], isolation=isolation,
                  flags=[{"file": "mytorch/" + ESC + ".py", "line": 2, "what": "ctypes\n"}])


def no_hidden(text: str, allow_newlines: bool = False) -> bool:
    hidden = [c for c in text if (c != "\n" or not allow_newlines)
              and (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u202e\u2028") or 0xD800 <= ord(c) <= 0xDFFF]
    return not hidden


def test_escape_shows_every_hidden_character_as_an_escape():
    assert escape(HIDDEN) == "\\x1b]52;c;ZXZpbA==\\x07\\x00\\x85\\u202e\\u2028\\xff"
    assert escape("a\\b\tc") == "a\\\\b\\tc"
    assert escape("x" * 500, 100) == "x" * 99 + "…"


def test_newlines_in_a_reason_cannot_forge_rows_of_the_table():
    table = reports.table(hostile_report(), width=0)
    assert no_hidden(table, allow_newlines=True)
    assert not any(line.startswith(("TOTAL 100", "backward.sub")) for line in table.splitlines())
    assert sum(line.startswith("TOTAL") for line in table.splitlines()) == 1
    assert "NotImplementedError: x\\nbackward.sub 2/2 passed\\nTOTAL 100 / 100\\r" in table
    assert "seed 7; graded evil\\x1b]52;c;ZXZpbA==\\x07.tar in 1.0 s" in table
    assert "flag: mytorch/\\x1b]52;c;ZXZpbA==\\x07.py:2: ctypes\\n" in table.splitlines()


def test_the_table_footer_states_the_isolation():
    assert "isolation: unknown" in reports.table(hostile_report()).splitlines()
    lines = reports.table(hostile_report(isolation="uid 990 + landlock abi 7 (fs, signals, net) + rlimits")).splitlines()
    assert "isolation: uid 990 + landlock abi 7 (fs, signals, net) + rlimits" in lines


def test_flags_in_the_table_are_capped():
    report = hostile_report()
    report.flags = [{"file": "mytorch/a.py", "line": i, "what": "ctypes"} for i in range(1, 61)]
    flags = [line for line in reports.table(report).splitlines() if line.startswith("flag: ")]
    assert len(flags) == reports.MAX_FLAGS_SHOWN + 1 and flags[-1] == "flag: and 10 more"


def test_json_strings_hold_no_hidden_character():
    text = reports.as_json(hostile_report())
    data = json.loads(text)
    assert no_hidden(json.dumps(data, ensure_ascii=False), allow_newlines=True)
    assert data["submission"] == "evil\\x1b]52;c;ZXZpbA==\\x07.tar"
    assert data["tests"][0]["reason"].startswith("NotImplementedError: x\\nbackward.sub")
    assert data["flags"][0] == {"file": "mytorch/\\x1b]52;c;ZXZpbA==\\x07.py", "line": 2, "what": "ctypes\\n"}
    assert data["version"] == 2 and data["isolation"] == ""


def test_gradescope_output_is_plain_text_escaped_and_states_the_isolation(tmp_path):
    results = reports.gradescope(hostile_report(isolation="uid 990 + rlimits"))
    assert results["output_format"] == "text" and all(t["output_format"] == "text" for t in results["tests"])
    assert results["output"].splitlines()[:2] == ["Graded with seed 7.", "Isolation: uid 990 + rlimits"]
    assert "ctypes" not in json.dumps(results)  # flags are for staff: students see results.json
    output = results["tests"][0]["output"]
    assert no_hidden(output, allow_newlines=True) and no_hidden(results["output"], allow_newlines=True)
    assert output.count("\n") == 1 and "<script>x</script>" in output  # shown as text, not markup
    path = tmp_path / "results.json"
    reports.write_gradescope(hostile_report(), path)
    assert json.loads(path.read_text())["tests"][0]["output"] == reports.gradescope(hostile_report())["tests"][0]["output"]


def test_csv_cells_that_a_spreadsheet_would_run_are_prefixed():
    for cell in ("=1+1.tar", "+cmd|' -C calc'!A0.tar", "-2", "@SUM(A1)"):
        assert csv_cell(cell) == "'" + cell
    assert csv_cell("\t=1") == "'\\t=1" and csv_cell("\r=1") == "'\\r=1"  # prefixed, and escaped too
    assert csv_cell("alice.tar") == "alice.tar"


# ---------------------------------------------------------------- batch: CSV and JSON reports

from autograder import batch  # noqa: E402
from autograder.grading.grade import failed_report  # noqa: E402


def handin_result(name: str, isolation: str = "", flags: tuple = ()) -> "batch.HandinResult":
    report = failed_report(name, 7, FORGED + HIDDEN, only=[RUBRIC[0].tests[0].name])
    report.isolation, report.flags = isolation, list(flags)
    return batch.HandinResult(name, report, "not_gradable", batch._notes(report, "not_gradable"))


def read_csv(path: Path) -> list:
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def test_handin_names_cannot_become_spreadsheet_formulas(tmp_path):
    names = ["=1+1.tar", "+cmd|' -C calc'!A0.tar", "@SUM(1).zip", "-x.tgz"]
    path = tmp_path / "grades.csv"
    batch.write_csv([handin_result(n) for n in names], path)
    assert [row["handin"] for row in read_csv(path)] == ["'" + n for n in names]


def test_csv_cells_hold_no_hidden_character_and_no_forged_row(tmp_path):
    path = tmp_path / "grades.csv"
    batch.write_csv([handin_result("a" + ESC + "\n=2.tar")], path)
    text = path.read_text(encoding="utf-8")
    assert no_hidden(text, allow_newlines=True) and len(text.splitlines()) == 2  # the header and one row
    rows = read_csv(path)
    assert len(rows) == 1 and rows[0]["handin"] == "a\\x1b]52;c;ZXZpbA==\\x07\\n=2.tar"
    assert "TOTAL 100 / 100" in rows[0]["notes"] and "\\nTOTAL" in rows[0]["notes"]


def test_a_handin_name_that_is_not_utf8_does_not_lose_the_csv(tmp_path):
    name = os.fsdecode(b"caf\xe9.tar")  # Latin-1 on disk: a lone surrogate in Python
    path = tmp_path / "grades.csv"
    batch.write_csv([handin_result(name), handin_result("bob.tar")], path)
    assert [row["handin"] for row in read_csv(path)] == ["caf\\xe9.tar", "bob.tar"]


def test_a_batch_of_hostile_names_keeps_its_csv_and_every_json_report(tmp_path, capsys):
    handins = tmp_path / "handins"
    handins.mkdir()
    names = [os.fsdecode(b"caf\xe9.tar"), "n" * 250 + ".tar", "=1+1.tar", "x" + ESC + ".zip"]
    for name in names:
        (handins / name).write_bytes(b"not an archive")  # not gradable: no test process is started
    grades, json_dir = tmp_path / "out" / "grades.csv", tmp_path / "out" / "json"
    assert batch.main([str(handins), "--csv", str(grades), "--json-dir", str(json_dir), "--jobs", "2"]) == 0
    rows = read_csv(grades)
    assert sorted(row["handin"] for row in rows) == sorted(["caf\\xe9.tar", "n" * 250 + ".tar", "'=1+1.tar",
                                                            "x\\x1b]52;c;ZXZpbA==\\x07.zip"])
    assert all(row["status"] == "not_gradable" and "is not a readable archive" in row["notes"] for row in rows)
    reports_written = sorted(json_dir.iterdir())
    assert len(reports_written) == len(names)
    assert all(json.loads(p.read_text())["score"] == 0.0 for p in reports_written)
    assert no_hidden(capsys.readouterr().err, allow_newlines=True)


def test_csv_states_isolation_and_flags(tmp_path):
    flags = [{"file": "mytorch/a.py", "line": i, "what": "ctypes (native calls)"} for i in range(1, 6)]
    path = tmp_path / "grades.csv"
    batch.write_csv([handin_result("a.tar", "uid 990 + rlimits", flags), handin_result("b.tar")], path)
    first, second = read_csv(path)
    assert list(first)[-3:] == ["isolation", "flags", "notes"]
    assert (first["isolation"], second["isolation"]) == ("uid 990 + rlimits", "unknown")
    assert first["flags"] == ("5: mytorch/a.py:1: ctypes (native calls); mytorch/a.py:2: ctypes (native calls); "
                              "mytorch/a.py:3: ctypes (native calls); ...")
    assert second["flags"] == "0"


def test_json_report_file_names_cannot_collide_or_overflow():
    names = ["a" * 250 + ".tar", "a" * 250 + ".zip", "x?y", "x*y", "..", ".hidden", os.fsdecode(b"\xff.tar"), "/"]
    files = [batch.report_file_name(n) for n in names]
    assert len(set(files)) == len(names)
    assert all(len(f.encode()) <= 120 and "/" not in f and not f.startswith(".") and f.endswith(".json")
               for f in files)
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", f) for f in files)


def fake_grading(monkeypatch, crash_on: str = "", seen: list = None):
    def grade_handin(path, *args, **kwargs):
        if seen is not None:
            seen.append(read_csv(kwargs["csv"]) if "csv" in kwargs else None)
        if path.name == crash_on:
            raise KeyboardInterrupt  # the grader killed in the middle of the batch
        return handin_result(path.name)
    monkeypatch.setattr(batch, "grade_handin", grade_handin)


def test_each_csv_row_is_written_as_its_handin_finishes(tmp_path, monkeypatch):
    handins = tmp_path / "handins"
    handins.mkdir()
    for name in ("a.tar", "b.tar", "c.tar", "d.tar"):
        (handins / name).write_bytes(b"")
    path = tmp_path / "out" / "grades.csv"
    fake_grading(monkeypatch, crash_on="c.tar")
    with pytest.raises(KeyboardInterrupt):
        batch.run_batch(handins, jobs=1, only=[RUBRIC[0].tests[0].name], csv_path=path, stream=io.StringIO())
    written = [row["handin"] for row in read_csv(path)]
    assert written[:2] == ["a.tar", "b.tar"] and "c.tar" not in written  # nothing graded is lost
    fake_grading(monkeypatch)
    batch.run_batch(handins, jobs=2, only=[RUBRIC[0].tests[0].name], csv_path=path, stream=io.StringIO())
    assert [row["handin"] for row in read_csv(path)] == ["a.tar", "b.tar", "c.tar", "d.tar"]  # sorted at the end
    assert not list(path.parent.glob("*.partial"))


def test_batch_outputs_must_be_outside_the_handins(tmp_path, capsys):
    handins = tmp_path / "handins"
    handins.mkdir()
    assert batch.main([str(handins), "--csv", str(handins / "grades.csv")]) == 2
    assert "is inside the folder of handins" in capsys.readouterr().err
    assert batch.main([str(handins), "--csv", str(tmp_path / "g.csv"), "--json-dir", str(handins / "json")]) == 2
    assert "is inside the folder of handins" in capsys.readouterr().err
    assert not (handins / "grades.csv").exists() and not (handins / "json").exists()


def test_the_progress_line_escapes_handin_names():
    stream = io.StringIO()
    batch.Progress(1, 1, stream).handin_done(handin_result("x" + ESC + "\r\n.tar"))
    line = stream.getvalue()
    assert line.count("\n") == 1 and no_hidden(line, allow_newlines=True) and "x\\x1b]52" in line


# ---------------------------------------------------------------- flags for staff

from autograder.grading import flags as flagging  # noqa: E402

SUSPICIOUS = b'''import sys, gc
import ctypes
from os import kill
import autograder.grading.oracle as oracle
def backward(x):
    frame = sys._getframe(1).f_back.f_globals
    loaded = sys.modules["autograder.grading.oracle"]
    os.kill(1, 9); os.execv("/bin/sh", []); os.system("id"); os.fork()
    objects = gc.get_objects()
    open("/proc/self/status").read()
    open("../../elsewhere.py", "w")
    getattr(sys, "_getframe")
    import subprocess, socket, signal, inspect, importlib, builtins, pty
'''


def flag_set(found: list) -> set:
    return {(f["line"], f["what"]) for f in found}


def test_the_scan_flags_what_a_ta_should_look_at():
    found = flag_set(flagging.scan_source(SUSPICIOUS, "mytorch/a.py"))
    for line, what in [(1, "gc (reaches every object)"), (2, "ctypes (native calls)"), (3, "os.kill"),
                       (4, "imports the autograder: autograder.grading.oracle"),
                       (6, "sys._getframe (frame inspection)"), (6, "f_back (frame inspection)"),
                       (6, "f_globals (frame inspection)"), (7, "sys.modules"), (7, "mentions 'autograder'"),
                       (8, "os.kill"), (8, "os.execv"), (8, "os.system"), (8, "os.fork"), (9, "gc.get_objects"),
                       (10, "mentions '/proc'"), (10, "open() outside the handin: /proc/self/status"),
                       (11, "open() for writing"), (11, "open() outside the handin: ../../elsewhere.py"),
                       (12, "the name '_getframe' as a string (getattr?)"),
                       (13, "subprocess (new processes)"), (13, "socket (network)"), (13, "signal"),
                       (13, "inspect (frame inspection)"), (13, "importlib"), (13, "builtins"),
                       (13, "pty (new processes)")]:
        assert (line, what) in found, (line, what)


def test_the_scan_sees_through_the_evasions_an_attacker_used():
    """Each of these once hid a takeover of the grader's runners from the scan."""
    source = b"""
import sys as _s
_s.path.insert(0, "res.zip")
calls = _s.modules["auto" + "grader.harness.calls"]
calls.RUNNERS["backward"] = None
name = "".join(["har", "ness"])
from kit import load_all
answer = load_all()["x"].expected({})
"""
    source += b"""
mods = [v for v in vars(_s).values() if isinstance(v, dict)][0]
h = vars(mods["sllac.ssenrah.redargotua"[::-1]])
table = h["SRENNUR"[::-1]]
"""
    whats = {(f["line"], f["what"]) for f in flagging.scan_source(source, "mytorch/__init__.py")}
    assert {(10, "vars() of something else than self (a module's internals?)"), (11, "mentions 'autograder'"),
            (12, "the name 'RUNNERS' as a string (getattr?)")} <= whats, whats
    assert {(3, "sys.path (changes where modules are imported from)"), (4, "sys.modules"),
            (4, "mentions 'autograder'"), (5, "the grader's RUNNERS"), (6, "mentions 'harness'"),
            (7, "the grader's load_all"), (8, ".expected (the grader's oracle?)")} <= whats, whats


def test_honest_code_has_no_flags():
    honest = b"import numpy as np\nfrom .tensor import Tensor\ndef f(x):\n    return np.exp(x).replace if 0 else x\n"
    assert flagging.scan_source(honest, "mytorch/f.py") == []


def test_a_file_that_does_not_parse_is_flagged_not_a_crash():
    assert flagging.scan_source(b"def f(:\n", "mytorch/a.py") == [
        {"file": "mytorch/a.py", "line": 1, "what": "does not parse (invalid syntax)"}]
    for source in (b"\xff\xfe\x00garbage", b"# -*- coding: nonsense -*-\nx = 1\n", b"x = " + b"(" * 100000):
        (flag,) = flagging.scan_source(source, "mytorch/b.py")
        assert flag["what"].startswith("does not parse")


def test_files_copied_from_the_grader_and_compiled_files_are_flagged(tmp_path, monkeypatch):
    monkeypatch.setattr(flagging, "MAX_FILES", 4)
    tree = tmp_path / "mytorch"
    tree.mkdir()
    (tree / "__init__.py").write_bytes(INIT)
    (tree / "child.py").write_bytes((flagging.PACKAGE_DIR / "harness" / "child.py").read_bytes())
    (tree / "fast.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    for i in range(3):
        (tree / f"z{i}.py").write_text("x = 1\n")
    found = {(f["file"], f["what"]) for f in flagging.flag_handin(tmp_path)}
    assert ("mytorch/child.py", "same content as the grader's autograder/harness/child.py") in found
    assert ("mytorch/fast.cpython-311-x86_64-linux-gnu.so", "compiled code shipped in the handin (not scanned)") in found
    assert ("mytorch/z1.py", "only the first 4 files were scanned") in found  # the first file left out
    assert not any(file == "mytorch/z2.py" for file, _ in found)


def test_the_flag_scan_has_a_byte_and_a_time_budget(tmp_path, monkeypatch):
    tree = tmp_path / "mytorch"
    tree.mkdir()
    for i in range(3):
        (tree / f"m{i}.py").write_text("x = 1\n" * 100)
    monkeypatch.setattr(flagging, "MAX_TOTAL_BYTES", 1000)
    assert flagging.flag_handin(tmp_path) == [
        {"file": "mytorch/m1.py", "line": 0, "what": "the scan stopped here: more than 1000 bytes of sources"}]
    monkeypatch.setattr(flagging, "MAX_TOTAL_BYTES", 2**20)
    monkeypatch.setattr(flagging, "MAX_SECONDS", -1.0)
    assert flagging.flag_handin(tmp_path) == [
        {"file": "mytorch/m0.py", "line": 0, "what": "the scan stopped here after -1 s"}]


def test_grading_a_handin_fills_its_flags_and_they_never_change_the_score(tmp_path):
    from autograder.cli import grade_path, grade_parser
    handin = tmp_path / "handin"
    shutil_copy_reference(handin)
    only = [RUBRIC[0].tests[0].name]
    args = grade_parser().parse_args(["--only", *only, "--jobs", "1"])
    honest, _ = grade_path(handin, args)
    with open(handin / "mytorch" / "__init__.py", "a") as stream:
        stream.write("\nimport ctypes  # flagged, harmless\n")
    flagged, _ = grade_path(handin, args)
    assert flagged.score == honest.score == flagged.max_score
    assert {"file": "mytorch/__init__.py", "line": INIT_LINES(handin) , "what": "ctypes (native calls)"} in flagged.flags
    assert "ctypes" not in json.dumps(reports.gradescope(flagged))
    assert any(line.startswith("flag: mytorch/__init__.py:") for line in reports.table(flagged).splitlines())
    assert json.loads(reports.as_json(flagged))["flags"] == flagged.flags


def test_the_kit_s_own_files_flag_no_handin_but_a_changed_copy_is_scanned(tmp_path):
    """visualize.py starts Graphviz: handed out as it is, it must not flag every handin."""
    handin = tmp_path / "handin"
    shutil_copy_reference(handin)
    assert flagging.flag_handin(handin) == []
    visualize = handin / "mytorch" / "visualize.py"
    visualize.write_text(visualize.read_text() + "\nimport os\nos.kill(1, 0)\n")
    whats = {f["what"] for f in flagging.flag_handin(handin) if f["file"] == "mytorch/visualize.py"}
    assert "subprocess (new processes)" in whats and any("kill" in w for w in whats), whats


def test_a_bundle_carries_the_list_of_the_kit_s_given_files(tmp_path):
    from autograder import package
    files = dict(package.grader_files())
    listed = files["autograder/grading/given_files.txt"].decode().split()
    assert sorted(listed) == sorted(flagging.given_hashes()) and len(listed) >= 3
    visualize = (staging.reference_root() / "mytorch" / "visualize.py").read_bytes()
    assert flagging._digest(visualize) in listed


def shutil_copy_reference(target: Path) -> None:
    import shutil
    shutil.copytree(staging.reference_root() / "mytorch", target / "mytorch",
                    ignore=shutil.ignore_patterns("__pycache__"))


def INIT_LINES(handin: Path) -> int:  # noqa: N802
    return len((handin / "mytorch" / "__init__.py").read_text().splitlines())


# ---------------------------------------------------------------- no archive crashes the grader

@pytest.mark.parametrize("name", ["handin.tar", "handin.tar.gz", "handin.zip", "xz.tar", "bz2.tar"])
def test_every_cut_and_many_corruptions_of_an_archive_end_in_a_tree_or_a_clear_failure(tmp_path, name):
    import bz2
    import random
    raw = tar_bytes(GOOD + [("mytorch/x.py", b"y = 1\n" * 100)], fmt=tarfile.PAX_FORMAT)
    data = {"handin.tar": raw, "handin.tar.gz": gzip.compress(raw), "xz.tar": lzma.compress(raw),
            "bz2.tar": bz2.compress(raw),
            "handin.zip": zip_bytes(GOOD + [("mytorch/x.py", b"y = 1\n" * 100)])}[name]
    rng = random.Random(name)
    cases = [data[:n] for n in range(0, len(data), max(1, len(data) // 60))]
    for _ in range(60):
        corrupt = bytearray(data)
        corrupt[rng.randrange(len(corrupt))] ^= 1 << rng.randrange(8)
        cases.append(bytes(corrupt))
    archive = tmp_path / name
    for case in cases:
        archive.write_bytes(case)
        try:
            stage_of(archive)
        except SubmissionError as error:
            assert len(str(error)) < 400 and no_hidden(str(error))
