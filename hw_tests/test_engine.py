"""The Autograd engine: singleton, the tape replay, where gradients go, and what is kept alive.

Expected values come from the derivative written in each docstring. Operations are recorded
through ``engine_ops``, whose backward functions are written in the tests, so these tests need
only tasks 1 and 2 (the functional helpers are used for their forward only).
"""

import ast
import gc
import pathlib
import subprocess
import sys
import weakref

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mytorch
import engine_ops as ops
import mytorch.nn.functional as F
from conftest import SWEEP, broadcast_pairs, check_grad, seeds
from mytorch import Autograd, Operation

pytestmark = pytest.mark.task2


def grad(engine, x):
    return engine.memory_buffer.get_param(x)


# ---------------------------------------------------------------- package

def test_runtime_dependency_is_numpy_only():
    """Importing the library pulls in no other third-party package, and setup.py declares
    NumPy as its only requirement, with pytest and hypothesis in the `test` extra."""
    probe = ("import sys, mytorch, mytorch.nn.functional, mytorch.gradcheck; "
             "print(sorted({m.split('.')[0] for m in sys.modules} & "
             "{'torch', 'scipy', 'pandas', 'sklearn', 'matplotlib', 'hypothesis', 'pytest'}))")
    root = pathlib.Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

    call = next(node for node in ast.walk(ast.parse((root / "setup.py").read_text()))
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup")
    keywords = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg in ("install_requires", "extras_require")}
    assert [r.split(">")[0].split("=")[0] for r in keywords["install_requires"]] == ["numpy"]
    assert {r.split(">")[0].split("=")[0] for r in keywords["extras_require"]["test"]} == {"pytest", "hypothesis"}


def test_operation_keeps_the_handouts_fields():
    x, y = np.ones(2), np.ones(2)
    op = Operation([x], y, [None], F.exp_backward)
    assert op.inputs == [x] and op.output is y and op.gradients_to_update == [None]
    assert op.backward_operation is F.exp_backward and op.name == "exp_backward"
    assert op.params == {} and repr(op) == "<Operation exp_backward((2,)) -> (2,)>"


# ---------------------------------------------------------------- singleton

def test_second_live_engine_raises(engine):
    with pytest.raises(RuntimeError, match="singleton"):
        Autograd()


def test_deleting_the_engine_frees_the_slot():
    first = Autograd()
    with pytest.raises(RuntimeError):
        Autograd()
    del first
    gc.collect()
    second = Autograd()  # must not raise
    second.close()


def test_close_frees_the_slot_and_clears_the_tape():
    first = Autograd()
    ops.add(np.ones(2), np.ones(2))
    assert len(first.operation_list) == 1
    first.close()
    assert first.operation_list == []
    second = Autograd()  # `first` is still referenced here, yet the slot is free
    second.close()


def test_close_frees_the_slot_even_when_zero_grad_fails(monkeypatch):
    """A student's unfinished zero_grad must not keep the singleton slot taken for every later test."""
    first = Autograd()

    def unfinished() -> None:
        raise NotImplementedError("Task 2")

    monkeypatch.setattr(first, "zero_grad", unfinished)
    with pytest.raises(NotImplementedError):
        first.close()
    Autograd().close()  # `first` is still referenced here, yet the slot is free


def test_context_manager_closes_even_on_error():
    with pytest.raises(ZeroDivisionError):
        with Autograd() as engine:
            assert isinstance(engine, Autograd)
            with pytest.raises(RuntimeError):
                Autograd()
            1 / 0
    with Autograd():  # the slot was released by __exit__
        pass


def test_helpers_record_on_the_live_engine(engine):
    assert mytorch.current_engine() is engine
    F.exp(np.zeros(2))
    assert [op.name for op in engine.operation_list] == ["exp_backward"]


def test_no_grad_records_nothing(engine):
    x = np.array([1.0, 2.0])
    with mytorch.no_grad():
        y = ops.mul(x, 3.0)
    np.testing.assert_array_equal(y, [3.0, 6.0])  # the forward is still computed
    assert engine.operation_list == []
    ops.mul(x, 3.0)
    assert len(engine.operation_list) == 1  # recording resumes after the block


# ---------------------------------------------------------------- the backward contract

def _logging(name, log, result):
    """A backward function called ``name`` that appends its name to ``log``, then returns ``result(...)``."""
    def backward(grad_output, *inputs):
        log.append(name)
        return result(grad_output, *inputs)
    backward.__name__ = name
    return backward


