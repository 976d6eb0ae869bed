"""The grade report in four forms: a table, JSON, the Autolab score line, Gradescope's results.json.

JSON report (``--format json``), version 2:
    {"version": 2, "submission": str, "seed": int, "score": float, "max_score": float,
     "seconds": float, "components": {component: score},
     "warnings": [str],  (notes on the handin itself: refused archive members, an extra top folder)
     "isolation": str,  (what confined the test processes, e.g. "uid 990 + landlock abi 7 (fs, signals, net)
                         + rlimits"; "" when the handin was never run)
     "flags": [{"file", "line", "what"}],  (for staff: code a TA should look at, e.g. "ctypes" or
                                            "same content as autograder/harness/child.py"; never change a score)
     "tests": [{"component", "name", "target", "score", "max_score",
                "status": "passed" | "partial" | "failed", "reason", "visibility", "seconds",
                "parts": [{"part", "passed", "reason"}]}]}
Version 2 added "isolation" and "flags".

Text that a handin controls (its name, member names, exception messages) is
escaped in every form (``text.escape``): control characters, bidi overrides
and the like show as ``\x1b``, ``\n``, ``\u202e``, so nothing a handin
writes can move the terminal, forge a row of the table or hide in JSON.
Gradescope's results.json says ``"output_format": "text"``, so HTML in a
reason shows as text. Flags are for staff: they are in the table and the JSON
report, never in results.json, which students see.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from autograder.grading.grade import Report
from autograder.grading.rubric import RUBRIC
from autograder.grading.text import escape

MAX_FLAGS_SHOWN = 50  # flags listed in the table; the rest are counted


def table(report: Report, width: int = 0) -> str:
    """The report as a table; reasons are cut to ``width`` (default: the terminal's width on a
    terminal, no limit otherwise, so a log or Autolab's feedback keeps every reason whole)."""
    if not width and sys.stdout.isatty():
        width = shutil.get_terminal_size((120, 20)).columns
    rows = [("component", "test", "points", "status", "reason")]
    for test in report.tests:
        rows.append((escape(test.component), escape(test.name), f"{_num(test.score)}/{_num(test.max_score)}",
                     escape(test.status), escape(test.reason)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    room = max(20, width - sum(widths) - 8) if width else None
    lines = []
    for i, row in enumerate(rows):
        reason = row[4] if room is None or len(row[4]) <= room else row[4][:room - 1] + "…"
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + reason)
        if i == 0:
            lines.append("-" * min(width or 120, len(lines[0]) + 20))
    lines.append("")
    # Each component over the points of its tests in this report: with --only, the selected ones,
    # so the component lines add up to the TOTAL line beneath them.
    graded_points: dict = {}
    for test in report.tests:
        graded_points[test.component] = graded_points.get(test.component, 0.0) + test.max_score
    for component in RUBRIC:
        got = report.component_scores().get(component.key)
        if got is not None:
            lines.append(f"{component.title:<36} {_num(got):>6} / {_num(round(graded_points[component.key], 2))}")
    lines.append(f"{'TOTAL':<36} {_num(report.score):>6} / {_num(report.max_score)}")
    lines.append(f"seed {report.seed}; graded {escape(report.submission)} in {report.seconds:.1f} s")
    lines.append(f"isolation: {escape(report.isolation or 'unknown')}")
    lines.extend(f"note: {escape(warning)}" for warning in report.warnings)
    lines.extend(flag_lines(report.flags))
    return "\n".join(lines)


def flag_lines(flags: list, limit: int = 0) -> list:
    """"flag: <file>:<line>: <what>" per flag, escaped; after ``limit`` (default MAX_FLAGS_SHOWN), a count."""
    limit = limit or MAX_FLAGS_SHOWN
    lines = [f"flag: {flag_text(flag)}" for flag in flags[:limit]]
    if len(flags) > limit:
        lines.append(f"flag: and {len(flags) - limit} more")
    return lines


def flag_text(flag: dict) -> str:
    return f"{escape(flag.get('file', '?'), 200)}:{flag.get('line', 0)}: {escape(flag.get('what', ''), 200)}"


def as_json(report: Report) -> str:
    data = {"version": 2, **report.as_dict(), "components": report.component_scores()}
    data["isolation"] = data.get("isolation") or ""
    return json.dumps(escaped(data), indent=2)


def escaped(value: Any) -> Any:
    """Every string inside ``value`` (dict keys too) escaped: JSON text that holds no hidden character."""
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return {escape(k) if isinstance(k, str) else k: escaped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [escaped(v) for v in value]
    return value


def autolab_line(report: Report) -> str:
    """Autolab reads the last line of the output: {"scores": {problem: score}}."""
    scores = {component.key: 0.0 for component in RUBRIC}
    scores.update(report.component_scores())
    return json.dumps({"scores": scores})


def gradescope(report: Report) -> dict:
    """Gradescope's results.json: top-level score, and one entry per test."""
    tests = []
    for number, test in enumerate(report.tests, start=1):
        # Each reason is escaped on its own (a newline inside one cannot start a forged line); the lines
        # joined here are the grader's.
        output = escape(test.reason) if test.reason else "passed"
        # The reason already holds the first failure; list the others once each (a crash fails
        # every part with the same message: that message is not repeated).
        others = [escape(p["reason"]) for p in test.parts
                  if not p["passed"] and p["reason"] and escape(p["reason"]) not in output]
        if others:
            output += "\n" + "\n".join(f"- {reason}" for reason in dict.fromkeys(others))
        tests.append({"name": escape(f"{test.component}: {test.name} ({test.target})"), "number": str(number),
                      "score": test.score, "max_score": test.max_score,
                      "status": "passed" if test.status == "passed" else "failed",
                      "output": output, "output_format": "text",
                      "visibility": test.visibility, "execution_time": test.seconds})
    # Flags are for staff only: students see this file, so they are left out.
    lines = ([f"Graded with seed {report.seed}.", f"Isolation: {escape(report.isolation or 'unknown')}"]
             + [f"Note: {escape(w)}" for w in report.warnings])
    return {"score": report.score, "max_score": report.max_score, "execution_time": report.seconds,
            "output": "\n".join(lines), "output_format": "text", "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests}


def write_gradescope(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(gradescope(report), indent=2))


def write_text(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8; a character that cannot be encoded (a lone surrogate from a non-UTF-8
    name) is written as a backslash escape instead of failing the whole file."""
    with open(path, "w", encoding="utf-8", errors="backslashreplace", newline="") as stream:
        stream.write(text)


def _num(x: float) -> str:
    return f"{x:g}"
