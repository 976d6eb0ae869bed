"""Batch grading: ``python -m autograder batch DIR --jobs N --csv grades.csv``.

Every entry of DIR is one handin: a folder holding ``mytorch/`` (possibly one
folder down, or holding a single archive), or a ``.tar``/``.tar.gz``/``.tgz``/``.zip``
archive. ``N`` handins are graded at once, each one's tests one after another,
so N is about the number of cores to use. A handin that cannot be graded (an
unreadable archive, no ``mytorch/``, a grader crash) gets a row of zeros with
the reason; it never stops the others.

CSV columns: ``handin`` (the entry's name), ``total``, one column per rubric
component (its Autolab problem name), ``status``, ``isolation`` (what confined
the test processes, "unknown" when nothing ran), ``flags`` (for staff: how many
places in the code a TA should look at, and the first few; they never change a
score) and ``notes``. Each row is written (and flushed) as its handin finishes,
so a grader that crashes or is killed loses nothing already graded; at the end
the file is rewritten in the folder's order. Text from a handin (its name, its
messages) is escaped, and a cell a spreadsheet would read as a formula
(starting with ``= + - @``) gets a leading apostrophe. The CSV and the
``--json-dir`` reports must be outside the folder of handins. Statuses:

* ``graded``: the submission imported and every selected test ran (failing tests are in the notes' count);
* ``import_error``: the package did not import (syntax error, missing module...): every test 0;
* ``not_gradable``: nothing to grade (no ``mytorch/``, an unreadable or unknown file): every test 0;
* ``grader_error``: the grader itself failed on this handin (please report it): every test 0.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import re
import shutil
import statistics
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, TextIO

from autograder.grading import report as reports
from autograder.grading.flags import flag_handin
from autograder.grading.grade import (DEFAULT_HANDIN_TIMEOUT, DEFAULT_MEMORY_MB, DEFAULT_SEED, DEFAULT_TIMEOUT,
                                      UNISOLATED_HELP, Report, failed_report, grade)
from autograder.grading.sandbox import IsolationUnavailable, isolation
from autograder.options import add_handin_timeout_option, add_isolation_option, add_only_option, parse_checked
from autograder.grading.rubric import RUBRIC, select_tests
from autograder.grading.staging import SubmissionError, open_handin
from autograder.grading.text import csv_cell, escape

# How the child describes a submission that does not import (autograder/harness/child.py).
IMPORT_FAILURES = ("could not import the submission", "no mytorch/ package")
FLAGS_IN_CSV = 3  # flags written out in the CSV's flags cell; the count covers all
MAX_NOTES_CHARS = 2000  # one CSV cell of notes


@dataclass
class HandinResult:
    """One row of the batch: the handin's report and how grading went."""

    name: str
    report: Report
    status: str  # graded | import_error | not_gradable | grader_error
    notes: list = field(default_factory=list)

    @property
    def refused(self) -> list:
        return [w for w in self.report.warnings if w.startswith("refused")]

    def row(self) -> dict:
        """The CSV row: every text cell escaped and safe from spreadsheet formulas."""
        row = {"handin": csv_cell(self.name), "total": _num(self.report.score)}
        scores = self.report.component_scores()
        row.update({c.key: _num(scores.get(c.key, 0.0)) for c in RUBRIC})
        flags = self.report.flags
        shown = "; ".join(reports.flag_text(f) for f in flags[:FLAGS_IN_CSV])
        row.update(status=csv_cell(self.status), isolation=csv_cell(self.report.isolation or "unknown"),
                   flags=csv_cell(f"{len(flags)}: {shown}" + ("; ..." if len(flags) > FLAGS_IN_CSV else "")
                                  if flags else "0"),
                   notes=csv_cell("; ".join(self.notes), MAX_NOTES_CHARS))
        return row


CSV_COLUMNS = ["handin", "total"] + [c.key for c in RUBRIC] + ["status", "isolation", "flags", "notes"]


