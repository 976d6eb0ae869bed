"""Batch grading of a folder of handins, and the Gradescope and Autolab bundles run in simulated layouts.

The platform layouts follow their documentation:
* Gradescope ("Autograder Specifications"): the zip is unpacked into /autograder/source, setup.sh
  runs once, run_autograder is copied to /autograder and run from there for every submission,
  the submission is in /autograder/submission, the result goes to /autograder/results/results.json.
* Autolab ("Guide for Lab Authors"): the handin (renamed to the assessment's handin name),
  autograde.tar and autograde-Makefile (renamed Makefile) are copied into an empty folder, `make`
  runs there, and the last line of stdout is the autoresult {"scores": {...}}.
Here /autograder is a temporary folder (run_autograder's paths follow AUTOGRADER_ROOT).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from autograder import batch, package
from autograder.grading.rubric import RUBRIC, all_tests, total_points

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "mytorch"
POINTS = {test.name: test.points for _, test in all_tests()}
GRADESCOPE_VISIBILITY = {"visible", "hidden", "after_due_date", "after_published"}
# The environment of a grading server: no PYTHONPATH, so only the bundled grader can be imported.
SERVER_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
              "LANG": "C.UTF-8"}


def copy_reference(folder: Path) -> Path:
    """``folder``/mytorch: a copy of the reference."""
    shutil.copytree(REFERENCE, folder / "mytorch", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return folder


def broken_copy(folder: Path, fake_results: Path = None) -> Path:
    """A reference copy with a syntax error in the engine, whose __init__ first tries to fake a result."""
    copy_reference(folder)
    engine = folder / "mytorch" / "autograd_engine.py"
    engine.write_text(engine.read_text() + "\n\ndef broken(:\n    pass\n")
    init = folder / "mytorch" / "__init__.py"
    fake = ["import json", f"print(json.dumps({{'scores': {{key: 100 for key in {[c.key for c in RUBRIC]!r}}}}}))"]
    if fake_results:
        # Refused where Landlock confines the test process; elsewhere overwritten by the grader's own report.
        fake += ["try:", f"    open({str(fake_results)!r}, 'w').write(json.dumps({{'score': 100.0, 'tests': []}}))",
                 "except OSError:", "    pass"]
    init.write_text("\n".join(fake) + "\n" + init.read_text())
    return folder


def tar_of(folder: Path, archive: Path, extra: tuple = ()) -> Path:
    """``archive`` holding folder/mytorch as mytorch/, plus (name, bytes) members from ``extra``."""
    with tarfile.open(archive, "w:gz" if archive.name.endswith("gz") else "w") as tar:
        tar.add(folder / "mytorch", arcname="mytorch")
        for name, data in extra:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


def engine_syntax_error_line(folder: Path) -> int:
    lines = (folder / "mytorch" / "autograd_engine.py").read_text().splitlines()
    return lines.index("def broken(:") + 1


# ---------------------------------------------------------------- batch

ONLY = ["buffer.accumulate", "backward.add"]
FULL = POINTS["buffer.accumulate"] + POINTS["backward.add"]
BUG_MARKER = "grader_bug_marker.txt"  # a handin holding this file makes the (patched) grader crash


def make_handins(folder: Path) -> dict:
    """One handin of each kind; returns {name: (expected total, status, a fragment of the notes)}."""
    folder.mkdir()
    work = folder.parent / "work"
    copy_reference(folder / "alice")  # a folder holding mytorch/
    tar_of(copy_reference(work / "bob"), folder / "bob.tar.gz", extra=[("../outside.py", b"x = 1\n")])
    carol = broken_copy(work / "carol")
    with zipfile.ZipFile(folder / "carol.zip", "w") as bundle:
        for path in sorted((carol / "mytorch").rglob("*.py")):
            bundle.write(path, path.relative_to(carol).as_posix())
    (folder / "dave.tar").write_bytes(b"this is not a tar file at all" * 20)
    (folder / "erin").mkdir()
    (folder / "erin" / "README.txt").write_text("my code is on my laptop\n")
    (folder / "frank").mkdir()
    tar_of(copy_reference(work / "frank"), folder / "frank" / "handin.tar")  # a folder holding one archive
    copy_reference(folder / "gina" / "hw1")  # one folder too deep: found, with a note
    copy_reference(folder / "hank")  # the grader will crash on this one (see the test)
    (folder / "hank" / "mytorch" / BUG_MARKER).write_text("")
    (folder / "notes.txt").write_text("not a handin\n")
    (folder / ".DS_Store").write_bytes(b"\0")  # hidden: not a handin
    line = engine_syntax_error_line(carol)
    return {"alice": (FULL, "graded", ""),
            "bob.tar.gz": (FULL, "graded", "1 archive member(s) refused: refused '../outside.py'"),
            "carol.zip": (0, "import_error", f"SyntaxError in mytorch/autograd_engine.py line {line}"),
            "dave.tar": (0, "not_gradable", "'dave.tar' is not a readable archive"),
            "erin": (0, "not_gradable", "no mytorch/ folder in"),
            "frank": (FULL, "graded", "graded the archive 'handin.tar'"),
            "gina": (FULL, "graded", "graded hw1/mytorch (the handin had an extra top folder)"),
            "hank": (0, "grader_error", "the grader failed on this handin: RuntimeError: a bug in the grader"),
            "notes.txt": (0, "not_gradable", "is not a folder or a .tar/.tar.gz/.zip archive")}


def test_batch_grades_every_handin_and_one_bad_handin_never_stops_the_rest(tmp_path, monkeypatch, capsys):
    expected = make_handins(tmp_path / "handins")
    real_grade = batch.grade

    def grade_with_a_bug(folder, **options):
        if (folder / "mytorch" / BUG_MARKER).exists():  # hank's, staged
            raise RuntimeError("a bug in the grader")
        return real_grade(folder, **options)

    monkeypatch.setattr(batch, "grade", grade_with_a_bug)
    grades, reports_dir = tmp_path / "out" / "grades.csv", tmp_path / "out" / "json"
    status = batch.main([str(tmp_path / "handins"), "--jobs", "2", "--csv", str(grades), "--json-dir",
                         str(reports_dir), "--only", *ONLY])
    assert status == 0
    out, err = capsys.readouterr()

    with open(grades, newline="") as stream:
        reader = csv.DictReader(stream)
        assert reader.fieldnames == (["handin", "total"] + [c.key for c in RUBRIC]
                                     + ["status", "isolation", "flags", "notes"])
        rows = list(reader)
    assert [row["handin"] for row in rows] == sorted(expected)  # the folder's order; .DS_Store skipped
    for row in rows:
        total, state, fragment = expected[row["handin"]]
        assert (float(row["total"]), row["status"]) == (total, state), row
        assert fragment in row["notes"], row
        assert sum(float(row[c.key]) for c in RUBRIC) == float(row["total"]), row
        report = json.loads((reports_dir / batch.report_file_name(row["handin"])).read_text())
        assert report["score"] == total and report["max_score"] == FULL, row["handin"]
        assert report["submission"].endswith(row["handin"])

    # The summary (stdout) and the progress bar (stderr).
    totals = [total for total, _, _ in expected.values()]
    assert f"{len(expected)} handins in " in out
    assert (f"mean {statistics.mean(totals):.2f}, median {statistics.median(totals):g}, "
            f"min {min(totals):g}, max {max(totals):g}") in out
    assert ("failed to import: 1, nothing to grade: 3, refused archive members: 1, grader errors: 1") in out
    progress = err.splitlines()
    assert len(progress) == len(expected)
    assert progress[-1].startswith("[" + "#" * 30 + "] 9/9 ")
    assert all(any(f" {name}: " in line for line in progress) for name in expected)


def test_batch_refuses_a_folder_that_does_not_exist(tmp_path, capsys):
    assert batch.main([str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_redraws_in_place_on_a_terminal():
    stream = _Terminal()
    progress = batch.Progress(handins=2, tests_per_handin=2, stream=stream, width=10)
    progress.test_done()
    report = batch.failed_report("h", 0, "no mytorch/ folder in h", ONLY)
    progress.handin_done(batch.HandinResult("h", report, "not_gradable"), tests_not_run=1)
    text = stream.getvalue()
    assert text.startswith("\r[##........] 0/2 handins, 1/4 tests")  # drawn in place, no newline
    assert "\r[#####.....] 1/2  h: 0/4 (not_gradable)" in text  # the finished handin gets its own line
    assert text.rstrip().endswith("2/4 tests, 00:00 elapsed, ~00:00 left")  # the bar again, below it


# ---------------------------------------------------------------- Gradescope

def build_gradescope(tmp_path: Path) -> Path:
    archive = tmp_path / "autograder.zip"
    assert package.main(["--gradescope", str(archive), "--seed", "11785"]) == 0
    return archive


def gradescope_root(tmp_path: Path, archive: Path) -> Path:
    """A fake /autograder: the zip unpacked into source/, run_autograder copied up, empty submission/."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    return root


