"""The tape probe, the grader's side: which recorded primitive's backward is wrong.

When a layer's test fails, the test process sends what it found on the
student's tape (each operation's inputs, a random upstream gradient and what
the student's backward returned for them). Checking that against central
differences is work the *grader* does on data the *handin* chose, so it is
bounded here, never by a value the test process sent: at most
``MAX_OPERATIONS`` records and ``MAX_ELEMENTS`` array elements are checked,
in a separate process with its own memory limit and ``SECONDS`` of wall clock.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Optional

import numpy as np

from autograder.grading import oracle
from autograder.grading.sandbox import GRADER_ROOT
from autograder.harness import protocol
from autograder.harness.child import MAX_PROBE_ELEMENTS as MAX_ELEMENTS
from autograder.harness.child import MAX_PROBE_OPS as MAX_OPERATIONS
from autograder.harness.protocol import ProtocolError, decode_param

_FIRST_WRONG = "first primitive on the tape whose backward disagrees: "
SECONDS = 10.0
MEMORY_BYTES = 2 * 2**30
_BOOT = "from autograder.grading.diagnose import serve; serve()"


def within_budget(probe: list, arrays: dict) -> tuple:
    """The records (and their arrays) the budget allows, in tape order."""
    by_record: dict = {}
    for key, value in arrays.items():  # one pass over the arrays, whatever the number of records
        if key.startswith("probe/"):
            by_record.setdefault(key.split("/", 2)[1], {})[key] = value
    kept, kept_arrays, budget = [], {}, MAX_ELEMENTS
    for record in probe[:MAX_OPERATIONS]:
        mine = by_record.get(str(record.get("index")), {})
        size = sum(int(np.size(v)) for v in mine.values())
        if size > budget:
            continue
        budget -= size
        kept.append(record)
        kept_arrays.update(mine)
    return kept, kept_arrays


def first_wrong_primitive(probe: list, arrays: dict, rtol: float, atol: float) -> Optional[str]:
    """A sentence naming the first primitive, in replay order, whose backward disagrees with the oracle
    (or saying why none could be checked); None when every checked one agrees."""
    kept, kept_arrays = within_budget(probe, arrays)
    if not kept:
        return None
    message = protocol.encode({"probe": kept, "rtol": rtol, "atol": atol}, kept_arrays)
    try:
        done = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(GRADER_ROOT)!r}); "
                               + _BOOT], input=message, capture_output=True, timeout=SECONDS)
    except subprocess.TimeoutExpired:
        return None
    answer = done.stdout.decode(errors="replace").strip()
    return answer or None


def serve() -> None:
    """The checking process: a probe message on stdin, the answer (or nothing) on stdout."""
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    except (ImportError, ValueError, OSError):
        pass
    header, arrays = protocol.decode(sys.stdin.buffer.read(protocol.MAX_MESSAGE_BYTES + 1))
    answer = _diagnose(header["probe"], arrays, float(header["rtol"]), float(header["atol"]))
    sys.stdout.write(answer or "")


def _diagnose(probe: list, arrays: dict, rtol: float, atol: float) -> Optional[str]:
    """The first recorded primitive, in replay order, whose backward disagrees with the oracle.

    ``probe`` and ``arrays`` come from the child (see ``child._probe_tape``):
    each operation's inputs, a random upstream gradient and what the
    submission's backward function returned for them.
    """
    not_finite = []
    for record in sorted(probe, key=lambda r: -int(r.get("index", 0))):
        name, index = str(record.get("name")), int(record.get("index", 0))
        where = f"(operation #{index} on the tape)"
        if name not in oracle.PRIMITIVES or "skipped" in record:
            continue
        if "error" in record:
            return f"{_FIRST_WRONG}{name} {where} raised {record['error']}"
        try:
            count = int(record["inputs"])
            inputs = [arrays[f"probe/{index}/in{i}"] for i in range(count)]
            grad_output = arrays[f"probe/{index}/g"]
            params = {str(k): decode_param(v) for k, v in dict(record.get("params") or {}).items()}
        except (KeyError, TypeError, ValueError, ProtocolError):
            continue
        if int(record.get("grads", count)) != count:
            return f"{_FIRST_WRONG}{name} {where} returned {record.get('grads')} gradients for {count} inputs"
        forward = oracle.PRIMITIVES[name][0]
        try:
            with np.errstate(all="ignore"):
                expected = oracle.numerical_vjp(forward, inputs, grad_output, params)
        except Exception:  # inputs the NumPy forward cannot take: nothing to say about this operation
            continue
        if not all(np.isfinite(v).all() for v in [grad_output, *inputs, *(e for e in expected if e is not None)]
                   if np.issubdtype(np.asarray(v).dtype, np.inexact)):
            # Central differences through inf or nan say nothing about this backward: never blame it.
            not_finite.append(f"{name} {where}")
            continue
        names = oracle.input_names(name, count)
        for i, value in enumerate(expected):
            if value is None:
                continue
            key = f"probe/{index}/out{i}"
            bad = dict(record.get("bad") or {}).get(key)
            reason = f"{name}: dL/d{names[i]} {bad}" if bad else oracle.compare(
                name, f"dL/d{names[i]}", arrays.get(key), value, rtol, atol)
            if reason:
                return f"{_FIRST_WRONG}{reason} {where}"
    if not_finite:
        return (f"no primitive could be checked where values overflow: {', '.join(not_finite[:3])} received "
                "inf or nan (look for an overflow in the forward, e.g. exp of a large number)")
    return None
