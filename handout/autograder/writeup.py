"""The kit's README (the writeup): hand-written text from docs/writeup/, tasks and points from the rubric.

The task list, the points, the functions each task asks for and the tests
that grade it are generated, so the writeup cannot drift from the rubric or
from the solution markers in the reference.
"""

from __future__ import annotations

from pathlib import Path

from autograder.grading.rubric import RUBRIC
from autograder.markers import marked_functions


def _text(repo: Path, name: str) -> str:
    path = repo / "docs" / "writeup" / name
    return path.read_text().strip() + "\n" if path.exists() else ""


def _functions(sources: dict) -> dict:
    """{task key: ["mytorch/utils.py: add_spot", ...]} from the solution markers."""
    found: dict = {}
    for relative, text in sources.items():
        for key, names in marked_functions(text).items():
            found.setdefault(key, []).extend(f"`{relative}`: `{name}`" for name in names)
    return found


def render(sources: dict, repo: Path) -> str:
    functions = _functions(sources)
    total = sum(c.points for c in RUBRIC)
    parts = [_text(repo, "intro.md"), "## Tasks and points\n",
             "| Task | What you build | Points |", "|---:|---|---:|"]
    parts += [f"| {i} | [{c.title}](#{anchor(task_heading(i, c.title))}) | {c.points:g} |"
              for i, c in enumerate(RUBRIC, 1)]
    parts += [f"| | **Total** | **{total:g}** |", "",
              "Tasks build on each other in this order: the tests of a task use only what the tasks before it built.\n",
              _text(repo, "how_it_works.md"), _text(repo, "coming_from_11785.md"), _text(repo, "math.md")]
    for number, component in enumerate(RUBRIC, start=1):
        parts.append(f"## {task_heading(number, component.title)}\n")
        parts.append(f"**{component.points:g} points.** " + _text(repo, f"tasks/{component.key}.md"))
        listed = functions.get(component.key, [])
        if listed:
            parts.append("What to write (each raises `NotImplementedError` until you do):\n")
            parts += [f"- {item}" for item in listed]
            parts.append("")
        parts.append("Graded tests:\n")
        parts += [f"- `{t.name}` ({t.points:g} point{'s' if t.points != 1 else ''})" for t in component.tests]
        parts.append(f"\nCheck this task alone: `make test TASK={number}` runs its local tests "
                     f"(`python -m pytest hw_tests --task {number}`), and `make grade TASK={number}` grades it "
                     f"(`python -m autograder --submission . --only {number}`). Both need only "
                     f"{'this task' if number == 1 else f'tasks 1 to {number}'}.\n")
    parts.append(_text(repo, "running.md"))
    return "\n".join(parts).rstrip() + "\n"


def task_heading(number: int, title: str) -> str:
    return f"Task {number}: {title}"


def anchor(heading: str) -> str:
    """The fragment GitHub gives a heading: lower case, punctuation dropped but hyphens and underscores
    kept, each space a hyphen ("Task 7: Softmax and cross-entropy" -> task-7-softmax-and-cross-entropy)."""
    kept = "".join(ch for ch in heading.strip().lower() if ch.isalnum() or ch in "-_ ")
    return kept.replace(" ", "-")
