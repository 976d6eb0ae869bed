"""The test process: confines itself, imports the student's ``mytorch``, runs cases, writes plain arrays back.

Started by ``autograder.grading.sandbox`` as ``python -I -c <boot> GRADER_ROOT STATUS_FD``
with one message on stdin (``protocol``): a header naming the handin folder,
the confinement to apply, the result path and the cases (runner, plan), and
the input arrays. Everything it needs (NumPy, the runners, the wire format)
is imported, and the confinement applied, *before* the handin is imported.
It then writes one line on the status pipe ("confined", or "failed: why")
and closes it, so the grader knows the handin ran confined or not at all.
This process only reports what the handin returned; the grader, which this
process never imports, decides the score.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from autograder.harness import protocol
from autograder.harness.calls import RUNNERS, Raised, Submission, WrongArity
from autograder.harness.confine import ConfinementError, confine

# The exit code of a process that could not confine itself (the status pipe tells the grader why).
CONFINEMENT_FAILED = 86


def main(argv: list) -> None:
    status_fd = int(argv[0])
    header, inputs = protocol.decode(sys.stdin.buffer.read(protocol.MAX_MESSAGE_BYTES + 1))
    submission = Path(header["submission"])
    write = _writer(header["result"])  # bound now: the handin cannot swap it out
    try:
        if header.get("confine") is not None:
            confine(header["confine"], Path(header["scratch"]))
    except (ConfinementError, OSError) as error:
        if status_fd >= 0:
            os.write(status_fd, f"failed: {error}\n".encode()[:2000])
        os._exit(CONFINEMENT_FAILED)
    if status_fd >= 0:  # closed before the handin runs: it cannot write here
        os.write(status_fd, b"confined\n")
        os.close(status_fd)

    statuses, arrays = {}, {}
    for case in header["cases"]:
        name, prefix = case["name"], case["name"] + "::"
        case_inputs = {k[len(prefix):]: v for k, v in inputs.items() if k.startswith(prefix)}
        sub = Submission()
        result, outputs = _run(case, submission, case_inputs, sub)
        case_arrays, result["bad_outputs"] = _plain_arrays(outputs, prefix, submission)
        if case.get("probe_tape") and result["status"] in ("ok", "error"):
            result["probe"] = _probe_tape(sub.last_engine, case_arrays, submission, prefix,
                                          case.get("primitives", []))
        _release(sub)
        statuses[name] = result
        arrays.update(case_arrays)
    try:
        write({"status": "ok", "cases": statuses}, arrays)
    finally:
        os._exit(0)  # skip the submission's atexit handlers and buffered output


def _release(sub: Submission) -> None:
    """Close a case's engine so the next case (trusted mode runs many) may create one."""
    if sub.last_engine is not None and callable(getattr(sub.last_engine, "close", None)):
        try:
            sub.last_engine.close()
        except Exception:
            # A stubbed zero_grad or MemoryBuffer.clear raises NotImplementedError: this case's
            # result is already in, and dropping the engine below frees the singleton slot
            # (the class keeps only a weak reference to it).
            pass
    sub.last_engine = None


def _writer(result_file: str):
    encode, open_ = protocol.encode, open

    def write(header: dict, arrays: dict) -> None:
        with open_(result_file, "wb") as stream:
            stream.write(encode(header, arrays))
    return write


def _plain_arrays(outputs: dict, prefix: str = "", submission: Path = Path("/nonexistent")) -> tuple:
    arrays, bad = {}, {}
    for name, value in outputs.items():
        array, problem = (None, "raised " + _describe(value.error, submission)) if isinstance(value, Raised) \
            else _plain_array(value)
        if problem:
            bad[prefix + name] = problem
        else:
            arrays[prefix + name] = array
    return arrays, bad


def _run(case: dict, submission: Path, inputs: dict, sub: Submission) -> tuple:
    if not (submission / "mytorch" / "__init__.py").is_file():
        # Checked first: without its __init__.py, `import mytorch` would find another copy on the path.
        return {"status": "import_error", "message": "no mytorch/ package (with __init__.py) in the submission"}, {}
    if str(submission) not in sys.path:
        sys.dont_write_bytecode = True  # the staged handin is read-only, and stays as it was handed in
        sys.path.insert(0, str(submission))
    try:
        import mytorch
        _check_origin(submission)
    except BaseException as error:  # SyntaxError, ImportError, SystemExit...: the whole submission fails to load
        return {"status": "import_error", "message": _describe(error, submission, importing=True)}, {}
    if not _inside(getattr(mytorch, "__file__", None) or "", submission):
        return {"status": "import_error", "message": "no mytorch/ package (with __init__.py) in the submission"}, {}

    try:
        outputs = RUNNERS[case["runner"]](sub, inputs, case["plan"])
        _check_origin(submission)
    except NotImplementedError as error:
        return {"status": "not_implemented", "message": _describe(error, submission)}, {}
    except MemoryError:
        return {"status": "memory", "message": "memory limit exceeded"}, {}
    except WrongArity as error:
        return {"status": "error", "message": f"{case['target']} {error}"}, {}
    except BaseException as error:  # includes SystemExit and KeyboardInterrupt raised by the submission
        return {"status": "error", "message": _describe(error, submission)}, {}
    if not isinstance(outputs, dict):
        return {"status": "error", "message": "the case returned no results"}, {}
    return {"status": "ok"}, outputs