def run_autograder(root: Path, grader_args: str = "") -> dict:
    env = {**SERVER_ENV, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable,
           "GRADER_ARGS": grader_args}
    completed = subprocess.run(["bash", str(root / "run_autograder")], cwd=root, env=env, capture_output=True,
                               text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    return json.loads((root / "results" / "results.json").read_text())


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def assert_gradescope_spec(results: dict, only: tuple = ()) -> None:
    """results.json as Gradescope specifies it, one entry per graded rubric test, in rubric order."""
    assert is_number(results["score"]) and is_number(results["max_score"])
    assert is_number(results["execution_time"]) and isinstance(results["output"], str)
    assert results["visibility"] in GRADESCOPE_VISIBILITY and results["stdout_visibility"] in GRADESCOPE_VISIBILITY
    graded = [(c, t) for c, t in all_tests() if not only or t.name in only]
    assert len(results["tests"]) == len(graded)
    for number, (test, (component, rubric_test)) in enumerate(zip(results["tests"], graded), start=1):
        assert test["name"].startswith(f"{component.key}: {rubric_test.name} (")
        assert test["number"] == str(number)
        assert is_number(test["score"]) and test["max_score"] == rubric_test.points
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] in {"passed", "failed"} and (test["status"] == "passed") == (
            test["score"] == test["max_score"])
        assert isinstance(test["output"], str) and test["output"]
        assert test["visibility"] == rubric_test.visibility
        assert is_number(test["execution_time"])
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))
    assert results["max_score"] == sum(t.points for _, t in graded)


