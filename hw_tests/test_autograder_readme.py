"""The README and the writeup as a reader meets them: their examples run and print what the text shows,
their links land, and the README's shell recipes for Gradescope and Autolab work, twice in a row.

Conventions in the Markdown (so that the text cannot drift from the code):

- every ```python block runs; the blocks of one file run in order in ONE Python session, as in a
  notebook, so each example must release the engine it creates;
- what a block prints is shown in a ```text block right after it (only blank lines between), and
  must be exactly that (trailing spaces aside); a block with no such output block must print nothing;
- a block preceded by ``<!-- fragment -->`` is an excerpt: it is only compiled, not run;
- a ```bash block preceded by ``<!-- recipe: NAME -->`` is a recipe run from a scratch copy of the
  repository's root (``mytorch/`` and ``autograder/``), every recipe in order, then all of them again.

Staff only: it needs the repository's README and docs/ (the kit's tests skip test_autograder_* files).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

from autograder.writeup import anchor

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
WRITEUP = sorted((REPO / "docs" / "writeup").glob("*.md")) + sorted((REPO / "docs" / "writeup" / "tasks").glob("*.md"))
FENCE = re.compile(r"^```(\S*)\s*$")
MARKER = re.compile(r"^<!--\s*(fragment|recipe:\s*(?P<recipe>[\w-]+))\s*-->\s*$")


@dataclass
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    info: str  # the fence's language: python, bash, text, ...
    code: str
    marker: str = ""  # "fragment" or "recipe: NAME"
    output: Optional[str] = None  # the ```text block right after, if any

    @property
    def where(self) -> str:
        shown = self.path.relative_to(REPO) if self.path.is_relative_to(REPO) else self.path
        return f"{shown}:{self.line}"

    @property
    def recipe(self) -> str:
        match = MARKER.match(f"<!-- {self.marker} -->")
        return (match["recipe"] or "") if match else ""


def blocks(path: Path) -> list:
    """Every fenced block of a Markdown file; an output block is attached to the block before it."""
    lines = path.read_text().splitlines()
    found: list = []
    i, marker = 0, ""
    last_closed = -10
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            tag = MARKER.match(lines[i].strip())
            if tag:
                marker = tag[1]
            elif lines[i].strip():
                marker = ""
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        assert end is not None, f"{path}:{i + 1}: a code block is never closed"
        block = Block(path, i + 1, fence[1], "\n".join(lines[i + 1:end]) + "\n", marker)
        follows = found and all(not line.strip() for line in lines[last_closed + 1:i])
        if block.info == "text" and follows and found[-1].info == "python" and found[-1].output is None:
            found[-1].output = block.code
        else:
            found.append(block)
        last_closed, marker, i = end, "", end + 1
    return found


# ---------------------------------------------------------------- the Python blocks

DRIVER = textwrap.dedent("""
    import contextlib, io, json, sys, traceback
    blocks = json.load(sys.stdin)
    namespace = {"__name__": "__main__"}
    results = []
    for where, code in blocks:
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(code, where, "exec"), namespace)
            error = None
        except BaseException:
            error = traceback.format_exc(limit=-3)
        results.append({"where": where, "printed": out.getvalue(), "error": error})
    sys.__stdout__.write(json.dumps(results))
