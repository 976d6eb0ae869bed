"""Solution markers in the reference, the one convention the kit and the writeup are generated from::

    def square_backward(grad_output, a):
        \"\"\"y = a**2: dL/da = 2 a dL/dy (the docstring with the math is kept)\"\"\"
        # BEGIN SOLUTION unary_backward
        # PROMPT: the upstream gradient times the derivative
        return 2.0 * a * grad_output
        # END SOLUTION

(This file ships with the kit: the example must not be one of the reference's functions.)

Everything between the markers is removed. The word after ``BEGIN SOLUTION``
names the rubric component (the task) the body belongs to; ``# PROMPT:``
lines right after it stay in the stub as hints. The stub raises
``NotImplementedError("Task N: <title> — see Task N in README.md")``, which the
grader reports as "not implemented yet".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from autograder.grading.rubric import RUBRIC

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION(?: (?P<task>\w+))?[ \t]*$")
END = re.compile(r"^[ \t]*# END SOLUTION[ \t]*$")
PROMPT = re.compile(r"^[ \t]*# PROMPT:[ \t]?(?P<text>.*)$")


class MarkerError(ValueError):
    """Unbalanced or unknown solution markers, with the file and line."""


@dataclass(frozen=True)
class Task:
    number: int
    key: str
    title: str
    points: float


TASKS = {c.key: Task(i, c.key, c.title, c.points) for i, c in enumerate(RUBRIC, start=1)}


def stub_message(task: Task) -> str:
    # The writeup (the kit's README.md) heads each task "Task N: <title>".
    return f"Task {task.number}: {task.title} — see Task {task.number} in README.md"


def strip_solutions(source: str, filename: str = "<source>", keep: Iterable[str] = ()) -> str:
    """The source with every solution block replaced by its stub (blocks of tasks in ``keep`` stay)."""
    keep = set(keep)
    out: list = []
    lines = source.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        match = BEGIN.match(lines[i].rstrip("\n"))
        if END.match(lines[i].rstrip("\n")):
            raise MarkerError(f"{filename}:{i + 1}: END SOLUTION without BEGIN SOLUTION")
        if not match:
            out.append(lines[i])
            i += 1
            continue
        task = TASKS.get(match["task"] or "")
        if task is None:
            raise MarkerError(f"{filename}:{i + 1}: BEGIN SOLUTION must name a rubric component, "
                              f"one of {sorted(TASKS)}; got {match['task']!r}")
        end = next((j for j in range(i + 1, len(lines)) if END.match(lines[j].rstrip("\n"))), None)
        nested = next((j for j in range(i + 1, end or len(lines)) if BEGIN.match(lines[j].rstrip("\n"))), None)
        if end is None or nested is not None:
            raise MarkerError(f"{filename}:{i + 1}: BEGIN SOLUTION {task.key} has no matching END SOLUTION")
        body = lines[i + 1:end]
        if task.key in keep:
            out.extend(line for line in body if not PROMPT.match(line.rstrip("\n")))
        else:
            indent = match["indent"]
            for line in body:
                prompt = PROMPT.match(line.rstrip("\n"))
                if not prompt:
                    break
                out.append(f"{indent}# {prompt['text']}\n")
            out.append(f'{indent}raise NotImplementedError("{stub_message(task)}")\n')
        i = end + 1
    return "".join(out)


def solution_lines(source: str) -> list:
    """The code lines inside solution blocks (what must never reach the kit)."""
    inside, found = False, []
    for line in source.splitlines():
        if BEGIN.match(line):
            inside = True
        elif END.match(line):
            inside = False
        elif inside and not PROMPT.match(line):
            found.append(line.strip())
    return [line for line in found if line and not line.startswith("#")]


def marked_functions(source: str) -> dict:
    """{task key: [names of the functions and methods whose bodies are solution blocks]}.

    Methods are named with their class (``Linear.forward``): a layer file has many
    ``forward`` methods, and the writeup lists each one a task asks for.
    """
    result: dict = {}
    scopes: list = []  # (indent, name) of the enclosing class and def statements
    for line in source.splitlines():
        scope = re.match(r"^(\s*)(?:def|class) (\w+)[(:]", line)  # (a docstring's "class labels" is no scope)
        match = BEGIN.match(line)
        if not (scope or match):
            continue
        indent = len((scope or match)[1])
        while scopes and scopes[-1][0] >= indent:  # a statement at this indent closes deeper scopes
            scopes.pop()
        if scope:
            scopes.append((indent, scope[2]))
        elif scopes:
            name = ".".join(n for _, n in scopes)
            names = result.setdefault(match["task"], [])
            if name not in names:
                names.append(name)
    return result