def test_gradescope_zip_holds_the_scripts_and_the_grader_but_not_the_reference(tmp_path):
    archive = build_gradescope(tmp_path)
    with zipfile.ZipFile(archive) as bundle:
        names = bundle.namelist()
        modes = {info.filename: info.external_attr >> 16 for info in bundle.infolist()}
        requirements = bundle.read("requirements.txt").decode()
    assert names[:3] == ["setup.sh", "run_autograder", "requirements.txt"]  # at the root of the zip
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111  # executable
    grader = sorted(f"autograder/{p.relative_to(REPO / 'autograder').as_posix()}"
                    for p in (REPO / "autograder").rglob("*.py") if "__pycache__" not in p.parts)
    assert sorted(n for n in names if n.endswith(".py")) == grader
    assert not any(n.startswith("mytorch") or "__pycache__" in n for n in names)
    assert requirements.strip() == "numpy>=1.23"
    again = tmp_path / "again" / "autograder.zip"
    package.main(["--gradescope", str(again), "--seed", "11785"])
    assert again.read_bytes() == archive.read_bytes()  # the same source gives the same bytes


def test_gradescope_run_of_the_reference_gives_full_marks(tmp_path):
    root = gradescope_root(tmp_path, build_gradescope(tmp_path))
    # setup.sh, as Gradescope runs it while building the image; no index: NumPy is already there.
    setup = subprocess.run(["bash", str(root / "source" / "setup.sh")], cwd=root / "source",
                           env={**SERVER_ENV, "AUTOGRADER_PYTHON": sys.executable, "PIP_NO_INDEX": "1"},
                           capture_output=True, text=True, timeout=300)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert "MyTorch autograder ready" in setup.stdout
    copy_reference(root / "submission")
    results = run_autograder(root)
    assert_gradescope_spec(results)
    assert results["score"] == results["max_score"] == total_points()
    assert all(t["status"] == "passed" and t["output"] == "passed" for t in results["tests"])
    assert results["output"].splitlines()[0] == "Graded with seed 11785."
    assert results["output"].splitlines()[1].startswith("Isolation: ")