""")


def run_session(chunks: list, cwd: Path) -> list:
    """Run [(where, code)] in order in one fresh Python process (one namespace, like a notebook)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(chunks), capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def normalized(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def python_blocks(path: Path) -> list:
    return [b for b in blocks(path) if b.info == "python"]


def check_document(paths: list, cwd: Path) -> None:
    chosen = [b for path in paths for b in python_blocks(path)]
    for block in chosen:  # excerpts too must at least be Python
        compile(block.code, block.where, "exec")
    runnable = [b for b in chosen if b.marker != "fragment"]
    results = run_session([(b.where, b.code) for b in runnable], cwd)
    problems = []
    for block, result in zip(runnable, results):
        if result["error"]:
            problems.append(f"{block.where} raised:\n{result['error']}")
        elif normalized(result["printed"]) != normalized(block.output or ""):
            problems.append(f"{block.where} printed\n{result['printed']}\nbut the text shows\n{block.output or '(nothing)'}")
    assert not problems, "\n\n".join(problems)


def test_readme_python_blocks_run_in_one_session_and_print_what_the_text_shows(tmp_path):
    check_document([README], tmp_path)
    left = sorted(p.name for p in tmp_path.iterdir())  # files the examples write (tape.svg, ...)
    assert all(ignored(name) for name in left), f"not in .gitignore: {[n for n in left if not ignored(n)]}"


def test_writeup_python_blocks_run_and_print_what_the_text_shows(tmp_path):
    check_document(WRITEUP, tmp_path)


def test_the_conventions_are_caught(tmp_path):
    """The checker fails on a wrong output, a missing output, a leaked engine and a broken block."""
    doc = tmp_path / "doc.md"
    cases = {
        "wrong output": "```python\nprint(1 + 1)\n```\n\n```text\n3\n```\n",
        "output not shown": "```python\nprint('hello')\n```\n",
        "an engine left alive": ("```python\nfrom mytorch import Autograd\nengine = Autograd()\n```\n\n"
                                 "```python\nfrom mytorch import Autograd\nwith Autograd() as e:\n    pass\n```\n"),
        "an error": "```python\n1 / 0\n```\n",
    }
    for what, text in cases.items():
        doc.write_text(text)
        with pytest.raises(AssertionError):
            check_document([doc], tmp_path)
    doc.write_text("<!-- fragment -->\n```python\nundefined_name\n```\n\n```python\nprint(2)\n```\n\n```text\n2\n```\n")
    check_document([doc], tmp_path)


# ---------------------------------------------------------------- links

def headings(text: str) -> set:
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)  # a comment in a code block is no heading
    return {anchor(m[1]) for m in re.finditer(r"^#{1,6} +(.+?) *#*$", prose, re.M)}


def test_anchor_is_githubs():
    assert anchor("Task 7: Softmax and cross-entropy") == "task-7-softmax-and-cross-entropy"
    assert anchor("Security model") == "security-model"
    assert anchor("Layers, losses, optimizers: build and train a model") == \
        "layers-losses-optimizers-build-and-train-a-model"


@pytest.mark.parametrize("name", ["README.md", "handout/README.md"])
def test_every_link_to_a_heading_lands(name):
    text = (REPO / name).read_text()
    targets = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert targets, f"{name} links to none of its headings: the check would check nothing"
    assert targets <= headings(text), f"{name}: links to no heading: {sorted(targets - headings(text))}"


def test_stubs_point_at_a_heading_of_the_writeup():
    from autograder.markers import TASKS, stub_message
    writeup = (REPO / "handout" / "README.md").read_text()
    for task in TASKS.values():
        pointer = re.search(r"see (Task \d+) in README\.md$", stub_message(task))
        assert pointer, stub_message(task)
        assert re.search(rf"^## {pointer[1]}: ", writeup, re.M), f"no heading {pointer[1]} in the writeup"


def test_readme_quotes_the_starters_reason_as_the_grader_words_it(tmp_path, capsys):
    """The README's "not implemented yet" example is what the grader says on the kit's starter, with
    the line number left out (it moves whenever functional.py changes)."""
    from autograder.cli import main as cli_main
    assert cli_main(["--submission", str(REPO / "handout"), "--only", "backward.add", "--format", "json",
                     "--jobs", "1", "--allow-unisolated"]) == 0
    reason = json.loads(capsys.readouterr().out)["tests"][0]["reason"]
    shown = re.sub(r"(\.py):\d+\)", r"\1:N)", reason)
    assert shown != reason, reason
    assert f"`{shown}`" in README.read_text(), f"the README should quote `{shown}`"
    assert not re.search(r"mytorch/[\w/]+\.py:\d+", README.read_text()), "a line number that will move"


# ---------------------------------------------------------------- the shell recipes

def recipes() -> list:
    return [b for b in blocks(README) if b.recipe]


def test_readme_marks_its_recipes():
    names = [b.recipe for b in recipes()]
    assert {"package", "gradescope", "autolab"} <= set(names), names
    assert all(b.info == "bash" for b in recipes())


@pytest.mark.skipif(not all(shutil.which(tool) for tool in ("bash", "unzip", "make", "tar")),
                    reason="the recipes use bash, unzip, make and tar, which this machine lacks")