def _check_origin(submission: Path) -> None:
    """Every mytorch module in use must come from the submission, never from an installed copy."""
    for name, module in list(sys.modules.items()):
        if name == "mytorch" or name.startswith("mytorch."):
            origin = getattr(module, "__file__", None)
            if origin and not _inside(origin, submission):
                raise ImportError(f"{name} was imported from outside the submission ({origin})")


def _inside(path: str, root: Path) -> bool:
    try:
        Path(path).resolve().relative_to(root)
        return True
    except ValueError:
        return False


def _describe(error: BaseException, submission: Path, importing: bool = False) -> str:
    """The exception, and where in the student's files it came from, in one line."""
    where = ""
    # The deepest frame in the student's own package: never NumPy's, even where it lies inside the handin folder.
    frames = [f for f in traceback.extract_tb(error.__traceback__) if _inside(f.filename, submission / "mytorch")]
    if isinstance(error, SyntaxError) and error.filename and _inside(error.filename, submission):
        where = f" in {Path(error.filename).resolve().relative_to(submission)} line {error.lineno}"
    elif frames:
        frame = frames[-1]
        where = f" in {frame.name} ({Path(frame.filename).resolve().relative_to(submission)}:{frame.lineno})"
    if isinstance(error, NotImplementedError):
        return f"not implemented yet{where}" + (f": {str(error)[:300]}" if str(error) else "")
    text = str(error).splitlines()[0] if str(error) else ""
    kind = type(error).__name__
    prefix = "could not import the submission: " if importing else ""
    return f"{prefix}{kind}{where}" + (f": {text[:300]}" if text else "")


def _plain_array(value: Any) -> tuple:
    """The value as a plain numeric ndarray, or a reason it is not one (None is allowed: 'not returned')."""
    if value is None:
        return None, "is None"
    if isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
        return np.asarray(value), None
    if not isinstance(value, np.ndarray):
        return None, f"is a {type(value).__name__}, not a NumPy array"
    if value.dtype.kind not in "biuf":
        return None, f"has dtype {value.dtype}, not a real number dtype"
    # A plain copy: drops ndarray subclasses and any behaviour they carry.
    return np.array(value, dtype=value.dtype, copy=True, subok=False), None


# The tape probe's budget. The grader enforces the same numbers with its own copy of this module,
# which the handin cannot change (autograder/grading/diagnose.py, sandbox._validated_case).
MAX_PROBE_OPS = 200
MAX_PROBE_ELEMENTS = 100_000


def _primitives_by_object(names: list) -> dict:
    """{id(function): handout name} for every backward function the handin's mytorch modules define."""
    known: dict = {}
    for module_name, module in list(sys.modules.items()):
        if module_name == "mytorch" or module_name.startswith("mytorch."):
            for name in names:
                function = getattr(module, name, None)
                if callable(function):
                    known.setdefault(id(function), name)
    return known


def _probe_tape(engine: Any, arrays: dict, submission: Path, prefix: str = "", primitives: list = ()) -> list:
    """Replay each recorded operation's backward on a random upstream gradient, for diagnosis.

    The grader checks these results against its own oracle only when the
    composite test failed, to name the first primitive whose backward is wrong.
    """
    records: list = []
    operations = list(getattr(engine, "operation_list", None) or [])[:MAX_PROBE_OPS]
    budget, rng = MAX_PROBE_ELEMENTS, np.random.default_rng(0)
    known = _primitives_by_object(primitives)
    for index, op in enumerate(operations):
        function = getattr(op, "backward_operation", None)
        # Which primitive an operation is, is told by the function object recorded, looked up under
        # the handout's names in the handin's own modules: a correct ReLU backward that its author
        # happened to call max_backward is still checked as ReLU's.
        name = known.get(id(function)) or "unknown: " + str(getattr(function, "__name__", "?"))[:100]
        record: dict = {"index": index, "name": name}
        records.append(record)
        try:
            inputs = [np.asarray(x) for x in op.inputs]
            output = np.asarray(op.output)
            params = dict(getattr(op, "params", None) or {})
            size = output.size + sum(x.size for x in inputs)
            if size > budget:
                record["skipped"] = "too large to check"
                continue
            budget -= size
            record["params"] = {key: protocol.encode_param(value) for key, value in params.items()}
            grad_output = rng.standard_normal(output.shape)
            returned = op.backward_operation(grad_output, *inputs, **params)
        except BaseException as error:
            record["error"] = _describe(error, submission)
            continue
        grads = tuple(returned) if isinstance(returned, (tuple, list)) else (returned,)
        record.update(inputs=len(inputs), grads=len(grads))
        probe_arrays = {"g": grad_output, **{f"in{i}": x for i, x in enumerate(inputs)},
                        **{f"out{i}": g for i, g in enumerate(grads) if g is not None}}
        plain, record["bad"] = _plain_arrays(probe_arrays, f"{prefix}probe/{index}/", submission)
        arrays.update(plain)
    return records