def test_gradescope_run_of_a_broken_handin_archive_writes_a_valid_zero_report(tmp_path):
    root = gradescope_root(tmp_path, build_gradescope(tmp_path))
    results_json = root / "results" / "results.json"
    broken = broken_copy(tmp_path / "broken", fake_results=results_json)
    tar_of(broken, root / "submission" / "handin.tar")
    only = tuple(component.tests[-1].name for component in RUBRIC)  # one test per component is enough here
    results = run_autograder(root, grader_args="--only " + " ".join(only))
    assert_gradescope_spec(results, only)
    assert results["score"] == 0.0  # not the 100 the submission wrote into results.json
    line = engine_syntax_error_line(broken)
    for test in results["tests"]:
        assert test["output"] == ("could not import the submission: SyntaxError in mytorch/autograd_engine.py "
                                  f"line {line}: invalid syntax (autograd_engine.py, line {line})"), test
    assert "Note: graded the archive 'handin.tar'" in results["output"]


# ---------------------------------------------------------------- Autolab

def autolab_job(tmp_path: Path, handin: Path, handin_name: str = "handin.tar",
                grader_args: str = "") -> subprocess.CompletedProcess:
    """Autolab's run: the three files in an empty folder, the Makefile renamed, then `make`."""
    bundle = tmp_path / "autolab"
    assert package.main(["--autolab", str(bundle), "--handin-name", handin_name]) == 0
    job = tmp_path / "job"
    job.mkdir()
    shutil.copy(bundle / "autograde-Makefile", job / "Makefile")
    shutil.copy(bundle / "autograde.tar", job / "autograde.tar")
    shutil.copy(handin, job / handin_name)
    env = {**SERVER_ENV, "PYTHON": sys.executable, "GRADER_ARGS": grader_args}
    completed = subprocess.run(["make"], cwd=job, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert sorted(p.name for p in job.iterdir()) == sorted(["Makefile", "autograde.tar", handin_name, "autograder"])
    return completed


def autoresult(completed: subprocess.CompletedProcess) -> dict:
    data = json.loads(completed.stdout.strip().splitlines()[-1])
    assert list(data) == ["scores"] and list(data["scores"]) == [c.key for c in RUBRIC]
    return data["scores"]


def test_autolab_run_prints_the_autoresult_last(tmp_path):
    handin = tar_of(copy_reference(tmp_path / "student"), tmp_path / "handin.tar")
    scores = autoresult(autolab_job(tmp_path, handin, grader_args="--only buffer. engine."))
    graded = {"memory_buffer", "autograd_engine"}
    assert graded <= {c.key for c in RUBRIC}
    assert scores == {c.key: (c.points if c.key in graded else 0.0) for c in RUBRIC}


def test_autolab_run_of_a_broken_handin_prints_zeros_not_the_fake_line(tmp_path):
    broken = broken_copy(tmp_path / "student")
    handin = tmp_path / "mytorch_handin.zip"
    with zipfile.ZipFile(handin, "w") as bundle:
        for path in sorted((broken / "mytorch").rglob("*.py")):
            bundle.write(path, path.relative_to(broken).as_posix())
    completed = autolab_job(tmp_path, handin, handin_name="mytorch_handin.zip",
                            grader_args="--only buffer.accumulate engine.chain")
    assert autoresult(completed) == {c.key: 0.0 for c in RUBRIC}
    assert ": 100" not in completed.stdout  # the fake line printed at import never reached stdout
    assert "SyntaxError in mytorch/autograd_engine.py" in completed.stdout  # the table explains the zeros


def test_package_needs_a_target(capsys):
    with pytest.raises(SystemExit):
        package.main([])
    assert "--gradescope" in capsys.readouterr().err
