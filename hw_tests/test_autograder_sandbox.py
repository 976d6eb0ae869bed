"""The grader survives bad submissions: each one gets exactly what its honest code earns, with the cause named.

Every scenario copies the reference ``mytorch/`` into a temporary folder, breaks
it the way a student might (or a student trying to game the grader might), and
grades a handful of tests with the real sandboxed grader. Each test checks the
exact score of the affected tests, that the unaffected tests still get full
marks, and that the reason names the cause.

Breakage is appended to a module rather than edited into it: a second ``def``
of a function replaces the first when the module is imported, so these tests
do not depend on how the reference's bodies are written.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest

from autograder.grading import report as reports
from autograder.grading.cases import load_all
from autograder.cli import grade_path
from autograder.grading.grade import DEFAULT_SEED, grade
from autograder.grading.rubric import RUBRIC, all_tests, total_points
from autograder.grading.sandbox import case_rng
from autograder.grading.staging import unpack

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "mytorch"
POINTS = {test.name: test.points for _, test in all_tests()}
F, ENGINE, UTILS, INIT = "nn/functional.py", "autograd_engine.py", "utils.py", "__init__.py"
# Unaffected tests in most scenarios: one of each kind that does not touch the broken function.
BYSTANDERS = ["buffer.accumulate", "engine.chain", "backward.neg"]


# ---------------------------------------------------------------- helpers

def reference_copy(tmp_path: Path, name: str = "handin") -> Path:
    """A handin folder holding a fresh copy of the reference mytorch/."""
    root = tmp_path / name
    shutil.copytree(REFERENCE, root / "mytorch", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


def append(root: Path, module: str, code: str) -> None:
    path = root / "mytorch" / module
    path.write_text(path.read_text() + "\n\n" + textwrap.dedent(code))


def import_only_the_core(root: Path) -> None:
    """Make the package's __init__ import just the engine and the buffer, as a student's may.

    The reference's __init__ imports every module, so any broken module breaks the
    import of the whole package; with this one, a broken ``nn/functional.py`` can
    only break the tests that use it, which is what some scenarios check.
    """
    (root / "mytorch" / INIT).write_text("from mytorch.autograd_engine import Autograd\n"
                                         "from mytorch.utils import MemoryBuffer\n")


def run(root: Path, only: list, **options) -> dict:
    """Grade the tests named in ``only`` (exact names); {name: TestResult}."""
    options.setdefault("timeout", 20)
    report = grade(root, only=only, jobs=2, **options)
    results = {t.name: t for t in report.tests}
    assert sorted(results) == sorted(only)  # each name selects exactly its own test
    return results


def assert_full_marks(results: dict, names: list) -> None:
    for name in names:
        test = results[name]
        assert (test.score, test.status, test.reason) == (POINTS[name], "passed", ""), (name, test.reason)


def assert_zero(results: dict, names: list, *fragments: str) -> None:
    for name in names:
        test = results[name]
        assert (test.score, test.status) == (0.0, "failed"), (name, test.score, test.reason)
        for fragment in fragments:
            assert fragment in test.reason, (name, test.reason)


def line_of(root: Path, module: str, text: str) -> int:
    """1-based line number of the line holding ``text`` in a submission's module."""
    lines = (root / "mytorch" / module).read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if text in line)


def grading_args(only: list) -> Namespace:
    return Namespace(seed=DEFAULT_SEED, timeout=20.0, memory_mb=2048, jobs=2, only=only)


# ---------------------------------------------------------------- code that does not load

def test_syntax_error_in_the_package_fails_every_test_and_names_file_and_line(tmp_path):
    root = reference_copy(tmp_path)
    append(root, ENGINE, "def broken(:\n    pass\n")
    results = run(root, BYSTANDERS + ["backward.add"])
    line = line_of(root, ENGINE, "def broken(:")
    assert_zero(results, list(results), "could not import the submission: SyntaxError",
                f"mytorch/autograd_engine.py line {line}")


def test_syntax_error_in_functional_fails_only_the_tests_that_import_it(tmp_path):
    root = reference_copy(tmp_path)
    import_only_the_core(root)
    append(root, F, "def broken(:\n    pass\n")
    results = run(root, ["buffer.accumulate", "engine.chain", "backward.add", "backward.exp"])
    assert_zero(results, ["backward.add", "backward.exp"], "SyntaxError",
                f"mytorch/nn/functional.py line {line_of(root, F, 'def broken(:')}")
    assert_full_marks(results, ["buffer.accumulate", "engine.chain"])  # the engine does not import functional


