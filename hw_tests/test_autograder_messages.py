"""What the grader says when a layer fails: it names the wrong primitive, and never blames correct code.

Each test appends a few lines to a copy of the reference, grades the affected
layer test with the real grader, and reads the reason a student would read.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from autograder.grading.grade import grade

REFERENCE = Path(__file__).resolve().parent.parent / "mytorch"


def handin(tmp_path: Path, **appended: str) -> Path:
    """A copy of the reference with code appended to modules: handin(tmp, activation="...")."""
    root = tmp_path / "handin"
    shutil.copytree(REFERENCE, root / "mytorch", ignore=shutil.ignore_patterns("__pycache__"))
    for module, code in appended.items():
        path = root / "mytorch" / "nn" / f"{module}.py"
        path.write_text(path.read_text() + "\n\n" + textwrap.dedent(code))
    return root


def reason_of(root: Path, test: str) -> str:
    (result,) = grade(root, only=[test], jobs=1, timeout=60).tests
    assert result.status != "passed"
    return result.reason


def test_an_overflowing_sigmoid_is_not_blamed_on_the_correct_add_backward(tmp_path):
    """1 / (1 + exp(-x)) at x = -1000: exp overflows, and central differences through inf say nothing."""
    root = handin(tmp_path, activation="""
        def _naive_sigmoid(self, x):
            return F.div(1.0, F.add(1.0, F.exp(F.neg(x))))

        Sigmoid.forward = _naive_sigmoid
        """)
    reason = reason_of(root, "activation.sigmoid")
    assert "disagrees" not in reason, reason
    assert "overflow" in reason and "inf or nan" in reason, reason


def test_a_correct_backward_is_recognised_by_its_function_not_its_name(tmp_path):
    """The 11-785 starter calls ReLU's backward max_backward; it must not be checked as the max reduction."""
    root = handin(tmp_path, functional="""
        def _relu_grad(grad_output, a):
            return grad_output * (a > 0)

        _relu_grad.__name__ = "max_backward"
        relu_backward = _relu_grad
        """, activation="""
        def _scaled_relu(self, x):
            return F.mul(F.relu(x), 1.5)  # the composition is what is wrong

        ReLU.forward = _scaled_relu
        """)
    reason = reason_of(root, "activation.relu")
    assert "max_backward" not in reason and "disagrees" not in reason, reason
    assert "every primitive on the tape agrees with the oracle" in reason


def test_a_wrong_primitive_is_still_named(tmp_path):
    root = handin(tmp_path, functional="""
        def relu_backward(grad_output, a):
            return grad_output * (a < 0)
        """)
    reason = reason_of(root, "activation.relu")
    assert "first primitive on the tape whose backward disagrees: relu_backward: dL/da is wrong" in reason


def test_an_exception_costs_only_its_own_call_and_is_shown_at_the_student_s_line(tmp_path):
    root = handin(tmp_path, functional="""
        _matmul_backward = matmul_backward

        def matmul_backward(grad_output, a, b):
            if b.ndim == 1:
                return np.sum(grad_output, axis=5), None  # the student's line: NumPy raises inside
            return _matmul_backward(grad_output, a, b)
        """)
    (result,) = grade(root, only=["backward.matmul_batched"], jobs=1).tests
    line = next(i for i, text in enumerate((root / "mytorch/nn/functional.py").read_text().splitlines(), 1)
                if "axis=5" in text)
    assert result.status == "partial" and 0 < result.score < result.max_score, result.reason
    assert result.reason.startswith("matmul_backward: matrix-vector: dL/da raised AxisError in matmul_backward "
                                    f"(mytorch/nn/functional.py:{line})"), result.reason
    passed = {p["part"] for p in result.parts if p["passed"]}
    assert {"batched: dL/da", "broadcast weight: dL/db"} <= passed


def test_a_parameter_of_the_wrong_shape_is_named_with_both_shapes(tmp_path):
    root = handin(tmp_path, linear="""
        _init = Linear.__init__

        def _column_bias(self, *args, **kwargs):
            _init(self, *args, **kwargs)
            self.b = np.zeros((self.b.shape[0], 1))

        Linear.__init__ = _column_bias
        """)
    reason = reason_of(root, "linear.batch")
    assert "Linear.b has shape (4, 1), expected (4,)" in reason, reason
