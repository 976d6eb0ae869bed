"""The rubric: components (the handout's tasks, in order) -> tests -> points.

This is the single source for the grader's points and Autolab problem names,
for the pytest suite (hw_tests/test_graded_cases.py runs every test listed
here against the reference) and for the handout's task list and points. A
test's name is the name of its case in ``autograder/grading/cases``; each task's
tests use only what earlier tasks built.

Visibility follows Gradescope: visible, hidden, after_due_date, after_published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence


@dataclass(frozen=True)
class Test:
    name: str
    points: float
    visibility: str = "visible"


@dataclass(frozen=True)
class Component:
    key: str  # also the Autolab problem name
    title: str
    tests: tuple = field(default_factory=tuple)

    @property
    def points(self) -> float:
        return sum(t.points for t in self.tests)


def _tests(**points: float) -> tuple:
    """Test names are the case names: 'engine.chain' is written engine__chain here."""
    return tuple(Test(name.replace("__", "."), p) for name, p in points.items())


RUBRIC: tuple = (
    Component("memory_buffer", "Memory buffer", _tests(
        buffer__accumulate=2, buffer__views=2, buffer__set_clear=1)),
    Component("autograd_engine", "Autograd engine", _tests(
        engine__record=1, engine__single_op=2, engine__chain=2, engine__shared_input=2,
        engine__gradients_to_update=2, engine__repeated_backward=2, engine__zero_grad=2,
        engine__other_output=2)),
    Component("elementwise_backward", "Elementwise backward functions", _tests(
        backward__add=2, backward__sub=2, backward__mul=2, backward__div=2, backward__pow=2,
        backward__pow_arrays=1, backward__neg=1, backward__maximum=2, backward__minimum=1)),
    Component("unary_backward", "Unary backward functions", _tests(
        backward__exp=0.5, backward__log=0.5, backward__sqrt=0.5, backward__sin=0.5, backward__cos=0.5,
        backward__tanh=0.5, backward__sigmoid=0.5, backward__relu=1, backward__abs=1, backward__identity=0.5)),
    Component("reduction_shape_backward", "Reductions, shapes and indexing", _tests(
        backward__sum=1.5, backward__mean=1, backward__max=1.5, backward__min=0.5, backward__transpose=1,
        backward__reshape=1, backward__expand_dims=0.5, backward__squeeze=0.5, backward__getitem=1.5,
        backward__concatenate=0.5, backward__stack=0.5)),
    Component("matmul_backward", "Matrix products", _tests(
        backward__matmul=2.5, backward__matmul_batched=2, backward__outer=0.5, backward__matmul_constant_lhs=1)),
    Component("softmax_backward", "Softmax and cross-entropy", _tests(
        backward__softmax=2, backward__log_softmax=2, backward__cross_entropy=2)),
    Component("activations", "Activations", _tests(
        activation__identity=0.5, activation__sigmoid=1.5, activation__tanh=1, activation__relu=1,
        activation__leaky_relu=1, activation__gelu=1.5, activation__softmax=1.5)),
    Component("linear", "Linear layer", _tests(linear__batch=4, linear__batch_of_one=2)),
    Component("losses", "Losses", _tests(
        loss__mse=1, loss__cross_entropy_labels=1.5, loss__cross_entropy_one_hot=1, loss__nll=1,
        loss__bce=0.75, loss__bce_with_logits=0.75)),
    Component("convolution", "Convolution and pooling", _tests(
        conv__conv1d=3, conv__conv2d=2.5, conv__conv2d_strided=1.5, backward__window_max=1.5, conv__max_pool=1,
        conv__avg_pool=0.75, conv__flatten=0.75)),
    Component("recurrent", "Recurrent cells", _tests(
        rnn__rnn_cell=2, rnn__rnn_cell_batch_of_one=1, rnn__gru_cell=3)),
)


def all_tests() -> list:
    """(component, test) pairs in rubric order."""
    return [(component, test) for component in RUBRIC for test in component.tests]


def select_tests(only: Optional[Sequence[str]] = None) -> list:
    """The (component, test) pairs ``only`` picks, in rubric order; every test when it is empty.

    Each entry of ``only`` is a task number ("3"), a component key ("elementwise_backward"),
    a test's full name ("backward.exp": that test alone, not backward.expand_dims too) or the
    start of test names ("engine.", "backward."). An entry that picks nothing is a ValueError
    naming the choices (a typo must not grade zero tests).
    """
    if not only:
        return all_tests()
    keys = {str(number): component.key for number, component in enumerate(RUBRIC, start=1)}
    names = {test.name for _, test in all_tests()}

    def picks(entry: str, component: Component, test: Test) -> bool:
        if entry in names:
            return test.name == entry
        return component.key == keys.get(entry, entry) or test.name.startswith(entry)

    unknown = [entry for entry in only if not any(picks(entry, c, t) for c, t in all_tests())]
    if unknown:
        choices = ", ".join(f"{n} ({key})" for n, key in keys.items())
        raise ValueError(f"--only {' '.join(unknown)}: no such task or test; tasks are {choices}, "
                         "and test names start with buffer., engine., backward., activation., linear., "
                         "loss., conv. or rnn.")
    return [(c, t) for c, t in all_tests() if any(picks(entry, c, t) for entry in only)]


def total_points() -> float:
    return sum(component.points for component in RUBRIC)
