"""The student kit, generated from the reference: ``python -m autograder handout [--out handout]``.

Solution markers (the one convention)::

    def square_backward(grad_output, a):
        \"\"\"y = a**2: dL/da = 2 a dL/dy (the docstring with the math is kept)\"\"\"
        # BEGIN SOLUTION unary_backward
        # PROMPT: the upstream gradient times the derivative
        return 2.0 * a * grad_output
        # END SOLUTION

(This file ships with the kit: the example must not be one of the reference's functions.)

Everything between the markers is removed. The word after ``BEGIN SOLUTION``
names the rubric component (the task) the body belongs to; ``# PROMPT:``
lines right after it stay in the stub as hints. The stub raises
``NotImplementedError("Task N: <title> — see writeup section N")``, which the
grader reports as "not implemented yet".
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from autograder.rubric import RUBRIC

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION(?: (?P<task>\w+))?[ \t]*$")
END = re.compile(r"^[ \t]*# END SOLUTION[ \t]*$")
PROMPT = re.compile(r"^[ \t]*# PROMPT:[ \t]?(?P<text>.*)$")

REPO = Path(__file__).resolve().parent.parent
# What the kit holds besides the stubbed mytorch/: copied as they are.
KIT_FILES = ("setup.py", ".gitignore")
KIT_TREES = ("autograder",)
# Tests for staff only: they grade the grader, need the reference solution itself, or the benchmarks.
STAFF_TESTS = ("test_autograder_", "test_handout", "test_benchmark")


class MarkerError(ValueError):
    """Unbalanced or unknown solution markers, with the file and line."""


@dataclass(frozen=True)
class Task:
    number: int
    key: str
    title: str
    points: float


TASKS = {c.key: Task(i, c.key, c.title, c.points) for i, c in enumerate(RUBRIC, start=1)}


def stub_message(task: Task) -> str:
    return f"Task {task.number}: {task.title} — see writeup section {task.number}"


def strip_solutions(source: str, filename: str = "<source>", keep: Iterable[str] = ()) -> str:
    """The source with every solution block replaced by its stub (blocks of tasks in ``keep`` stay)."""
    keep = set(keep)
    out: list = []
    lines = source.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        match = BEGIN.match(lines[i].rstrip("\n"))
        if END.match(lines[i].rstrip("\n")):
            raise MarkerError(f"{filename}:{i + 1}: END SOLUTION without BEGIN SOLUTION")
        if not match:
            out.append(lines[i])
            i += 1
            continue
        task = TASKS.get(match["task"] or "")
        if task is None:
            raise MarkerError(f"{filename}:{i + 1}: BEGIN SOLUTION must name a rubric component, "
                              f"one of {sorted(TASKS)}; got {match['task']!r}")
        end = next((j for j in range(i + 1, len(lines)) if END.match(lines[j].rstrip("\n"))), None)
        nested = next((j for j in range(i + 1, end or len(lines)) if BEGIN.match(lines[j].rstrip("\n"))), None)
        if end is None or nested is not None:
            raise MarkerError(f"{filename}:{i + 1}: BEGIN SOLUTION {task.key} has no matching END SOLUTION")
        body = lines[i + 1:end]
        if task.key in keep:
            out.extend(line for line in body if not PROMPT.match(line.rstrip("\n")))
        else:
            indent = match["indent"]
            for line in body:
                prompt = PROMPT.match(line.rstrip("\n"))
                if not prompt:
                    break
                out.append(f"{indent}# {prompt['text']}\n")
            out.append(f'{indent}raise NotImplementedError("{stub_message(task)}")\n')
        i = end + 1
    return "".join(out)


def solution_lines(source: str) -> list:
    """The code lines inside solution blocks (what must never reach the kit)."""
    inside, found = False, []
    for line in source.splitlines():
        if BEGIN.match(line):
            inside = True
        elif END.match(line):
            inside = False
        elif inside and not PROMPT.match(line):
            found.append(line.strip())
    return [line for line in found if line and not line.startswith("#")]


def marked_functions(source: str) -> dict:
    """{task key: [names of the functions and methods whose bodies are solution blocks]}.

    Methods are named with their class (``Linear.forward``): a layer file has many
    ``forward`` methods, and the writeup lists each one a task asks for.
    """
    result: dict = {}
    scopes: list = []  # (indent, name) of the enclosing class and def statements
    for line in source.splitlines():
        scope = re.match(r"^(\s*)(?:def|class) (\w+)[(:]", line)  # (a docstring's "class labels" is no scope)
        match = BEGIN.match(line)
        if not (scope or match):
            continue
        indent = len((scope or match)[1])
        while scopes and scopes[-1][0] >= indent:  # a statement at this indent closes deeper scopes
            scopes.pop()
        if scope:
            scopes.append((indent, scope[2]))
        elif scopes:
            name = ".".join(n for _, n in scopes)
            names = result.setdefault(match["task"], [])
            if name not in names:
                names.append(name)
    return result


def reference_sources(repo: Path = REPO) -> dict:
    """{path relative to the repo: text} of every reference Python file, sorted."""
    return {str(p.relative_to(repo)): p.read_text() for p in sorted((repo / "mytorch").rglob("*.py"))}


def generate(out: Path, repo: Path = REPO, keep: Iterable[str] = ()) -> None:
    """Write the whole kit into ``out`` (replacing what was there)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for relative, text in reference_sources(repo).items():
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(strip_solutions(text, relative, keep))
    for name in KIT_FILES:
        shutil.copy2(repo / name, out / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for tree in KIT_TREES:
        shutil.copytree(repo / tree, out / tree, ignore=ignore)
    tests = out / "hw_tests"
    tests.mkdir()
    for path in sorted((repo / "hw_tests").glob("*.py")):
        if not path.name.startswith(STAFF_TESTS):
            shutil.copy2(path, tests / path.name)
    (out / "Makefile").write_text(MAKEFILE)
    from autograder.writeup import render
    (out / "README.md").write_text(render(reference_sources(repo), repo))


MAKEFILE = """\
# The student kit's commands (see README.md).
PYTHON ?= python3

.PHONY: test grade handin
test:    ## run the local tests
\t$(PYTHON) -m pytest hw_tests
grade:   ## run the local autograder on your mytorch/ (make grade TASK=3: one task)
\t$(PYTHON) -m autograder --submission . $(if $(TASK),--only $(TASK))
handin:  ## build handin.tar with exactly what is graded
\t$(PYTHON) -m autograder handin
"""


def build_handin(root: Path, out: Optional[Path] = None) -> Path:
    """handin.tar with every .py file under mytorch/, and nothing else (what the grader reads)."""
    out = out or root / "handin.tar"
    files = sorted(p for p in (root / "mytorch").rglob("*.py") if "__pycache__" not in p.parts)
    if not files:
        raise FileNotFoundError(f"no mytorch/*.py under {root}")
    with tarfile.open(out, "w") as tar:
        for path in files:
            data = path.read_bytes()
            info = tarfile.TarInfo(str(path.relative_to(root)))
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return out


def main(argv: list) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder handout",
                                     description="Generate the student kit from the reference.")
    parser.add_argument("--out", type=Path, default=REPO / "handout", help="where to write the kit")
    args = parser.parse_args(argv)
    generate(args.out)
    print(f"wrote the student kit to {args.out}")
    return 0


def handin_main(argv: list) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder handin",
                                     description="Build handin.tar from ./mytorch for submission.")
    parser.add_argument("--out", type=Path, default=Path("handin.tar"))
    args = parser.parse_args(argv)
    out = build_handin(Path.cwd(), args.out)
    print(f"wrote {out}: submit this file")
    return 0