def find_handins(folder: Path, skip: tuple = ()) -> list:
    """The entries of ``folder`` to grade, sorted by name (hidden files and the batch's own outputs skipped)."""
    skipped = {Path(p).resolve() for p in skip}
    return sorted((p for p in folder.iterdir() if not p.name.startswith(".") and p.resolve() not in skipped),
                  key=lambda p: p.name)


def grade_handin(path: Path, seed: int = DEFAULT_SEED, timeout: float = DEFAULT_TIMEOUT,
                 memory_mb: int = DEFAULT_MEMORY_MB, only: Optional[list] = None, jobs: int = 1,
                 progress=None, require_isolation: bool = True,
                 handin_timeout: float = DEFAULT_HANDIN_TIMEOUT) -> HandinResult:
    """Grade one handin; never raises: a handin that cannot be graded gets zeros and the reason.

    Each handin gets an isolation of its own (as root, a uid no other handin shares).
    """
    warnings: list = []
    flags: list = []
    try:
        with isolation() as iso, open_handin(path, warnings, group=iso.uid) as folder:
            flags = flag_handin(folder)
            report = grade(folder, seed=seed, timeout=timeout, memory_mb=memory_mb, jobs=jobs, only=only,
                           progress=progress, iso=iso, require_isolation=require_isolation,
                           handin_timeout=handin_timeout)
        status = "import_error" if _import_failure(report) else "graded"
    except SubmissionError as error:
        report, status = failed_report(str(path), seed, str(error), only), "not_gradable"
    except IsolationUnavailable as error:
        report, status = failed_report(str(path), seed, f"not graded: {error}", only), "grader_error"
        report.isolation = "none: grading refused"
    except Exception as error:  # a bug of the grader: keep going, and say so
        detail = traceback.format_exception_only(type(error), error)[-1].strip()
        report = failed_report(str(path), seed, f"the grader failed on this handin: {detail}", only)
        status = "grader_error"
    report.submission, report.warnings, report.flags = str(path), warnings, flags
    return HandinResult(path.name, report, status, _notes(report, status))


def _import_failure(report: Report) -> bool:
    return bool(report.tests) and all(t.reason.startswith(IMPORT_FAILURES) for t in report.tests)


def _notes(report: Report, status: str) -> list:
    notes = []
    if status != "graded" and report.tests:
        notes.append(report.tests[0].reason)
    elif status == "graded":
        failed = [t for t in report.tests if t.status != "passed"]
        if failed:
            notes.append(f"{len(failed)} of {len(report.tests)} tests lost points")
    refused = [w for w in report.warnings if w.startswith("refused")]
    if refused:  # the honest part of the archive was still graded
        notes.append(f"{len(refused)} archive member(s) refused: " + ", ".join(refused))
    notes.extend(w for w in report.warnings if not w.startswith("refused"))
    return notes


class Progress:
    """A plain-text progress bar on stderr: redrawn in place on a terminal, one line per handin otherwise."""

    def __init__(self, handins: int, tests_per_handin: int, stream: Optional[TextIO] = None, width: int = 30):
        self.handins, self.tests = handins, handins * tests_per_handin
        self.stream = stream or sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.width, self.done_handins, self.done_tests = width, 0, 0
        self.started, self.lock, self.last_draw = time.monotonic(), threading.Lock(), 0.0

    def test_done(self, _result: object = None) -> None:
        with self.lock:
            self.done_tests += 1
            if self.live and time.monotonic() - self.last_draw > 0.1:
                self._draw()

    def handin_done(self, result: HandinResult, tests_not_run: int = 0) -> None:
        with self.lock:
            self.done_handins += 1
            self.done_tests += tests_not_run  # a handin with nothing to grade still moves the bar
            line = (f"{self._bar()} {self.done_handins}/{self.handins}  {escape(result.name, 120)}: "
                    f"{_num(result.report.score)}/{_num(result.report.max_score)} ({result.status})")
            self.stream.write(("\r" + line.ljust(self._cols()) if self.live else line) + "\n")
            if self.live and self.done_handins < self.handins:
                self._draw()
            self.stream.flush()

    def _bar(self) -> str:
        filled = self.width * self.done_tests // max(1, self.tests)
        return "[" + "#" * filled + "." * (self.width - filled) + "]"

    def _draw(self) -> None:
        elapsed = time.monotonic() - self.started
        left = elapsed / self.done_tests * (self.tests - self.done_tests) if self.done_tests else 0.0
        line = (f"{self._bar()} {self.done_handins}/{self.handins} handins, {self.done_tests}/{self.tests} tests, "
                f"{_clock(elapsed)} elapsed, ~{_clock(left)} left")
        self.stream.write("\r" + line[:self._cols() - 1].ljust(self._cols() - 1))
        self.stream.flush()
        self.last_draw = time.monotonic()

    @staticmethod
    def _cols() -> int:
        return max(40, min(160, shutil.get_terminal_size((100, 20)).columns))


