"""Command line: ``python -m autograder [--submission PATH] [...]`` and ``python -m autograder batch|package ...``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from autograder.grading import report as reports
from autograder.grading.flags import flag_handin
from autograder.grading.grade import DEFAULT_HANDIN_TIMEOUT, failed_report, grade
from autograder.grading.sandbox import IsolationUnavailable, isolation
from autograder.options import add_grading_options, add_only_option, parse_checked
from autograder.grading.staging import SubmissionError, open_handin, reference_root


def grade_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Grade a mytorch submission (default: the bundled reference). "
                    "Other commands (each with --help): batch (grade a folder of handins), package (Gradescope/Autolab "
                    "bundles), handout (generate the student kit), handin (build handin.tar).")
    parser.add_argument("--submission", type=Path,
                        help="a folder holding mytorch/ (or one handin archive), or a handin.tar / .tar.gz / .tgz / .zip")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="report format")
    parser.add_argument("--autolab", "-A", action="store_true",
                        help='print the Autolab line {"scores": {...}} as the last line of output')
    parser.add_argument("--gradescope", type=Path, metavar="PATH", help="also write Gradescope's results.json to PATH")
    add_only_option(parser)
    add_grading_options(parser)
    return parser


def grade_path(path: Optional[Path], args: argparse.Namespace, progress=None,
               require_isolation: bool = False) -> tuple:
    """Grade a submission path; never raises for a bad submission: every test then fails with the cause.

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
        result = failed_report(str(path), args.seed, str(error), only)
    except IsolationUnavailable as error:
        result = failed_report(str(path), args.seed, f"grader_error: not graded: {error}", only)
        result.isolation = "none: grading refused"
    # Named as given, not as the staging folder it was copied into.
    result.submission = str(path) if path is not None else f"the bundled reference ({reference_root()})"
    result.warnings, result.flags = warnings, flags
    return result, warnings


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
    if argv and argv[0] == "handin":
        from autograder.handout import handin_main
        return handin_main(argv[1:])
    args = parse_checked(grade_parser(), argv)
    # The platforms' bundles pass --gradescope or --autolab: there staff rely on isolation.
    platform = bool(args.gradescope or args.autolab)
    result, _ = grade_path(args.submission, args, require_isolation=platform and not args.allow_unisolated)
    if args.gradescope:
        reports.write_gradescope(result, args.gradescope)
    if args.format == "json":
        print(reports.as_json(result))
    else:
        print(reports.table(result))  # includes the warnings, as notes
    if args.autolab:
        print(reports.autolab_line(result))
    return 0
