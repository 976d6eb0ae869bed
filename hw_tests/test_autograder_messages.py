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