def test_backward_replays_the_tape_in_reverse(engine):
    """a -> b -> c -> d, recorded in that order, must be differentiated d, c, b."""
    log = []
    a = np.ones(3)
    b, c, d = np.ones(3), np.ones(3), np.ones(3)
    engine.add_operation([a], b, [None], _logging("first", log, lambda g, x: g))
    engine.add_operation([b], c, [None], _logging("second", log, lambda g, x: g))
    engine.add_operation([c], d, [None], _logging("third", log, lambda g, x: g))
    engine.backward(np.ones(3))
    assert log == ["third", "second", "first"]


def test_backward_function_may_return_a_tuple_a_list_or_one_array(engine):
    """y = 2a + 3b via a tuple-returning backward, z = 5y via one array: dz/da = 10, dz/db = 15."""
    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    y = 2 * a + 3 * b
    engine.add_operation([a, b], y, [None, None], lambda g, a, b: (2 * g, 3 * g))
    z = 5 * y
    engine.add_operation([y], z, [None], lambda g, y: 5 * g)  # one input: a bare array
    engine.backward(1.0)
    np.testing.assert_allclose(grad(engine, a), [10.0, 10.0])
    np.testing.assert_allclose(grad(engine, b), [15.0, 15.0])

    engine.zero_grad()
    w = 7 * a
    engine.add_operation([a], w, [None], lambda g, a: [7 * g])  # a list of one
    engine.backward()
    np.testing.assert_allclose(grad(engine, a), [7.0, 7.0])


def test_none_marks_a_non_differentiable_input(engine):
    """y = a * k with k treated as non-differentiable: a gets k, k gets nothing."""
    a, k = np.array([1.0, 2.0]), np.array([3.0, 5.0])
    y = a * k
    engine.add_operation([a, k], y, [None, None], lambda g, a, k: (g * k, None))
    engine.backward()
    np.testing.assert_allclose(grad(engine, a), [3.0, 5.0])
    # k has the spot every recorded input gets, and no gradient reached it: it reads as zeros.
    assert not engine.memory_buffer.has_gradient(k)
    np.testing.assert_array_equal(engine.memory_buffer.get_param(k), [0.0, 0.0])


def test_an_input_used_twice_sums_both_paths(engine):
    """y = sum(x * x): dy/dx = 2x."""
    x = np.array([1.0, -2.0, 3.0])
    ops.sum(ops.mul(x, x))
    engine.backward()
    np.testing.assert_allclose(grad(engine, x), 2 * x)


def test_inputs_sharing_one_gradient_array_do_not_alias(engine):
    """y = a + b: add_backward hands both inputs the very same array. After two passes
    each must read 2 (an aliased buffer entry would read 4 for one of them)."""
    a, b = np.ones(3), np.ones(3)
    ops.add(a, b)
    engine.backward()
    engine.backward()
    np.testing.assert_allclose(grad(engine, a), [2.0, 2.0, 2.0])
    np.testing.assert_allclose(grad(engine, b), [2.0, 2.0, 2.0])


def test_a_shared_gradient_array_is_never_added_into(engine):
    """y = (a + b) + a. The outer add hands the very same array to s = a + b and to a;
    the inner add then hands s's array to a (a second contribution) and to b. Adding
    a's second contribution in place would corrupt s's and b's gradients.
    dy/da = 2, dy/db = 1, dy/ds = 1."""
    a, b = np.ones(2), np.ones(2)
    s = ops.add(a, b)
    ops.add(s, a)
    engine.backward()
    np.testing.assert_array_equal(grad(engine, a), [2.0, 2.0])
    np.testing.assert_array_equal(grad(engine, b), [1.0, 1.0])
    np.testing.assert_array_equal(grad(engine, s), [1.0, 1.0])


@pytest.mark.parametrize("shape", [(), (2,)])
def test_three_contributions_to_one_0d_input(engine, shape):
    """y = (a + a) + (a + a): a receives four contributions of 1, so dy/da = 4.

    For a 0-d a, the sum of two contributions is a NumPy scalar, which += cannot
    update in place; a third contribution must not be lost."""
    a = np.ones(shape)
    ops.add(ops.add(a, a), ops.add(a, a))
    engine.backward()
    np.testing.assert_array_equal(grad(engine, a), np.full(shape, 4.0))