def test_missing_functional_module_fails_the_backward_tests_only(tmp_path):
    root = reference_copy(tmp_path)
    import_only_the_core(root)
    (root / "mytorch" / F).unlink()
    results = run(root, ["buffer.accumulate", "engine.chain", "backward.add", "backward.exp"])
    assert_zero(results, ["backward.add", "backward.exp"], "ImportError", "functional")
    assert_full_marks(results, ["buffer.accumulate", "engine.chain"])


def test_missing_utils_module_fails_everything_because_the_package_imports_it(tmp_path):
    root = reference_copy(tmp_path)
    (root / "mytorch" / UTILS).unlink()
    results = run(root, BYSTANDERS)
    assert_zero(results, BYSTANDERS, "could not import the submission: ModuleNotFoundError", "mytorch.utils")


def test_import_error_in_functional_names_the_missing_name(tmp_path):
    root = reference_copy(tmp_path)
    import_only_the_core(root)
    append(root, F, "from mytorch.utils import sum_to_shape  # a helper the student forgot to write\n")
    results = run(root, ["buffer.accumulate", "engine.chain", "backward.add"])
    line = line_of(root, F, "import sum_to_shape")
    assert_zero(results, ["backward.add"], f"ImportError in <module> (mytorch/nn/functional.py:{line})",
                "cannot import name 'sum_to_shape'")
    assert_full_marks(results, ["buffer.accumulate", "engine.chain"])


def test_import_of_an_uninstalled_library_fails_every_test(tmp_path):
    root = reference_copy(tmp_path)
    append(root, INIT, "import a_library_the_grader_does_not_have\n")
    results = run(root, BYSTANDERS)
    assert_zero(results, BYSTANDERS, "could not import the submission: ModuleNotFoundError",
                "a_library_the_grader_does_not_have")


# ---------------------------------------------------------------- the starter: every stub unimplemented

class _Stub(ast.NodeTransformer):
    """Replace the body of the functions a student writes by ``raise NotImplementedError(...)``."""

    def __init__(self, stubbed) -> None:
        self.stubbed = stubbed

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        if self.stubbed(node.name):
            docstring = node.body[:1] if ast.get_docstring(node) else []
            node.body = docstring + [ast.parse(f"raise NotImplementedError('write {node.name}')").body[0]]
        return node


def test_every_stub_unimplemented_scores_zero_with_not_implemented_yet(tmp_path):
    root = reference_copy(tmp_path)
    targets = {F: lambda name: name.endswith("_backward"),
               UTILS: lambda name: name in {"add_spot", "update_param", "set_param", "get_param", "is_in_memory",
                                            "clear"},
               ENGINE: lambda name: name in {"add_operation", "backward", "zero_grad"}}
    for module, stubbed in targets.items():
        path = root / "mytorch" / module
        path.write_text(ast.unparse(_Stub(stubbed).visit(ast.parse(path.read_text()))))
    one_per_component = [component.tests[0].name for component in RUBRIC] + ["backward.add"]
    report = grade(root, only=one_per_component, jobs=2)
    assert {t.component for t in report.tests} == {c.key for c in RUBRIC}
    assert report.score == 0.0 and report.max_score > 0
    for test in report.tests:
        assert test.status == "failed" and test.score == 0.0, test.name
        assert test.reason.startswith("not implemented yet in "), (test.name, test.reason)
        assert "Traceback" not in test.reason
    by_name = {t.name: t for t in report.tests}
    assert "add_backward (mytorch/nn/functional.py:" in by_name["backward.add"].reason
    assert "write add_backward" in by_name["backward.add"].reason  # the stub's own message is kept


# ---------------------------------------------------------------- wrong answers

def test_wrong_shapes_lose_exactly_the_broadcast_parts(tmp_path):
    root = reference_copy(tmp_path)
    append(root, F, """
        def add_backward(grad_output, a, b):
            return grad_output, grad_output  # forgot to unbroadcast
        """)
    results = run(root, ["backward.add", "backward.sub"])
    add = results["backward.add"]
    # backward.add makes 4 calls with 2 gradients each: 8 equally weighted parts. Without the
    # unbroadcast, a gradient is right only where its input already has the output's shape:
    # "same shape" (a, b), "row broadcast" (a (5,3)), "scalar b" (a (2,3)); wrong are b (3,) and
    # b () and both of "size-1 axes" (a (4,1), b (1,3) against an output (4,3)). 4 of 8 parts pass.
    assert len(add.parts) == 8
    failed = {p["part"] for p in add.parts if not p["passed"]}
    assert failed == {"row broadcast: dL/db", "scalar b: dL/db", "size-1 axes: dL/da", "size-1 axes: dL/db"}
    assert add.score == POINTS["backward.add"] * 4 / 8 and add.status == "partial"
    assert "add_backward: row broadcast: dL/db has shape (5, 3), expected (3,)" in add.reason
    assert_full_marks(results, ["backward.sub"])


