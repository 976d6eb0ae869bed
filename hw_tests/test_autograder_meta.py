"""Meta-test: typical student bugs, seeded into copies of the reference, must each lose points,
and every graded test must catch at least one of them (a test no bug can fail grades nothing).

Mutants are graded with ``grade_trusted`` (all cases in one child process): they are our own code.
"""

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autograder.grading.grade import grade_trusted
from autograder.grading.rubric import all_tests

REFERENCE = Path(__file__).resolve().parent.parent / "mytorch"
TRACEABILITY = REFERENCE.parent / "docs" / "traceability.md"
WRITEUP_TASKS = REFERENCE.parent / "docs" / "writeup" / "tasks"
F, ENGINE, BUFFER = "nn/functional.py", "autograd_engine.py", "utils.py"
ACTIVATION, LINEAR, RNN, LOSS = "nn/activation.py", "nn/linear.py", "nn/rnn.py", "nn/loss.py"

# name -> (file, [(old, new), ...]); each `old` must occur exactly once in the reference,
# except where `new` is given as ("all", new): then every occurrence is replaced.
MUTANTS = {
    # The typical bugs.
    "transposed matmul gradient": (F, [("(grad_output.T @ a).T if _is_transposed_view(b) else a.T @ grad_output",
                                        "(grad_output.T @ a).T if _is_transposed_view(b) else grad_output.T @ a")]),
    "missing unbroadcast in add": (F, [("return unbroadcast(grad_output, a.shape), unbroadcast(grad_output, b.shape)",
                                        "return grad_output, grad_output")]),
    "gradient assigned instead of accumulated": (ENGINE, [("previous += g", "grads[key] = g"),
                                                          ("grads[key] = previous + g", "grads[key] = g")]),
    "wrong sign in sub": (F, [("unbroadcast(-grad_output, b.shape)", "unbroadcast(grad_output, b.shape)")]),
    "wrong sign in div": (F, [("unbroadcast(-grad_a * a / b, b.shape)", "unbroadcast(grad_a * a / b, b.shape)")]),
    "sigmoid derivative without (1 - s)": (F, [("return grad_output * s * (1.0 - s)", "return grad_output * s")]),
    "forgotten zero_grad": (ENGINE, [("# BEGIN SOLUTION autograd_engine\n        self.operation_list = []",
                                      "# BEGIN SOLUTION autograd_engine\n        return")]),
    # Engine.
    "tape replayed in recording order": (ENGINE, [("for index in range(stop - 1, -1, -1):",
                                                   "for index in range(stop):")]),
    "gradients_to_update ignored": (ENGINE, [("target += g", "pass")]),
    "output= ignored": (ENGINE, [("stop = self._find_output(output)", "stop = self._find_output(None)")]),
    "inputs copied when recorded": (ENGINE, [("self.operation_list.append(Operation(inputs, output,",
                                              "self.operation_list.append(Operation([np.array(x) for x in inputs], output,")]),
    "gradients sent to the wrong inputs": (ENGINE, [("for i, g in enumerate(input_grads):",
                                                     "for i, g in enumerate(input_grads[::-1]):")]),
    "intermediate gradients compound across backward calls": (ENGINE, [(
        "grads: dict[int, np.ndarray] = {id(output): seed}",
        "grads = {k: v.copy() for k, v in self.memory_buffer.memory.items() if k in self._outputs}; "
        "grads[id(output)] = grads.get(id(output), 0) + seed")]),
    "no spot for the inputs when recorded": (ENGINE, [("                add_spot(x)", "                pass")]),
    "a gradients_to_update array stops an intermediate's gradient": (ENGINE, [(
        "                    if key not in outputs:\n                        continue", "                    continue")]),
    "window_max spreads the gradient over every element of the window": (F, [(
        "np.multiply(grad_output, argmax == index, out=grad[read])",
        "np.multiply(grad_output, 1.0, out=grad[read])")]),
    # The rules at kinks and ties, which random inputs never meet.
    "relu passes the gradient at 0": (F, [("return grad_output * (a > 0)", "return grad_output * (a >= 0)")]),
    "abs takes the slope 1 at 0": (F, [("return grad_output * np.sign(a)",
                                        "return grad_output * np.where(a >= 0, 1.0, -1.0)")]),
    "maximum sends a tie to a alone": (F, [("share_a = (a > b) + 0.5 * (a == b)", "share_a = (a >= b) + 0.0 * (a == b)")]),
    "max and min give every tied element the whole gradient": (F, [(
        "share = hits / np.sum(hits, axis=axis, keepdims=True)", "share = hits * 1.0")]),
    "window_max sends a tie to the last maximum": (F, [("np.greater(candidate, best, out=better)",
                                                        "np.greater_equal(candidate, best, out=better)")]),
    "a 1-D operand's gradient left 2-D": (F, [(
        "return unbroadcast(grad_a, a2.shape).reshape(a.shape), unbroadcast(grad_b, b2.shape).reshape(b.shape)",
        "return unbroadcast(grad_a, a2.shape), unbroadcast(grad_b, b2.shape)")]),
    "transpose's inverse of negative axes": (F, [("np.argsort([ax % a.ndim for ax in axes])", "np.argsort(list(axes))")]),
    "MSE without the square": (LOSS, [("F.pow(F.sub(prediction, target), 2)", "F.sub(prediction, target)")]),
    "a sigmoid that overflows": (ACTIVATION, [("        return F.sigmoid(x)",
                                               "        return F.div(1.0, F.add(1.0, F.exp(F.neg(x))))")]),
    "Linear's weight gradient not filled": (LINEAR, [("gradients_to_update=[None, self.dW.T]",
                                                      "gradients_to_update=[None, None]")]),
    "GRU gates read in the order z, r, n": (RNN, [("        x_r, x_z, x_n = self._split(self._affine(x, \"ih\"))\n"
                                                   "        h_r, h_z, h_n = self._split(self._affine(h, \"hh\"))",
                                                   "        x_z, x_r, x_n = self._split(self._affine(x, \"ih\"))\n"
                                                   "        h_z, h_r, h_n = self._split(self._affine(h, \"hh\"))")]),
    # Memory buffer.
    "a spot reads as ones": (BUFFER, [("gradient = self.memory[key] = np.zeros(np.shape(np_array), "
                                       "dtype=float_dtype(np_array))",
                                       "gradient = self.memory[key] = np.ones(np.shape(np_array), "
                                       "dtype=float_dtype(np_array))")]),
    "get_param returns the error instead of raising it": (BUFFER, [("            raise GradientNotFoundError(",
                                                                    "            return GradientNotFoundError(")]),
    "clear forgets nothing": (BUFFER, [("        self.memory.clear()\n        self._arrays.clear()", "        pass")]),
    "buffer keyed by data pointer": (BUFFER, [("id(np_array)", ("all", 'np_array.__array_interface__["data"][0]'))]),
    "update_param assigns": (BUFFER, [("stored += gradient", "self.memory[key] = np.array(gradient)")]),
    "set_param accumulates": (BUFFER, [("\n        self.memory[key] = _private_copy(gradient, np_array)",
                                        "\n        self.memory[key] = self.memory.get(key, 0) + "
                                        "_private_copy(gradient, np_array)")]),
    # Backward functions.
    "mul gradients swapped": (F, [("return unbroadcast(grad_output * b, a.shape), unbroadcast(grad_output * a, b.shape)",
                                   "return unbroadcast(grad_output * a, a.shape), unbroadcast(grad_output * b, b.shape)")]),
    "power rule off by one": (F, [("grad_output * exponent * np.power(a, exponent - 1)",
                                   "grad_output * exponent * np.power(a, exponent)")]),
    "exponent gradient without ln(a)": (F, [("np.where((a == 0) & (b >= 0), 0.0, log_a)", "1.0")]),
    # neg, identity and reshape are anchored on their docstring and marker line: other backward
    # functions have (or start with) the same return line.
    "neg passes the gradient through": (F, [('-dL/dy."""\n    # BEGIN SOLUTION elementwise_backward\n    return -grad_output',
                                             '-dL/dy."""\n    # BEGIN SOLUTION elementwise_backward\n    return grad_output')]),
    "maximum routes to the smaller input": (F, [("share_a = (a > b) + 0.5 * (a == b)", "share_a = (a < b) + 0.5 * (a == b)")]),
    "minimum routes to the larger input": (F, [("share_a = (a < b) + 0.5 * (a == b)", "share_a = (a > b) + 0.5 * (a == b)")]),
    "exp forgets the upstream gradient": (F, [("return grad_output * np.exp(a)", "return np.exp(a)")]),
    "log multiplies": (F, [("return grad_output / a", "return grad_output * a")]),
    "sqrt without the 1/2": (F, [("grad_output / (2.0 * np.sqrt(a))", "grad_output / np.sqrt(a)")]),
    "sin derivative with the wrong sign": (F, [("return grad_output * np.cos(a)", "return -grad_output * np.cos(a)")]),
    "cos derivative with the wrong sign": (F, [("return -grad_output * np.sin(a)", "return grad_output * np.sin(a)")]),
    "tanh derivative 1 - t": (F, [("return grad_output * (1.0 - t * t)", "return grad_output * (1.0 - t)")]),
    "relu forgets the upstream gradient": (F, [("return grad_output * (a > 0)", "return (a > 0) * 1.0")]),
    "abs ignores the sign": (F, [("return grad_output * np.sign(a)", "return grad_output")]),
    "identity returns its input": (F, [('(equal)."""\n    # BEGIN SOLUTION unary_backward\n    return grad_output',
                                        '(equal)."""\n    # BEGIN SOLUTION unary_backward\n    return a')]),
    "sum forgets the upstream gradient": (F, [("return np.array(np.broadcast_to(expanded, a.shape))",
                                               "return np.ones(a.shape)")]),
    "mean without dividing by the count": (F, [("return sum_backward(grad_output, a, axis, keepdims) / count",
                                                "return sum_backward(grad_output, a, axis, keepdims)")]),
    "max sends the gradient to every element": (F, [("hits = a == extremum", "hits = a >= np.min(a)")]),
    "min routes the gradient to the maxima": (F, [("_extremum_backward(grad_output, a, np.min(a, axis=axis",
                                                   "_extremum_backward(grad_output, a, np.max(a, axis=axis")]),
    "expand_dims keeps the added axis": (F, [(
        "added axis removed (reshaped to a's shape).\"\"\"\n    # BEGIN SOLUTION reduction_shape_backward\n"
        "    return np.reshape(grad_output, a.shape)",
        "added axis removed (reshaped to a's shape).\"\"\"\n    # BEGIN SOLUTION reduction_shape_backward\n"
        "    return grad_output")]),
    "squeeze scrambles the gradient": (F, [(
        "axes restored (reshaped to a's shape).\"\"\"\n    # BEGIN SOLUTION reduction_shape_backward\n"
        "    return np.reshape(grad_output, a.shape)",
        "axes restored (reshaped to a's shape).\"\"\"\n    # BEGIN SOLUTION reduction_shape_backward\n"
        "    return np.reshape(grad_output.T, a.shape)")]),
    "transpose applies the permutation again": (F, [("np.transpose(grad_output, np.argsort([ax % a.ndim for ax in axes]))",
                                                     "np.transpose(grad_output, axes)")]),
    "reshape scrambles the gradient": (F, [("a's shape.\"\"\"\n    # BEGIN SOLUTION reduction_shape_backward\n"
                                             "    return np.reshape(grad_output, a.shape)",
                                             "a's shape.\"\"\"\n    # BEGIN SOLUTION reduction_shape_backward\n"
                                             "    return np.reshape(grad_output.T, a.shape)")]),
    "getitem overwrites repeated indices": (F, [("np.add.at(grad, index, grad_output)", "grad[index] = grad_output")]),
    "concatenate offsets not cumulative": (F, [("ends = np.cumsum([x.shape[axis] for x in arrays])[:-1]",
                                                "ends = [x.shape[axis] for x in arrays][:-1]")]),
    "stack returns the first slice for all": (F, [("np.take(grad_output, i, axis=axis)", "np.take(grad_output, 0, axis=axis)")]),
    "matmul forgets to sum broadcast batch axes": (F, [("unbroadcast(grad_b, b2.shape).reshape(b.shape)",
                                                        "grad_b.reshape(b.shape)")]),
    "outer with an untransposed gradient": (F, [("(grad_output.T @ a.ravel())", "(grad_output @ b.ravel())")]),
    "constant-lhs matmul with a transposed gradient": (F, [("else lhs.T @ grad_output",
                                                            "else grad_output.T @ lhs")]),
    "softmax Jacobian without the coupling term": (F, [(
        "return s * (grad_output - np.sum(grad_output * s, axis=axis, keepdims=True))", "return s * grad_output")]),
    "log_softmax Jacobian without the coupling term": (F, [(
        "return grad_output - s * np.sum(grad_output, axis=axis, keepdims=True)", "return grad_output")]),
    "cross-entropy mean not divided by the batch": (F, [(
        'rows = math.prod(logits.shape[:-1]) if reduction == "mean" else 1', "rows = 1")]),
}