def test_divergence_array_is_not_modified(engine):
    x = np.ones(3)
    ops.identity(x)
    divergence = np.array([1.0, 2.0, 3.0])
    engine.backward(divergence)
    engine.backward(divergence)
    np.testing.assert_array_equal(divergence, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(grad(engine, x), [2.0, 4.0, 6.0])


@SWEEP
@given(pair=broadcast_pairs(), seed=seeds,
       program=st.lists(st.tuples(st.sampled_from(["add", "sub", "mul", "tanh", "sin"]),
                                  st.integers(0, 99), st.integers(0, 99)), min_size=1, max_size=8))
def test_random_programs_with_fan_out_match_central_differences(pair, seed, program):
    """Random straight-line programs over two broadcast inputs: every step applies an
    op to earlier values picked at random, so values are reused (fan-out), inputs appear
    twice in one op, and gradients from many paths must be summed correctly."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(-1, 1, pair[0]), rng.uniform(-1, 1, pair[1])

    def f(a, b):
        values = [a, b]
        for op, i, j in program:
            x, y = values[i % len(values)], values[j % len(values)]
            values.append(getattr(ops, op)(x, y) if op in ("add", "sub", "mul") else getattr(ops, op)(x))
        return ops.sum(ops.add(values[-1], values[len(values) // 2]))

    check_grad(f, a, b, seed=seed)


# ---------------------------------------------------------------- gradients_to_update

def test_gradients_to_update_accumulates_in_place_through_a_view(engine, rng):
    """y = x @ W^T with the gradient of the input W^T sent to dW.T (a view of dW).

    With L = sum(G * y): dL/d(W^T) = x^T G, so dL/dW = G^T x; dW started at ones,
    so afterwards dW = 1 + G^T x. No buffer entry is made for the leaf W.T.
    """
    x, W = rng.standard_normal((4, 3)), rng.standard_normal((2, 3))
    G = rng.standard_normal((4, 2))
    dW = np.ones((2, 3))
    dW_before = dW
    WT = W.T
    ops.matmul(x, WT, gradients_to_update=[None, dW.T])
    engine.backward(G)
    assert dW is dW_before
    np.testing.assert_allclose(dW, 1.0 + G.T @ x)
    assert not engine.memory_buffer.is_in_memory(WT)
    np.testing.assert_allclose(grad(engine, x), G @ W)  # the other input still uses the buffer

    engine.backward(G)  # a second pass accumulates again, like .grad
    np.testing.assert_allclose(dW, 1.0 + 2 * G.T @ x)


def test_gradients_to_update_of_an_intermediate_also_flows_on(engine):
    """h = 2x, y = sum(h) with h's gradient also written to dh: dh = 1, dy/dx = 2."""
    x = np.array([1.0, 2.0, 3.0])
    dh = np.zeros(3)
    h = ops.mul(x, 2.0)
    ops.sum(h, gradients_to_update=[dh])
    engine.backward()
    np.testing.assert_allclose(dh, [1.0, 1.0, 1.0])
    np.testing.assert_allclose(grad(engine, x), [2.0, 2.0, 2.0])


# ---------------------------------------------------------------- divergence and the output

def test_scalar_divergence_scales_the_gradient(engine):
    """y = 3x, upstream 2: dL/dx = 6 everywhere."""
    x = np.ones((2, 3))
    ops.mul(x, 3.0)
    engine.backward(2.0)
    np.testing.assert_allclose(grad(engine, x), np.full((2, 3), 6.0))


def test_divergence_broadcasts_to_the_output(engine):
    """y = 3x of shape (2, 3), upstream [1, 2, 3] for each row: dL/dx = 3 [1, 2, 3] per row."""
    x = np.ones((2, 3))
    ops.mul(x, 3.0)
    engine.backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(grad(engine, x), [[3.0, 6.0, 9.0]] * 2)


def test_divergence_of_the_wrong_shape_raises(engine):
    ops.mul(np.ones((2, 3)), 3.0)
    with pytest.raises(ValueError, match=r"divergence of shape \(4,\).*\(2, 3\)"):
        engine.backward(np.ones(4))


def test_differentiate_an_output_that_is_not_the_last(engine):
    """Two losses on one tape: y1 = sum(x^2), y2 = sum(3x).

    backward(output=y1) gives 2x and must not touch y2's operations; then
    backward() (the last output, y2) adds 3: the leaf accumulates 2x + 3.
    """
    calls = []
    x = np.array([1.0, 2.0])
    y1 = ops.sum(ops.mul(x, x))
    z = ops.mul(x, 3.0)
    y2 = np.asarray(np.sum(z))
    engine.add_operation([z], y2, [None], _logging("sum_y2", calls, lambda g, z: np.broadcast_to(g, z.shape)))
    engine.backward(1.0, output=y1)
    assert calls == []  # operations recorded after y1 are skipped
    np.testing.assert_allclose(grad(engine, x), 2 * x)
    engine.backward()
    assert calls == ["sum_y2"]
    np.testing.assert_allclose(grad(engine, x), 2 * x + 3.0)


def test_several_losses_are_documented():
    """The issue asks for the `output` argument to be explained in backward's docstring."""
    doc = Autograd.backward.__doc__
    assert "output:" in doc and "several losses" in doc


def test_differentiate_an_intermediate_output(engine):
    """h = 2x is consumed by y = sum(h); backward(G, output=h) gives dL/dx = 2G, ignoring y."""
    x = np.array([1.0, 2.0, 3.0])
    h = ops.mul(x, 2.0)
    ops.sum(h)
    engine.backward(np.array([1.0, 10.0, 100.0]), output=h)
    np.testing.assert_array_equal(grad(engine, x), [2.0, 20.0, 200.0])


def test_backward_of_an_array_not_on_the_tape_raises(engine):
    F.exp(np.zeros(2))
    with pytest.raises(ValueError, match="not the output of any recorded operation"):
        engine.backward(output=np.zeros(2))


# ---------------------------------------------------------------- exclusion from the graph

def test_operations_off_the_path_are_skipped(engine):
    """An unused branch (x -> u -> v) and an op on the path (x -> w -> loss).

    The counting backward functions prove the branch's functions are never
    called (not run on zeros), while the one on the path is called exactly once.
    """
    calls = {"u": 0, "v": 0, "w": 0}

    def counted(name):
        def backward(grad_output, a):
            calls[name] += 1
            return grad_output
        backward.__name__ = f"{name}_backward"
        return backward

    x = np.array([1.0, 2.0])
    u = x + 1
    engine.add_operation([x], u, [None], counted("u"))
    v = u + 1
    engine.add_operation([u], v, [None], counted("v"))
    w = x + 0
    engine.add_operation([x], w, [None], counted("w"))
    ops.sum(w)
    engine.backward()
    assert calls == {"u": 0, "v": 0, "w": 1}
    assert not engine.memory_buffer.has_gradient(u)  # only its spot, which reads as zeros
    np.testing.assert_allclose(grad(engine, x), [1.0, 1.0])


# ---------------------------------------------------------------- repeated backward

def test_repeated_backward_accumulates_leaves_not_intermediates(engine):
    """y = 3x^2 + 15 at x = 3: dy/dx = 6x = 18 per pass, so 18, 36, 54 after 1, 2, 3 passes.

    The intermediate s = x^2 has dy/ds = 3 in every pass: its entry stays 3.
    """
    x = np.array(3.0)
    s = ops.square(x)
    ops.add(ops.mul(3.0, s), 15.0)
    for expected in (18.0, 36.0, 54.0):
        engine.backward()
        assert float(grad(engine, x)) == pytest.approx(expected)
        assert float(grad(engine, s)) == pytest.approx(3.0)


# ---------------------------------------------------------------- long chains, memory

def test_a_chain_of_100000_operations_backpropagates(engine):
    """y = c^N x after N = 100,000 multiplications by c: dy/dx = c^N.

    With c = 1 + 1e-5, c^N = exp(N ln c) ~ e; a recursive replay would hit
    Python's recursion limit (1000) long before.
    """
    n, c = 100_000, 1.00001
    x = np.array(1.0)
    y = x
    for _ in range(n):
        y = ops.mul(y, c)
    engine.backward()
    assert float(grad(engine, x)) == pytest.approx(c**n, rel=1e-9)


def test_zero_grad_empties_tape_and_buffer_and_releases_arrays(engine):
    x = np.ones(3)
    h = ops.mul(x, 2.0)
    y = ops.sum(h)
    engine.backward()
    refs = [weakref.ref(a) for a in (x, h, y)]
    del x, h, y
    assert all(r() is not None for r in refs)  # the tape holds them until zero_grad
    engine.zero_grad()
    assert engine.operation_list == [] and len(engine.memory_buffer) == 0
    assert [r() for r in refs] == [None, None, None]  # freed by reference counting alone


def test_backward_on_an_emptied_tape_raises(engine):
    F.exp(np.zeros(2))
    engine.zero_grad()
    with pytest.raises(RuntimeError, match="tape is empty"):
        engine.backward()


# ---------------------------------------------------------------- debug mode

def test_debug_mode_catches_an_input_modified_in_place():
    with Autograd(debug=True) as engine:
        x = np.array([1.0, 2.0])
        ops.sum(ops.mul(x, x))
        x += 1.0  # the recorded mul_backward would now use the wrong x
        with pytest.raises(RuntimeError, match=r"input 0 .*mul_backward.*modified in place"):
            engine.backward()


def test_debug_mode_passes_untouched_inputs():
    """y = sum(x * x) with nothing modified: dy/dx = 2x, as without debug."""
    with Autograd(debug=True) as engine:
        x = np.array([1.0, 2.0])
        ops.sum(ops.mul(x, x))
        engine.backward()
        np.testing.assert_allclose(grad(engine, x), [2.0, 4.0])


def test_normal_mode_takes_no_snapshots(engine):
    x = np.array([1.0, 2.0])
    ops.sum(ops.mul(x, x))
    assert all(op.snapshots is None for op in engine.operation_list)
    x += 1.0
    engine.backward()  # no check, no error (the documented price of not debugging)


# ---------------------------------------------------------------- constants and many inputs

def test_python_scalars_and_lists_are_constants(engine):
    """y = sum(2 * x + [1, 2, 3]) with the scalar and the list as inputs: dy/dx = 2, and
    no gradient is stored for the constants."""
    x = np.array([1.0, 2.0, 3.0])
    ops.sum(ops.add(ops.mul(2.0, x), [1.0, 2.0, 3.0]))
    engine.backward()
    np.testing.assert_allclose(grad(engine, x), [2.0, 2.0, 2.0])
    mul_op, add_op = engine.operation_list[0], engine.operation_list[1]
    assert not engine.memory_buffer.is_in_memory(mul_op.inputs[0])  # the 2.0
    assert not engine.memory_buffer.is_in_memory(add_op.inputs[1])  # the list
    assert len(engine.memory_buffer) == 4  # x, the two intermediates and the output


def test_raw_add_operation_accepts_a_scalar_input(engine):
    """y = x * 4 recorded by hand with the 4 as a Python float: dy/dx = 4."""
    x = np.array([1.0, -1.0])
    y = x * 4.0
    engine.add_operation([x, 4.0], y, [None, None], ops.mul_backward)
    engine.backward()
    np.testing.assert_allclose(grad(engine, x), [4.0, 4.0])
    assert len(engine.memory_buffer) == 2  # x and y only


def test_three_and_four_input_operations(engine):
    """concatenate(a, b, c) along axis 1 and stack of four arrays, then sum(G * y):
    each input's gradient is its own slice of G."""
    a, b, c = np.ones((2, 1)), np.ones((2, 2)), np.ones((2, 3))
    y = ops.concatenate([a, b, c], axis=1)
    G = np.arange(12.0).reshape(2, 6)
    engine.backward(G)
    np.testing.assert_array_equal(grad(engine, a), G[:, :1])
    np.testing.assert_array_equal(grad(engine, b), G[:, 1:3])
    np.testing.assert_array_equal(grad(engine, c), G[:, 3:])
    assert y.shape == (2, 6)

    engine.zero_grad()
    parts = [np.full(3, float(k)) for k in range(4)]
    ops.stack(parts, axis=1)
    H = np.arange(12.0).reshape(3, 4)
    engine.backward(H)
    for k, part in enumerate(parts):
        np.testing.assert_array_equal(grad(engine, part), H[:, k])


def test_intermediate_0d_gradient_is_an_array(engine):
    """y = t + 1.0 * t with t = a + a, all 0-d: t's buffer entry is a 0-d ndarray holding dy/dt = 2
    (the sum of two 0-d gradients is a NumPy scalar unless the engine keeps it an array)."""
    a = np.array(2.0)
    t = ops.add(a, a)
    ops.add(t, ops.mul(t, 1.0))
    engine.backward()
    grad_t = engine.memory_buffer.get_param(t)
    assert isinstance(grad_t, np.ndarray) and grad_t.shape == ()
    assert grad_t == 2.0  # d/dt (t + 1.0 t) = 2