def test_nan_outputs_score_zero_and_say_where(tmp_path):
    root = reference_copy(tmp_path)
    append(root, F, """
        import numpy as np

        def exp_backward(grad_output, a):
            return grad_output * np.exp(a) * np.nan
        """)
    results = run(root, ["backward.exp", "backward.sqrt"])
    assert_zero(results, ["backward.exp"], "exp_backward", "contains nan at index")
    assert_full_marks(results, ["backward.sqrt"])


def test_an_object_whose_eq_is_always_true_is_not_an_array(tmp_path):
    root = reference_copy(tmp_path)
    append(root, F, """
        import numpy as np

        class AlwaysEqual:
            def __eq__(self, other):
                return True

            def __array__(self, dtype=None, copy=None):
                return np.zeros(3)

        class AgreeableArray(np.ndarray):
            def __eq__(self, other):
                return np.ones(np.shape(self), dtype=bool)

        def neg_backward(grad_output, a):
            return AlwaysEqual()

        def exp_backward(grad_output, a):
            return np.zeros_like(a).view(AgreeableArray)  # wrong values behind a lying __eq__

        def sin_backward(grad_output, a):
            return (grad_output * np.cos(a)).view(AgreeableArray)  # right values: an ndarray subclass is fine
        """)
    results = run(root, ["backward.neg", "backward.exp", "backward.sin", "backward.cos"])
    assert_zero(results, ["backward.neg"], "neg_backward", "is a AlwaysEqual, not a NumPy array")
    assert_zero(results, ["backward.exp"], "exp_backward", "is wrong")
    assert_full_marks(results, ["backward.sin", "backward.cos"])


# ---------------------------------------------------------------- code that hangs, eats memory or exits

def test_an_infinite_loop_times_out_alone(tmp_path):
    root = reference_copy(tmp_path)
    append(root, F, """
        def add_backward(grad_output, a, b):
            while True:
                pass
        """)
    results = run(root, ["backward.add", "backward.sub", "backward.neg"], timeout=3)
    assert_zero(results, ["backward.add"])
    assert results["backward.add"].reason == "timed out after 3 s"
    assert_full_marks(results, ["backward.sub", "backward.neg"])


def test_a_huge_allocation_hits_the_memory_limit_alone(tmp_path):
    root = reference_copy(tmp_path)
    # 16 blocks of 128 MiB: 2 GiB, four times the limit. Without the limit it would succeed (the
    # machine has the memory) and return the right gradients: this test would then fail.
    append(root, F, """
        import numpy as np
        from mytorch.utils import unbroadcast

        def add_backward(grad_output, a, b):
            blocks = [np.ones(2**24) for _ in range(16)]
            return unbroadcast(grad_output, a.shape), unbroadcast(grad_output, b.shape)
        """)
    results = run(root, ["backward.add", "backward.sub"], memory_mb=512)
    assert_zero(results, ["backward.add"])
    assert results["backward.add"].reason == "memory limit exceeded (512 MiB)"
    assert_full_marks(results, ["backward.sub"])


def test_exits_and_interrupts_inside_one_function_fail_only_that_test(tmp_path):
    root = reference_copy(tmp_path)
    append(root, F, """
        import os
        import sys

        def add_backward(grad_output, a, b):
            sys.exit(0)

        def sub_backward(grad_output, a, b):
            os._exit(0)

        def mul_backward(grad_output, a, b):
            raise KeyboardInterrupt

        def div_backward(grad_output, a, b):
            raise SystemExit
        """)
    results = run(root, ["backward.add", "backward.sub", "backward.mul", "backward.div", "backward.neg"])
    assert_zero(results, ["backward.add"], "SystemExit in add_backward (mytorch/nn/functional.py:")
    assert_zero(results, ["backward.sub"], "ended the test process (exit code 0", "before it returned results")
    assert_zero(results, ["backward.mul"], "KeyboardInterrupt in mul_backward (mytorch/nn/functional.py:")
    assert_zero(results, ["backward.div"], "SystemExit in div_backward (mytorch/nn/functional.py:")
    assert_full_marks(results, ["backward.neg"])