def test_readme_recipes_run_twice_in_a_row_in_a_scratch_folder(tmp_path):
    scratch = tmp_path / "clone"
    scratch.mkdir()
    for tree in ("mytorch", "autograder"):
        shutil.copytree(REPO / tree, scratch / tree, ignore=shutil.ignore_patterns("__pycache__"))
    # `python`/`python3` in the recipes is this interpreter (a venv with NumPy); the recipes are run as
    # written, with GRADER_ARGS (which the README documents for both scripts) keeping the runs short.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "GRADER_ARGS": "--only 1 3", "HOME": str(tmp_path)}
    env.pop("PYTHONPATH", None)
    script = "\n".join(checked_lines(b.code) for b in recipes())
    for run in (1, 2):
        done = subprocess.run(["bash", "-c", script], cwd=scratch, env=env, capture_output=True, text=True,
                              timeout=900, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, f"run {run} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        autolab = json.loads(done.stdout.strip().splitlines()[-1])  # the Autolab recipe runs last
        results = json.loads(_gradescope_results(scratch).read_text())
        assert set(autolab) == {"scores"} and "tests" in results
        if "isolation: none" not in done.stdout and "grader_error" not in done.stdout:
            assert autolab["scores"]["memory_buffer"] > 0 and results["score"] > 0, done.stdout[-2000:]
    left = sorted(p.name for p in scratch.iterdir() if p.name not in ("mytorch", "autograder"))
    assert left and all(ignored(name) for name in left), f"not in .gitignore: {[n for n in left if not ignored(n)]}"


def checked_lines(code: str) -> str:
    """Each command line of a recipe, stopping at the first whose status is not 0.

    (``set -e`` would not do: it ignores a failure before the last ``&&`` of a line, which is
    exactly how ``mkdir job && cp ...`` fails on a rerun.)
    """
    commands = re.sub(r"\\\n", " ", code).splitlines()
    out = []
    for command in commands:
        if command.strip() and not command.lstrip().startswith("#"):
            out.append(f"{command}\nstatus=$?; if [ $status -ne 0 ]; then echo {shlex.quote('failed: ' + command)} >&2; "
                       "exit $status; fi")
    return "\n".join(out)


def test_checked_lines_stop_at_a_failure_inside_a_list():
    done = subprocess.run(["bash", "-c", checked_lines("false && true\necho reached")], capture_output=True, text=True)
    assert done.returncode == 1 and "reached" not in done.stdout and "failed: false && true" in done.stderr


def _gradescope_results(scratch: Path) -> Path:
    found = sorted(scratch.rglob("results.json"))
    assert len(found) == 1, f"the Gradescope recipe should write one results.json under the scratch folder: {found}"
    return found[0]


# ---------------------------------------------------------------- the writeup's task texts

def test_a_layer_task_names_every_plain_function_it_asks_for():
    """A task about layers (methods) that also asks for plain functions says so in its text: the
    generated "What to write" list alone is easy to miss (Task 11's pad_backward, sliding_windows_backward)."""
    from autograder.handout import reference_sources
    from autograder.writeup import _functions
    checked = 0
    for key, items in _functions(reference_sources()).items():
        names = [item.split(": ", 1)[1].strip("`") for item in items]
        functions = [n for n in names if "." not in n]
        if functions and len(functions) < len(names):
            text = (REPO / "docs" / "writeup" / "tasks" / f"{key}.md").read_text()
            missing = [n for n in functions if f"`{n}`" not in text]
            assert not missing, f"docs/writeup/tasks/{key}.md asks for {missing} without naming them"
            checked += 1
    assert checked, "no task mixes layers and plain functions: the check would check nothing"


# ---------------------------------------------------------------- what the commands leave behind is ignored

def ignored(name: str) -> bool:
    patterns = [line.strip() for line in (REPO / ".gitignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    return any(p.strip("/") == name or (p.startswith("*") and name.endswith(p[1:])) for p in patterns)


@pytest.mark.parametrize("name", ["digits_training.png", "expression_swell.png", "handin.tar", "autograder.zip",
                                  "autolab", "job", "gradescope-try", "grades.csv", "reports", "tape.svg"])
def test_the_commands_artifacts_are_ignored_by_git(name):
    assert ignored(name), f"{name} (written by a command of the README) is not in .gitignore"


def test_the_kit_ignores_what_the_repository_ignores():
    assert (REPO / "handout" / ".gitignore").read_text() == (REPO / ".gitignore").read_text()