def run_batch(folder: Path, jobs: int = 1, seed: int = DEFAULT_SEED, timeout: float = DEFAULT_TIMEOUT,
              memory_mb: int = DEFAULT_MEMORY_MB, only: Optional[list] = None, json_dir: Optional[Path] = None,
              skip: tuple = (), stream: Optional[TextIO] = None, csv_path: Optional[Path] = None,
              require_isolation: bool = True, handin_timeout: float = DEFAULT_HANDIN_TIMEOUT) -> list:
    """Grade every handin in ``folder``, ``jobs`` at once; results in the folder's (sorted) order.

    With ``csv_path``, each handin's row is appended to that CSV as soon as it is graded (the header
    first), and the file is rewritten in the folder's order at the end. ``require_isolation``: a
    handin is not run unconfined (it gets zeros, marked grader_error).
    """
    handins = find_handins(folder, skip)
    per_handin = len(select_tests(only))
    progress = Progress(len(handins), per_handin, stream)
    if json_dir is not None:
        json_dir.mkdir(parents=True, exist_ok=True)
    log = CsvLog(csv_path) if csv_path is not None else None

    def one(path: Path) -> HandinResult:
        ran = []

        def tick(test: object) -> None:
            ran.append(test)
            progress.test_done()

        # Tests of one handin run one at a time: the parallelism is across handins.
        result = grade_handin(path, seed, timeout, memory_mb, only, jobs=1, progress=tick,
                              require_isolation=require_isolation, handin_timeout=handin_timeout)
        if json_dir is not None:
            reports.write_text(json_dir / report_file_name(result.name), reports.as_json(result.report))
        if log is not None:
            log.add(result)
        progress.handin_done(result, tests_not_run=per_handin - len(ran))
        return result

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            results = list(pool.map(one, handins))
    finally:
        if log is not None:
            log.close()
    if csv_path is not None:
        write_csv(results, csv_path)
    return results


def report_file_name(name: str, limit: int = 80) -> str:
    """The --json-dir file of a handin: its name made safe (letters, digits, ``._-``), cut to ``limit``
    characters, and a short hash of the original name, so two handins never share a file and no
    name is too long for the file system."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:limit].lstrip(".") or "handin"
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:12]
    return f"{safe}-{digest}.json"


class CsvLog:
    """The batch's CSV, written row by row as handins finish (header first, flushed after each row)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.stream = _open_csv(path)
        self.writer = csv.DictWriter(self.stream, fieldnames=CSV_COLUMNS)
        self.writer.writeheader()
        self.stream.flush()

    def add(self, result: HandinResult) -> None:
        with self.lock:
            self.writer.writerow(result.row())
            self.stream.flush()

    def close(self) -> None:
        with self.lock:
            self.stream.close()