@pytest.mark.parametrize("code, fragment", [
    ("import sys\nsys.exit(0)\n", "could not import the submission: SystemExit"),
    ("import os\nos._exit(0)\n", "ended the test process (exit code 0"),
])
def test_exiting_at_import_fails_every_test_with_the_cause(tmp_path, code, fragment):
    root = reference_copy(tmp_path)
    append(root, INIT, code)
    results = run(root, BYSTANDERS)
    assert_zero(results, BYSTANDERS, fragment)


def test_a_child_that_overwrites_its_result_file_with_garbage_fails_alone(tmp_path):
    root = reference_copy(tmp_path)
    # The test process writes its result to result.bin in its scratch folder, its working directory.
    append(root, F, """
        import os

        def add_backward(grad_output, a, b):
            with open("result.bin", "wb") as stream:
                stream.write(b"\\xff" * 64)
            os._exit(0)
        """)
    results = run(root, ["backward.add", "backward.sub"])
    assert_zero(results, ["backward.add"], "sent back an unreadable result")
    assert_full_marks(results, ["backward.sub"])


# ---------------------------------------------------------------- code that tries to fool the grader

def test_fake_score_lines_and_a_fake_results_file_change_nothing(tmp_path):
    root = reference_copy(tmp_path)
    results_json = tmp_path / "results.json"
    fake_scores = json.dumps({"scores": {c.key: 100 for c in RUBRIC}})
    fake_results = json.dumps({"score": 100.0, "tests": []})
    # add_backward is right, mul_backward is wrong; both print fake score lines every way there is.
    append(root, F, f"""
        import os
        import sys
        from mytorch.utils import unbroadcast

        def _pretend():
            for stream in (sys.stdout, sys.__stdout__, sys.stderr):
                print("TOTAL 100 / 100", file=stream, flush=True)
                print({fake_scores!r}, file=stream, flush=True)
            os.write(1, b"FAKE " + {fake_scores!r}.encode() + b"\\n")
            try:  # refused where Landlock confines the test process; without it, overwritten by the grader
                with open({str(results_json)!r}, "w") as stream:
                    stream.write({fake_results!r})
            except OSError:
                pass

        def add_backward(grad_output, a, b):
            _pretend()
            return unbroadcast(grad_output, a.shape), unbroadcast(grad_output, b.shape)

        def mul_backward(grad_output, a, b):
            _pretend()
            return grad_output, grad_output
        """)
    completed = subprocess.run(
        [sys.executable, "-m", "autograder", "--submission", str(root), "--autolab", "--gradescope",
         str(results_json), "--only", "backward.add", "backward.mul"],
        cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert completed.returncode == 0, completed.stderr
    assert "FAKE" not in completed.stdout and "100 / 100" not in completed.stdout
    last = json.loads(completed.stdout.strip().splitlines()[-1])
    expected = {c.key: 0.0 for c in RUBRIC}
    expected["elementwise_backward"] = POINTS["backward.add"]  # mul_backward earns nothing
    assert last == {"scores": expected}
    written = json.loads(results_json.read_text())  # the grader wrote it after the child's fake one
    assert written["score"] == POINTS["backward.add"]
    assert [t["score"] for t in written["tests"]] == [POINTS["backward.add"], 0.0]


MUL_BUG = """
    from mytorch.utils import unbroadcast

    def mul_backward(grad_output, a, b):
        return unbroadcast(grad_output * a, a.shape), unbroadcast(grad_output * b, b.shape)  # swapped
    """

NUMPY_PATCHES = """
    import numpy as np
    import numpy.testing as npt

    _original_array = np.array

    class Agreeable(np.ndarray):
        def __eq__(self, other):
            return np.ones(np.shape(self), dtype=bool)

    def _array(*args, **kwargs):
        return _original_array(*args, **kwargs).view(Agreeable)

    np.allclose = lambda *args, **kwargs: True
    np.isclose = lambda a, b, *args, **kwargs: np.ones(np.broadcast(a, b).shape, dtype=bool)
    np.array_equal = lambda *args, **kwargs: True
    np.array = _array
    npt.assert_allclose = lambda *args, **kwargs: None
    npt.assert_array_equal = lambda *args, **kwargs: None
    npt.assert_array_almost_equal = lambda *args, **kwargs: None
    """


def test_patching_numpy_at_import_changes_no_grade(tmp_path):
    plain = reference_copy(tmp_path, "plain")
    append(plain, F, MUL_BUG)
    patched = reference_copy(tmp_path, "patched")
    append(patched, F, MUL_BUG)
    append(patched, INIT, NUMPY_PATCHES)
    only = ["buffer.accumulate", "backward.add", "backward.mul"]
    honest, cheating = run(plain, only), run(patched, only)
    assert_zero(honest, ["backward.mul"], "mul_backward", "is wrong")
    assert_full_marks(honest, ["buffer.accumulate", "backward.add"])
    for name in only:  # the patches earn nothing and cost nothing
        assert (cheating[name].score, cheating[name].reason) == (honest[name].score, honest[name].reason), name


# ---------------------------------------------------------------- archives and handins without mytorch/

def _tar_member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = "") -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname, info.mode = kind, len(data), link, 0o644
    return info, io.BytesIO(data) if data else None


