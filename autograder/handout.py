"""The student kit, generated from the reference: ``python -m autograder handout [--out handout]``.

The solution markers it strips are described in ``autograder/markers.py``.
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tarfile
from pathlib import Path
from typing import Iterable, Optional

from autograder.markers import strip_solutions
from autograder.writeup import render

REPO = Path(__file__).resolve().parent.parent
# What the kit holds besides the stubbed mytorch/: copied as they are.
KIT_FILES = ("setup.py", ".gitignore")
KIT_TREES = ("autograder",)
# Tests for staff only: they grade the grader, need the reference solution itself, or files the kit
# does not ship (the benchmarks, examples/, docs/notebooks/).
STAFF_TESTS = ("test_autograder_", "test_handout", "test_benchmark", "test_digits_example",
               "test_differentiation_examples", "test_notebook")


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
    (out / "README.md").write_text(render(reference_sources(repo), repo))


MAKEFILE = """\
# The student kit's commands (see README.md).
PYTHON ?= python3

.PHONY: test grade handin
test:    ## run the local tests (make test TASK=3: the tests of task 3 alone)
\t$(PYTHON) -m pytest hw_tests $(if $(TASK),--task $(TASK))
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
        raise FileNotFoundError(f"no .py file under {root / 'mytorch'}: nothing to hand in")
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
    root = Path.cwd()
    if not (root / "mytorch").is_dir():
        print(f"python -m autograder handin: error: no mytorch/ folder in {root}: run it from the folder "
              "that holds your mytorch/ (the kit's root)", file=sys.stderr)
        return 2
    try:
        out = build_handin(root, args.out)
    except (FileNotFoundError, OSError) as error:
        print(f"python -m autograder handin: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {out}: submit this file")
    return 0
