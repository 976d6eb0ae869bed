"""Bundles for the platforms courses grade on: ``python -m autograder package --gradescope ZIP --autolab DIR``.

Both bundles carry the autograder package's source and nothing else. The
grader never needs the reference ``mytorch``: its oracle is its own NumPy and
central differences, so the solution stays off the grading servers.

Gradescope (its "Autograder Specifications"): the zip's root holds ``setup.sh``,
run once as root when the image is built (installs NumPy from
``requirements.txt`` and checks that the grader imports), and
``run_autograder``, run from ``/autograder`` for every submission: it grades
``/autograder/submission`` (``mytorch/`` itself, one folder holding it, or a
handin archive) and writes ``/autograder/results/results.json``. The grader
lives in ``/autograder/source/autograder`` and runs from there.

Autolab (its "Guide for Lab Authors"): for every submission Autolab copies
the student's handin (renamed to the assessment's handin file name, here
``handin.tar``), ``autograde.tar`` and ``autograde-Makefile`` into an empty
folder, renames ``autograde-Makefile`` to ``Makefile``, runs ``make`` and
reads the last line of stdout as ``{"scores": {...}}``. The Makefile unpacks
``autograde.tar`` (the grader) but not the handin: the grader unpacks that
itself, refusing unsafe members.

The grading options (seed, limits) are written into the scripts, so every
submission is graded the same way; ``GRADER_ARGS`` in the environment adds
options for a one-off run. The paths of ``run_autograder`` can be moved with
``AUTOGRADER_ROOT`` (or one by one: ``AUTOGRADER_SOURCE``,
``AUTOGRADER_SUBMISSION``, ``AUTOGRADER_RESULTS``) to try the bundle in a
scratch folder, and ``AUTOGRADER_PYTHON`` picks the interpreter.
"""

from __future__ import annotations

import argparse
import io
import shlex
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Optional

from autograder.grading import flags
from autograder.grading.grade import DEFAULT_MEMORY_MB, DEFAULT_SEED, DEFAULT_TIMEOUT
from autograder.grading.rubric import RUBRIC

PACKAGE_DIR = Path(__file__).resolve().parent
FIXED_TIME = (2024, 1, 1, 0, 0, 0)  # every bundled file gets this date: the same source gives the same bytes
FIXED_EPOCH = 1704067200  # FIXED_TIME as a Unix time

SETUP_SH = """\
#!/usr/bin/env bash
# MyTorch autograder: Gradescope runs this once, as root, while it builds the autograder image.
# Written by `python -m autograder package --gradescope`.
set -euo pipefail
SOURCE="${AUTOGRADER_SOURCE:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
PYTHON="${AUTOGRADER_PYTHON:-python3}"

if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    apt-get update
    apt-get install -y --no-install-recommends python3 python3-pip
fi
# Newer Ubuntu images refuse system-wide pip installs (PEP 668) unless told otherwise.
"$PYTHON" -m pip install --disable-pip-version-check --no-cache-dir -r "$SOURCE/requirements.txt" \\
    || "$PYTHON" -m pip install --disable-pip-version-check --no-cache-dir --break-system-packages \\
        -r "$SOURCE/requirements.txt"
# Fail the build now, not at the first submission, if the grader does not import.
cd "$SOURCE"
"$PYTHON" -c "import numpy; from autograder.grading import flags
from autograder.grading.grade import check_rubric; from autograder.grading.cases import load_all; \\
check_rubric(load_all()); print('MyTorch autograder ready, NumPy', numpy.__version__)"
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# MyTorch autograder: Gradescope runs this from /autograder for every submission.
# Written by `python -m autograder package --gradescope`; grading options: {options}
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
SOURCE="${{AUTOGRADER_SOURCE:-$ROOT/source}}"
SUBMISSION="${{AUTOGRADER_SUBMISSION:-$ROOT/submission}}"
RESULTS="${{AUTOGRADER_RESULTS:-$ROOT/results/results.json}}"
PYTHON="${{AUTOGRADER_PYTHON:-python3}}"

mkdir -p "$(dirname "$RESULTS")"
cd "$SOURCE"
# The table goes to stdout, which Gradescope shows to instructors only; students see results.json.
# (GRADER_ARGS is split into words on purpose: extra options for a one-off run.)
# shellcheck disable=SC2086
exec "$PYTHON" -m autograder --submission "$SUBMISSION" --gradescope "$RESULTS" {options} ${{GRADER_ARGS:-}}
"""

