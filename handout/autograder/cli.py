"""Command line: ``python -m autograder [--submission PATH] [...]``, ``handin``, and for staff ``batch|package|handout``."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Optional, TextIO

from autograder.grading import report as reports
from autograder.grading.flags import flag_handin
from autograder.grading.grade import DEFAULT_HANDIN_TIMEOUT, failed_report, grade
from autograder.grading.sandbox import IsolationUnavailable, isolation
from autograder.options import add_grading_options, add_only_option, parse_checked
from autograder.grading.rubric import select_tests
from autograder.grading.staging import SubmissionError, open_handin, reference_root


STUDENT_EPILOG = """\
commands:
  python -m autograder handin    build handin.tar (what is graded) from ./mytorch, to upload

staff commands (python -m autograder staff: what each does):
  batch, package, handout
"""

STAFF_HELP = """\
Staff commands of python -m autograder (each has --help):
  batch FOLDER      grade a folder of handins: a CSV of scores, one JSON report per handin
  package           build the Gradescope zip and the Autolab bundle
  handout           regenerate the student kit (handout/) from the reference
Grading one handin: the "staff options" of python -m autograder --help.
"""


def grade_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Grade a mytorch/ folder against the rubric and print the score table\n"
                    "(with no --submission: the reference beside this autograder).",
        epilog=STUDENT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submission", type=Path,
                        help="a folder holding mytorch/ (or one handin archive), or a handin.tar / .tar.gz / .tgz / .zip")
    add_only_option(parser)
    staff = parser.add_argument_group("staff options (report formats, platforms, seed and limits)")
    staff.add_argument("--format", choices=("table", "json"), default="table", help="report format")
    staff.add_argument("--autolab", "-A", action="store_true",
                       help='print the Autolab line {"scores": {...}} as the last line of output')
    staff.add_argument("--gradescope", type=Path, metavar="PATH", help="also write Gradescope's results.json to PATH")
    add_grading_options(staff)
    return parser


class GradingProgress:
    """"grading: 12/72 tests" on stderr, redrawn in place, while one handin is graded.

    Only on a terminal: in a log, a test's captured stderr or a platform's feedback the
    line would be noise (batch has its own bar, ``autograder.batch.Progress``).
    """

    def __init__(self, total: int, stream: Optional[TextIO] = None):
        self.total, self.done = total, 0
        self.stream = stream or sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.lock = threading.Lock()

    def __call__(self, _result: object = None) -> None:
        with self.lock:
            self.done += 1
            if self.live:
                self.stream.write(f"\rgrading: {self.done}/{self.total} tests")
                self.stream.flush()

    def close(self) -> None:
        """Erase the line, so the table starts on a clean one."""
        if self.live and self.done:
            self.stream.write("\r" + " " * len(f"grading: {self.done}/{self.total} tests") + "\r")
            self.stream.flush()


def grade_path(path: Optional[Path], args: argparse.Namespace, progress=None,
               require_isolation: bool = False, strict: bool = False) -> tuple:
    """Grade a submission path; for a bad submission every test fails with the cause.

    ``strict``: raise ``SubmissionError`` instead, for a path that cannot be graded at all
    (missing, not a folder or an archive, no ``mytorch/`` in it, an unreadable archive).

    ``require_isolation``: refuse to run the handin unconfined (the report is then all zeros,
    its reason saying why and how to fix it). Returns (report, warnings); the warnings
    (refused archive members, ...) are also in ``report.warnings``, and the flags for staff
    (``autograder.grading.flags``) in ``report.flags``.
    """
    warnings: list = []
    flags: list = []
    only = getattr(args, "only", None)
    try:
        with isolation() as iso, open_handin(path, warnings, group=iso.uid) as folder:
            flags = flag_handin(folder)
            result = grade(folder, seed=args.seed, timeout=args.timeout, memory_mb=args.memory_mb, jobs=args.jobs,
                           only=only, progress=progress, iso=iso, require_isolation=require_isolation,
                           handin_timeout=getattr(args, "handin_timeout", DEFAULT_HANDIN_TIMEOUT))
    except SubmissionError as error:
        if strict:
            raise
        result = failed_report(str(path), args.seed, str(error), only)
    except IsolationUnavailable as error:
        result = failed_report(str(path), args.seed, f"grader_error: not graded: {error}", only)
        result.isolation = "none: grading refused"
    # Named as given, not as the staging folder it was copied into.
    result.submission = shown_submission(path)
    result.warnings, result.flags = warnings, flags
    return result, warnings


def shown_submission(path: Optional[Path]) -> str:
    """The handin as the user named it; "." or ".." alone is resolved, so a report says which folder."""
    if path is None:
        return f"the bundled reference ({reference_root()})"
    if not str(path).strip("./"):
        return f"{path} ({Path(path).resolve()})"
    return str(path)


def main(argv: Optional[list] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "batch":
        from autograder.batch import main as batch_main
        return batch_main(argv[1:])
    if argv and argv[0] == "package":
        from autograder.package import main as package_main
        return package_main(argv[1:])
    if argv and argv[0] == "handout":
        from autograder.handout import main as handout_main
        return handout_main(argv[1:])
    if argv and argv[0] == "staff":
        print(STAFF_HELP, end="")
        return 0
    if argv and argv[0] == "handin":
        from autograder.handout import handin_main
        return handin_main(argv[1:])
    args = parse_checked(grade_parser(), argv)
    # The platforms' bundles pass --gradescope or --autolab: there staff rely on isolation.
    platform = bool(args.gradescope or args.autolab)
    progress = GradingProgress(len(select_tests(args.only)))
    try:
        # On a platform the student must still get a report (all zeros, with the reason);
        # from the command line a path that is no handin is one error, not a table of zeros.
        result, _ = grade_path(args.submission, args, progress=progress,
                               require_isolation=platform and not args.allow_unisolated, strict=not platform)
    except SubmissionError as error:
        print(f"python -m autograder: error: {error} (nothing graded)", file=sys.stderr)
        return 2
    finally:
        progress.close()
    if args.gradescope:
        reports.write_gradescope(result, args.gradescope)
    if args.format == "json":
        print(reports.as_json(result))
    else:
        print(reports.table(result))  # includes the warnings, as notes
    if args.autolab:
        print(reports.autolab_line(result))
    return 0