def test_archive_members_that_escape_or_link_are_refused_and_the_rest_is_graded(tmp_path):
    outside = tmp_path / "absolute_target.py"
    archive = tmp_path / "handin.tar.gz"
    evil = b"raise SystemExit('this file must never be written')\n"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(REFERENCE, arcname="mytorch", filter=lambda m: None if "__pycache__" in m.name else m)
        for info, data in [_tar_member("../escaped.py", data=evil),
                           _tar_member("mytorch/../../escaped_too.py", data=evil),
                           _tar_member(str(outside), data=evil),
                           _tar_member("mytorch/link_to_passwd", tarfile.SYMTYPE, link="/etc/passwd"),
                           _tar_member("mytorch/hard_link", tarfile.LNKTYPE, link="mytorch/__init__.py"),
                           _tar_member("mytorch/device", tarfile.CHRTYPE)]:
            tar.addfile(info, data)

    # Unpacked by hand into a folder two levels down: nothing may land outside it.
    destination = tmp_path / "a" / "b"
    folder, warnings = unpack(archive, destination)
    assert not (tmp_path / "a" / "escaped.py").exists() and not (tmp_path / "escaped_too.py").exists()
    assert not outside.exists()
    assert not [p for p in destination.rglob("*") if p.is_symlink()]
    assert not (destination / "mytorch" / "hard_link").exists() and not (destination / "mytorch" / "device").exists()
    expected_warnings = {
        "../escaped.py": "path leaves the handin folder",
        "mytorch/../../escaped_too.py": "path leaves the handin folder",
        str(outside).lstrip("/"): "absolute", "mytorch/link_to_passwd": "link", "mytorch/hard_link": "link",
        "mytorch/device": "device or special file"}
    for name, why in expected_warnings.items():
        assert any(name in w and w.startswith("refused") and why in w for w in warnings), (name, warnings)
    assert len(warnings) == len(expected_warnings)

    # Graded through the command line's path: the honest mytorch/ inside gets full marks.
    only = ["buffer.accumulate", "backward.add"]
    report, warnings = grade_path(archive, grading_args(only))
    assert report.score == report.max_score == POINTS["buffer.accumulate"] + POINTS["backward.add"]
    assert report.warnings == warnings and len(warnings) == len(expected_warnings)
    assert report.submission == str(archive)
    assert json.loads(reports.as_json(report))["warnings"] == warnings
    assert all(f"Note: {w}" in reports.gradescope(report)["output"] for w in warnings)


def test_zip_members_that_escape_or_link_are_refused(tmp_path):
    archive = tmp_path / "handin.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(REFERENCE.rglob("*.py")):
            if "__pycache__" not in path.parts:
                bundle.write(path, f"mytorch/{path.relative_to(REFERENCE).as_posix()}")
        bundle.writestr("../escaped.py", "raise SystemExit\n")
        bundle.writestr("/absolute.py", "raise SystemExit\n")
        bundle.writestr("C:/windows.py", "raise SystemExit\n")
        link = zipfile.ZipInfo("mytorch/link_to_passwd")
        link.external_attr = 0o120777 << 16  # a symbolic link, as `zip -y` stores it
        bundle.writestr(link, "/etc/passwd")
    report, warnings = grade_path(archive, grading_args(["buffer.accumulate"]))
    assert report.score == report.max_score == POINTS["buffer.accumulate"]
    assert len(warnings) == 4 and all(w.startswith("refused") for w in warnings)
    for name in ("../escaped.py", "/absolute.py", "C:/windows.py", "mytorch/link_to_passwd"):
        assert any(repr(name) in w for w in warnings), (name, warnings)