def write_csv(results: list, path: Path) -> None:
    """Write the whole CSV (header, then one row per result in order), replacing ``path`` at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with _open_csv(partial) as stream:
        writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(result.row() for result in results)
    os.replace(partial, path)  # a crash while rewriting keeps the rows written so far


def _open_csv(path: Path) -> TextIO:
    # Cells are escaped already; backslashreplace is the last guard: no character can fail the file.
    return open(path, "w", newline="", encoding="utf-8", errors="backslashreplace")


def outputs_inside(folder: Path, outputs: tuple) -> list:
    """The outputs (CSV, JSON folder) that lie inside the folder of handins, where a handin could reach them."""
    root = folder.resolve()
    return [p for p in outputs if p is not None and (p.resolve() == root or p.resolve().is_relative_to(root))]


def summary(results: list, seconds: float) -> str:
    """Count, mean/median/min/max of the totals, and how many handins had each kind of trouble."""
    if not results:
        return "no handins found"
    totals = [r.report.score for r in results]
    out_of = max(r.report.max_score for r in results)
    count = {status: sum(r.status == status for r in results)
             for status in ("graded", "import_error", "not_gradable", "grader_error")}
    lines = [f"{len(results)} handins in {seconds:.1f} s, graded out of {_num(out_of)} points:",
             f"  mean {statistics.mean(totals):.2f}, median {_num(statistics.median(totals))}, "
             f"min {_num(min(totals))}, max {_num(max(totals))}",
             f"  full marks: {sum(t == out_of for t in totals)}, zero: {sum(t == 0 for t in totals)}",
             f"  failed to import: {count['import_error']}, nothing to grade: {count['not_gradable']}, "
             f"refused archive members: {sum(bool(r.refused) for r in results)}, "
             f"grader errors: {count['grader_error']}"]
    return "\n".join(lines)


def batch_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder batch",
        description="Grade every handin in a folder (each a folder holding mytorch/, or a .tar/.tar.gz/.tgz/.zip) "
                    "and write one CSV row per handin.")
    parser.add_argument("folder", type=Path, help="the folder of handins")
    parser.add_argument("--csv", type=Path, default=Path("grades.csv"), help="where to write the grades "
                                                                            "(default grades.csv)")
    parser.add_argument("--json-dir", type=Path, help="also write each handin's JSON report here")
    parser.add_argument("--jobs", type=int, default=max(1, os.cpu_count() or 1),
                        help="handins graded at once (default: the number of cores)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"input seed (default {DEFAULT_SEED})")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"wall-clock limit per test, seconds (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB,
                        help=f"memory limit per test process, MiB (default {DEFAULT_MEMORY_MB})")
    add_only_option(parser)
    add_handin_timeout_option(parser)
    add_isolation_option(parser)
    return parser


def main(argv: Optional[list] = None) -> int:
    args = parse_checked(batch_parser(), argv)
    if not args.folder.is_dir():
        print(f"python -m autograder batch: {args.folder} is not a folder", file=sys.stderr)
        return 2
    inside = outputs_inside(args.folder, (args.csv, args.json_dir))
    if inside:
        print(f"python -m autograder batch: {escape(inside[0], 300)} is inside the folder of handins "
              f"{escape(args.folder, 300)}; write the grades elsewhere (--csv, --json-dir), where no handin "
              "can reach them", file=sys.stderr)
        return 2
    with isolation() as iso:
        if not iso.isolated and not args.allow_unisolated:
            print(f"python -m autograder batch: refusing to grade: {UNISOLATED_HELP}", file=sys.stderr)
    started = time.monotonic()
    results = run_batch(args.folder, args.jobs, args.seed, args.timeout, args.memory_mb, args.only,
                        args.json_dir, csv_path=args.csv, require_isolation=not args.allow_unisolated,
                        handin_timeout=args.handin_timeout)
    print(summary(results, time.monotonic() - started))
    print(f"seed {args.seed}; grades written to {args.csv}" + (f", reports to {args.json_dir}/" if args.json_dir
                                                              else ""))
    return 0


def _num(x: float) -> str:
    return f"{round(x, 2):g}"


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes:02d}:{seconds:02d}"
