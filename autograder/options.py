"""Command-line options shared by the grading commands (one handin, a batch)."""

from __future__ import annotations

import argparse
import os
from typing import Optional

from autograder.grading.grade import DEFAULT_HANDIN_TIMEOUT, DEFAULT_MEMORY_MB, DEFAULT_SEED, DEFAULT_TIMEOUT
from autograder.grading.rubric import select_tests


def add_grading_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"input seed (default {DEFAULT_SEED})")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"wall-clock limit per test, seconds (default {DEFAULT_TIMEOUT:g})")
    add_handin_timeout_option(parser)
    parser.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB,
                        help=f"memory limit per test process, MiB (default {DEFAULT_MEMORY_MB})")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="tests run at once")
    add_isolation_option(parser)


def add_handin_timeout_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--handin-timeout", type=float, default=DEFAULT_HANDIN_TIMEOUT,
                        help="wall-clock limit for all of one handin's tests, seconds; tests not started by then "
                             f"fail unrun (default {DEFAULT_HANDIN_TIMEOUT:g}, 0: none)")


def add_isolation_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-unisolated", action="store_true",
                        help="grade even where no isolation mechanism (an unprivileged uid, Landlock) is available; "
                             "without it, batch, --gradescope and --autolab refuse to run a handin unconfined")


def add_only_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", nargs="*", metavar="TASK",
                        help="grade only these: task numbers (3), component keys (elementwise_backward), "
                             "test names (backward.exp) or starts of test names (engine.)")


def parse_checked(parser: argparse.ArgumentParser, argv: Optional[list]) -> argparse.Namespace:
    """``parser.parse_args``, refusing an ``--only`` that picks no test (a typo must not grade nothing)."""
    args = parser.parse_args(argv)
    try:
        select_tests(args.only)
    except ValueError as error:
        parser.error(str(error))
    return args