@pytest.mark.parametrize("layout", ["folder", "archive"])
def test_a_handin_without_mytorch_gets_a_valid_report_of_zeros(tmp_path, layout):
    handin = tmp_path / "handin"
    handin.mkdir()
    (handin / "README.txt").write_text("I forgot my code\n")
    if layout == "archive":
        archive = tmp_path / "handin.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(handin / "README.txt", arcname="README.txt")
        handin = archive
    report, _ = grade_path(handin, grading_args(None))
    assert report.score == 0.0 and report.max_score == total_points() and len(report.tests) == len(all_tests())
    assert all(t.score == 0.0 and t.reason.startswith("no mytorch/ folder in ") for t in report.tests)
    data = json.loads(reports.as_json(report))
    assert data["score"] == 0.0 and len(data["tests"]) == len(all_tests())
    assert json.loads(reports.autolab_line(report)) == {"scores": {c.key: 0.0 for c in RUBRIC}}
    gradescope = reports.gradescope(report)
    assert gradescope["score"] == 0.0 and all("no mytorch/ folder" in t["output"] for t in gradescope["tests"])


def test_a_mytorch_folder_without_init_is_not_a_package(tmp_path):
    root = reference_copy(tmp_path)
    (root / "mytorch" / INIT).unlink()
    results = run(root, ["buffer.accumulate", "backward.add"])
    assert_zero(results, list(results), "no mytorch/ package (with __init__.py) in the submission")


# ---------------------------------------------------------------- determinism and order

MESSY = MUL_BUG + """
    def sub_backward(grad_output, a, b):
        return unbroadcast(grad_output, a.shape), unbroadcast(grad_output, b.shape)  # sign of dL/db lost
    """


def _signature(results: dict) -> list:
    return [(n, t.score, t.status, t.reason, t.parts) for n, t in sorted(results.items())]


def test_the_same_seed_gives_the_same_report_and_another_seed_other_inputs(tmp_path):
    root = reference_copy(tmp_path)
    append(root, F, MESSY)
    only = ["backward.add", "backward.sub", "backward.mul"]
    first, again, other = run(root, only, seed=5), run(root, only, seed=5), run(root, only, seed=6)
    assert _signature(first) == _signature(again)
    # Another seed: the same bugs lose the same points, but the messages quote other numbers.
    assert [t.score for _, t in sorted(first.items())] == [t.score for _, t in sorted(other.items())]
    assert first["backward.sub"].score < POINTS["backward.sub"]
    assert first["backward.sub"].reason != other["backward.sub"].reason
    for name, case in load_all().items():  # every case draws other inputs from another seed
        a, b = case.make_inputs(case_rng(5, name)), case.make_inputs(case_rng(6, name))
        assert any(not np.array_equal(a[k], b[k]) for k in a), name


def test_grades_do_not_depend_on_test_order_or_parallelism(tmp_path):
    root = reference_copy(tmp_path)
    append(root, F, MESSY)
    only = ["engine.chain", "backward.add", "backward.sub", "backward.mul"]
    serial = {t.name: t for t in grade(root, only=only, jobs=1).tests}
    parallel = {t.name: t for t in grade(root, only=only, jobs=2).tests}
    alone = {t.name: t for t in grade(root, only=["backward.sub"], jobs=1).tests}
    assert _signature(serial) == _signature(parallel)
    assert _signature(alone) == _signature({"backward.sub": serial["backward.sub"]})


def test_command_line_json_report_of_the_reference_has_full_marks():
    completed = subprocess.run([sys.executable, "-m", "autograder", "--format", "json"], cwd=REPO,
                               capture_output=True, text=True, timeout=300,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    assert completed.returncode == 0, completed.stderr
    data = json.loads(completed.stdout)
    assert data["version"] == 2 and data["seed"] == DEFAULT_SEED
    assert data["score"] == data["max_score"] == total_points()
    assert [t["name"] for t in data["tests"]] == [t.name for _, t in all_tests()]
    failed = [(t["name"], t["reason"]) for t in data["tests"] if t["status"] != "passed"]
    assert not failed
    assert data["components"] == {c.key: c.points for c in RUBRIC}
    assert re.fullmatch(r"[\d.]+", str(data["seconds"]))
