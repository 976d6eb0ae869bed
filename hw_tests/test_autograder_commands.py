"""The commands as a student and a TA meet them: a path that is no handin, ``handin`` outside the kit,
progress while one handin is graded, ``--help``, the table's footer and its lines under ``--only``."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from autograder import cli
from autograder.cli import GradingProgress, main as cli_main, shown_submission
from autograder.grading.rubric import RUBRIC
from autograder.handout import handin_main

STAFF_COMMANDS = ("batch", "package", "handout")


# ---------------------------------------------------------------- a path that is no handin

@pytest.mark.parametrize("make, says", [
    (lambda tmp: tmp / "nonexistent", "does not exist"),
    (lambda tmp: (tmp / "notes.txt", (tmp / "notes.txt").write_text("hi"))[0], "is not a folder or a .tar"),
    (lambda tmp: (tmp / "empty", (tmp / "empty").mkdir())[0], "no mytorch/ folder in"),
])
def test_a_path_that_is_no_handin_is_one_error_and_a_nonzero_exit(tmp_path, capsys, make, says):
    path = make(tmp_path)
    assert cli_main(["--submission", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # no table of zeros
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m autograder: error: ") and says in lines[0]
    assert str(path) in lines[0] or path.name in lines[0]


def test_on_a_platform_a_path_that_is_no_handin_still_gets_its_report_of_zeros(tmp_path, capsys):
    # Gradescope must show the student why: results.json with every test at 0 and the reason.
    results = tmp_path / "results.json"
    assert cli_main(["--submission", str(tmp_path / "nonexistent"), "--gradescope", str(results),
                     "--only", "backward.add", "--allow-unisolated"]) == 0
    data = json.loads(results.read_text())
    assert data["score"] == 0 and "does not exist" in data["tests"][0]["output"]


def test_handin_outside_the_kit_is_a_clear_error_not_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert handin_main([]) == 2
    err = capsys.readouterr().err
    assert "no mytorch/ folder in" in err and "Traceback" not in err
    (tmp_path / "mytorch").mkdir()  # a mytorch/ with nothing to hand in
    assert handin_main([]) == 2
    assert "no .py file under" in capsys.readouterr().err
    assert not (tmp_path / "handin.tar").exists()


def test_handin_in_the_kit_builds_the_archive(tmp_path, monkeypatch, capsys):
    (tmp_path / "mytorch").mkdir()
    (tmp_path / "mytorch" / "__init__.py").write_text("")
    monkeypatch.chdir(tmp_path)
    assert handin_main([]) == 0
    assert (tmp_path / "handin.tar").is_file() and "wrote handin.tar" in capsys.readouterr().out


# ---------------------------------------------------------------- progress

class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_counts_tests_on_a_terminal_and_erases_itself():
    stream = Terminal()
    progress = GradingProgress(3, stream)
    progress()
    progress()
    assert stream.getvalue() == "\rgrading: 1/3 tests\rgrading: 2/3 tests"
    progress.close()
    assert stream.getvalue().endswith("\r" + " " * len("grading: 2/3 tests") + "\r")


def test_progress_is_silent_when_stderr_is_not_a_terminal():
    stream = io.StringIO()
    progress = GradingProgress(3, stream)
    progress()
    progress.close()
    assert stream.getvalue() == ""


def test_grading_one_handin_reports_progress_on_a_terminal(monkeypatch, capsys):
    terminal = Terminal()
    monkeypatch.setattr(cli.sys, "stderr", terminal)
    assert cli_main(["--only", "backward.add", "backward.sub", "--jobs", "1"]) == 0
    assert "grading: 1/2 tests" in terminal.getvalue() and "grading: 2/2 tests" in terminal.getvalue()
    assert "TOTAL" in capsys.readouterr().out


# ---------------------------------------------------------------- the table under --only, its footer

def test_under_only_each_component_line_is_over_the_selected_tests_points(capsys):
    assert cli_main(["--only", "backward.sub", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    component = next(c for c in RUBRIC if any(t.name == "backward.sub" for t in c.tests))
    points = next(t.points for t in component.tests if t.name == "backward.sub")
    assert re.search(rf"^{re.escape(component.title)}\s+{points:g} / {points:g}$", out, re.M)
    assert re.search(rf"^TOTAL\s+{points:g} / {points:g}$", out, re.M)


def test_the_footer_names_the_folder_graded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert shown_submission(Path(".")) == f". ({tmp_path.resolve()})"
    assert shown_submission(Path("handin.tar")) == "handin.tar"
    assert shown_submission(None).startswith("the bundled reference (")


# ---------------------------------------------------------------- --help

def test_help_keeps_staff_commands_out_of_the_students_view(capsys):
    with pytest.raises(SystemExit):
        cli_main(["--help"])
    text = capsys.readouterr().out
    # What a student reads: the usage line, the description and their options, before the staff's parts.
    student = text[text.index("\n\n"):text.index("staff options")]
    staff = text[text.index("staff commands"):]
    for command in STAFF_COMMANDS:
        assert not re.search(rf"\b{command}\b", student), f"{command} is in the student's part of --help"
        assert command in staff
    assert "handin" in text[text.index("commands:"):text.index("staff commands")]


def test_staff_lists_every_staff_command_and_each_still_works(capsys):
    assert cli_main(["staff"]) == 0
    listed = capsys.readouterr().out
    for command in STAFF_COMMANDS:
        assert re.search(rf"^  {command}\b", listed, re.M)
        with pytest.raises(SystemExit) as stop:
            cli_main([command, "--help"])
        assert stop.value.code == 0 and f"python -m autograder {command}" in capsys.readouterr().out


# ---------------------------------------------------------------- from a clone: the reference beside the grader

def test_from_a_clone_the_grader_grades_the_edited_reference_not_the_installed_copy(tmp_path):
    """Quick start 1 installs a copy (pip install .); rerun from the clone, `python -m autograder`
    must grade the clone's mytorch/ as edited, and name that folder in its footer."""
    import os
    import shutil
    import subprocess
    import sys
    repo = Path(__file__).resolve().parent.parent
    clone = tmp_path / "clone"
    for tree in ("mytorch", "autograder"):
        shutil.copytree(repo / tree, clone / tree, ignore=shutil.ignore_patterns("__pycache__"))
    functional = clone / "mytorch" / "nn" / "functional.py"
    text = functional.read_text()
    right = "unbroadcast(-grad_output, b.shape)"  # sub_backward's dL/db
    assert text.count(right) == 1
    functional.write_text(text.replace(right, "unbroadcast(grad_output, b.shape)"))  # the edit: a sign lost
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-m", "autograder", "--only", "backward.sub", "--jobs", "1"],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^TOTAL\s+1 / 2$", done.stdout, re.M), done.stdout
    assert f"the bundled reference ({clone.resolve()})" in done.stdout