# Bugs the issue names, and a test that must catch each.
def traceability_rows() -> list:
    """(task, rule, graded test, mutant) for each row of docs/traceability.md."""
    rows = []
    for line in TRACEABILITY.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 4 and cells[0] not in ("task", "---"):
            rows.append(tuple(cells))
    return rows


# The typical bugs the first grader was built against, and every rule of the traceability table:
# each of these mutants must lose points on that test.
MUST_CATCH = {
    ("transposed matmul gradient", "backward.matmul"), ("wrong sign in sub", "backward.sub"),
    ("wrong sign in div", "backward.div"), ("sigmoid derivative without (1 - s)", "backward.sigmoid"),
} | {(mutant, test) for _, _, test, mutant in traceability_rows()}


def make_mutant(root: Path, name: str) -> Path:
    relative, edits = MUTANTS[name]
    target = root / "mytorch"
    shutil.copytree(REFERENCE, target, ignore=shutil.ignore_patterns("__pycache__"))
    path = target / relative
    text = path.read_text()
    for old, new in edits:
        if isinstance(new, tuple):
            assert old in text, f"mutant {name!r}: {old!r} no longer in {relative}"
            text = text.replace(old, new[1])
        else:
            assert text.count(old) == 1, f"mutant {name!r}: {old!r} occurs {text.count(old)} times in {relative}"
            text = text.replace(old, new)
    path.write_text(text)
    return root


