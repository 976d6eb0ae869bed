"""What isolation costs the grader: one run prints medians and ratios.

    python benchmarks/bench_grader.py            # about a minute on 2 cores
    python benchmarks/bench_grader.py --quick

1. The start cost of one test process, measured on the cheapest graded test
   (``backward.identity``): unconfined (the trusted mode used for the
   reference's own tests) against confined as the grader confines a handin
   (rlimits, Landlock where the kernel has it, an unprivileged uid and a
   private mount namespace when run as root).
2. One full grade of the bundled reference, confined, with the default jobs.

The machine is shared: compare the ratio, not the seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a clone, installed or not

from autograder.grading.cases import load_all  # noqa: E402
from autograder.grading.grade import DEFAULT_SEED, child_case, grade, prefixed  # noqa: E402
from autograder.grading.sandbox import case_rng, isolation, run_in_child  # noqa: E402
from autograder.grading.staging import reference_root  # noqa: E402


def start_cost(repeats: int) -> dict:
    case = load_all()["backward.identity"]
    inputs = prefixed(case.name, case.make_inputs(case_rng(DEFAULT_SEED, case.name)))
    submission = reference_root()
    times: dict = {"unconfined": [], "confined": []}
    with isolation() as iso:
        description = iso.describe()
        for _ in range(repeats):
            for mode, chosen in (("unconfined", None), ("confined", iso)):
                started = time.perf_counter()
                result = run_in_child([child_case(case)], inputs, submission, chosen, 30.0, 2048)[case.name]
                times[mode].append(time.perf_counter() - started)
                assert result.status == "ok", (mode, result.message)
    return {"isolation": description, **{mode: statistics.median(t) for mode, t in times.items()}}


def full_grade(repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        report = grade(reference_root(), jobs=os.cpu_count() or 1)
        seconds.append(time.perf_counter() - started)
        assert report.score == report.max_score, [t.reason for t in report.tests if t.reason]
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    starts = start_cost(5 if args.quick else 15)
    print(f"isolation: {starts['isolation']}")
    print(f"{'one test process (start, run, read back)':<44} {'median':>9}")
    print(f"{'  unconfined':<44} {starts['unconfined'] * 1000:>7.0f} ms")
    print(f"{'  confined':<44} {starts['confined'] * 1000:>7.0f} ms   "
          f"x{starts['confined'] / starts['unconfined']:.2f} of unconfined")
    total = full_grade(1 if args.quick else 3)
    print(f"{'full grade of the reference, confined':<44} {total:>7.1f} s    ({os.cpu_count()} cores, "
          f"{len(load_all())} test processes)")


if __name__ == "__main__":
    main()
