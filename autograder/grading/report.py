"""The grade report in four forms: a table, JSON, the Autolab score line, Gradescope's results.json.

JSON report (``--format json``), version 1:
    {"version": 1, "submission": str, "seed": int, "score": float, "max_score": float,
     "seconds": float, "components": {component: score},
     "warnings": [str],  (notes on the handin itself: refused archive members, an extra top folder)
     "tests": [{"component", "name", "target", "score", "max_score",
                "status": "passed" | "partial" | "failed", "reason", "visibility", "seconds",
                "parts": [{"part", "passed", "reason"}]}]}
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from autograder.grading.grade import Report
from autograder.grading.rubric import RUBRIC


def table(report: Report, width: int = 0) -> str:
    """The report as a table; reasons are cut to ``width`` (default: the terminal's width on a
    terminal, no limit otherwise, so a log or Autolab's feedback keeps every reason whole)."""
    if not width and sys.stdout.isatty():
        width = shutil.get_terminal_size((120, 20)).columns
    rows = [("component", "test", "points", "status", "reason")]
    for test in report.tests:
        rows.append((test.component, test.name, f"{_num(test.score)}/{_num(test.max_score)}", test.status,
                     test.reason))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    room = max(20, width - sum(widths) - 8) if width else None
    lines = []
    for i, row in enumerate(rows):
        reason = row[4] if room is None or len(row[4]) <= room else row[4][:room - 1] + "…"
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + reason)
        if i == 0:
            lines.append("-" * min(width or 120, len(lines[0]) + 20))
    lines.append("")
    for component in RUBRIC:
        got = report.component_scores().get(component.key)
        if got is not None:
            lines.append(f"{component.title:<36} {_num(got):>6} / {_num(component.points)}")
    lines.append(f"{'TOTAL':<36} {_num(report.score):>6} / {_num(report.max_score)}")
    lines.append(f"seed {report.seed}, graded in {report.seconds:.1f} s: {report.submission}")
    lines.extend(f"note: {warning}" for warning in report.warnings)
    return "\n".join(lines)


def as_json(report: Report) -> str:
    data = {"version": 1, **report.as_dict(), "components": report.component_scores()}
    return json.dumps(data, indent=2)


def autolab_line(report: Report) -> str:
    """Autolab reads the last line of the output: {"scores": {problem: score}}."""
    scores = {component.key: 0.0 for component in RUBRIC}
    scores.update(report.component_scores())
    return json.dumps({"scores": scores})


def gradescope(report: Report) -> dict:
    """Gradescope's results.json: top-level score, and one entry per test."""
    tests = []
    for number, test in enumerate(report.tests, start=1):
        output = test.reason or "passed"
        # The reason already holds the first failure; list the others once each (a crash fails
        # every part with the same message: that message is not repeated).
        others = [p["reason"] for p in test.parts if not p["passed"] and p["reason"] and p["reason"] not in output]
        if others:
            output += "\n" + "\n".join(f"- {reason}" for reason in dict.fromkeys(others))
        tests.append({"name": f"{test.component}: {test.name} ({test.target})", "number": str(number),
                      "score": test.score, "max_score": test.max_score,
                      "status": "passed" if test.status == "passed" else "failed",
                      "output": output, "visibility": test.visibility, "execution_time": test.seconds})
    return {"score": report.score, "max_score": report.max_score, "execution_time": report.seconds,
            "output": "\n".join([f"Graded with seed {report.seed}."] + [f"Note: {w}" for w in report.warnings]),
            "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests}


def write_gradescope(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(gradescope(report), indent=2))


def _num(x: float) -> str:
    return f"{x:g}"