AUTOGRADE_MAKEFILE = """\
# MyTorch autograder for Autolab. Written by `python -m autograder package --autolab`.
# Autolab copies this file (renamed Makefile), autograde.tar and the student's handin into an
# empty folder and runs `make`; the last line printed is the autoresult {{"scores": {{...}}}}.
# Grading options: {options}
# To try it: put the three files in a folder, rename this one Makefile, and run `make`.
PYTHON ?= python3
HANDIN ?= {handin}
GRADER_ARGS ?=

all:
\t@tar xf autograde.tar
\t@$(PYTHON) -m autograder --submission "$(HANDIN)" --autolab {options} $(GRADER_ARGS)

clean:
\trm -rf autograder

.PHONY: all clean
"""


def grader_files() -> list:
    """(name inside the bundle, bytes) for every file of the autograder package, sorted, and the list of
    the kit's given files (the bundle holds no reference to compute it from: see ``flags.given_hashes``)."""
    files = []
    for path in sorted(PACKAGE_DIR.rglob("*")):
        relative = path.relative_to(PACKAGE_DIR)
        if path.is_file() and "__pycache__" not in relative.parts and path.suffix != ".pyc" \
                and not any(part.startswith(".") for part in relative.parts) and path != flags.GIVEN_LIST:
            files.append((f"autograder/{relative.as_posix()}", path.read_bytes()))
    listed = "".join(f"{digest}\n" for digest in sorted(flags.given_hashes())).encode()
    files.append((f"autograder/{flags.GIVEN_LIST.relative_to(PACKAGE_DIR).as_posix()}", listed))
    return sorted(files)


def grading_options(seed: int, timeout: float, memory_mb: int) -> str:
    return shlex.join(["--seed", str(seed), "--timeout", f"{timeout:g}", "--memory-mb", str(memory_mb)])


def build_gradescope(destination: Path, options: str, requirement: str = "numpy>=1.23") -> list:
    """Write Gradescope's autograder.zip; returns the names it holds."""
    members = [("setup.sh", SETUP_SH.encode(), 0o755),
               ("run_autograder", RUN_AUTOGRADER.format(options=options).encode(), 0o755),
               ("requirements.txt", f"{requirement}\n".encode(), 0o644)]
    members += [(name, data, 0o644) for name, data in grader_files()]
    destination.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = (0o100000 | mode) << 16  # a regular file with these permissions
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, data)
    return [name for name, _, _ in members]


def build_autolab(folder: Path, options: str, handin: str = "handin.tar") -> tuple:
    """Write Autolab's autograde-Makefile and autograde.tar into ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    makefile = folder / "autograde-Makefile"
    makefile.write_text(AUTOGRADE_MAKEFILE.format(options=options, handin=handin))
    archive = folder / "autograde.tar"
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        directories = sorted({"/".join(name.split("/")[:i]) for name, _ in grader_files()
                              for i in range(1, name.count("/") + 1)})
        for name in directories:
            tar.addfile(_tar_info(name, tarfile.DIRTYPE, 0o755))
        for name, data in grader_files():
            tar.addfile(_tar_info(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    return makefile, archive


def _tar_info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.mtime = kind, mode, size, FIXED_EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def package_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder package",
        description="Build the autograder bundles for Gradescope (a zip with setup.sh and run_autograder) "
                    "and Autolab (autograde-Makefile and autograde.tar).")
    parser.add_argument("--gradescope", type=Path, metavar="ZIP", help="write Gradescope's autograder zip here")
    parser.add_argument("--autolab", type=Path, metavar="DIR",
                        help="write autograde-Makefile and autograde.tar into this folder")
    parser.add_argument("--handin-name", default="handin.tar",
                        help="Autolab: the assessment's handin file name (default handin.tar)")
    parser.add_argument("--numpy", default="numpy>=1.23", metavar="REQUIREMENT",
                        help="Gradescope: the NumPy requirement setup.sh installs, e.g. numpy==2.1.3 "
                             "(default numpy>=1.23)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"input seed (default {DEFAULT_SEED})")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"wall-clock limit per test, seconds (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB,
                        help=f"memory limit per test process, MiB (default {DEFAULT_MEMORY_MB})")
    return parser


def main(argv: Optional[list] = None) -> int:
    parser = package_parser()
    args = parser.parse_args(argv)
    if args.gradescope is None and args.autolab is None:
        parser.error("give --gradescope ZIP, --autolab DIR, or both")
    options = grading_options(args.seed, args.timeout, args.memory_mb)
    if args.gradescope is not None:
        names = build_gradescope(args.gradescope, options, args.numpy)
        print(f"wrote {args.gradescope} ({len(names)} files): upload it as the assignment's autograder")
    if args.autolab is not None:
        makefile, archive = build_autolab(args.autolab, options, args.handin_name)
        print(f"wrote {makefile} and {archive}; the assessment's handin file must be named {args.handin_name}")
        print("define these Autolab problems (name: points): "
              + ", ".join(f"{c.key}: {c.points:g}" for c in RUBRIC))
    print(f"grading options: {options}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