@pytest.fixture(scope="module")
def mutant_results(tmp_path_factory):
    def grade_one(name):
        root = make_mutant(tmp_path_factory.mktemp("mutant"), name)
        return name, grade_trusted(root)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(grade_one, MUTANTS))


def lost_points(results: dict) -> set:
    return {name for name, result in results.items() if result.score < result.max_score}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_each_bug_loses_points(mutant, mutant_results):
    assert lost_points(mutant_results[mutant]), f"no graded test catches: {mutant}"


@pytest.mark.parametrize("mutant,test", sorted(MUST_CATCH))
def test_named_bugs_caught_by_their_test(mutant, test, mutant_results):
    result = mutant_results[mutant][test]
    assert result.score < result.max_score and result.reason, (mutant, result)


@pytest.mark.parametrize("task,rule,test,mutant", traceability_rows())
def test_each_rule_of_the_traceability_table_is_taught_and_its_mutant_exists(task, rule, test, mutant):
    taught = " ".join((WRITEUP_TASKS / f"{task}.md").read_text().split())
    assert " ".join(rule.split()) in taught, f"{task}: the writeup does not state {rule!r}"
    assert mutant in MUTANTS and test in {t.name for _, t in all_tests()}, (mutant, test)


def test_the_traceability_table_covers_every_task():
    assert {task for task, *_ in traceability_rows()} >= {c.key for c, _ in all_tests()}


def test_every_graded_test_catches_some_bug(mutant_results):
    caught = set().union(*(lost_points(r) for r in mutant_results.values()))
    blind = [t.name for _, t in all_tests() if t.name not in caught]
    assert not blind, f"graded tests that no seeded bug fails: {blind}"


def test_reference_scores_full_marks(tmp_path):
    shutil.copytree(REFERENCE, tmp_path / "mytorch", ignore=shutil.ignore_patterns("__pycache__"))
    results = grade_trusted(tmp_path)
    assert all(r.score == r.max_score for r in results.values()), [r.reason for r in results.values() if r.reason]
