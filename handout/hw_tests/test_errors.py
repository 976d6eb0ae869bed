"""Bad input gets a clear error naming the operation, the input and the shapes, never a
silent wrong gradient. Each test asserts on the message's content.

These are the engine's messages and the helpers' forward checks: task 2 (operations whose
backward runs are recorded through ``engine_ops``, so no later task is needed)."""

import re

import numpy as np
import pytest

import engine_ops as ops
import mytorch.nn.functional as F
from mytorch import Autograd
from mytorch.utils import GradientNotFoundError

pytestmark = pytest.mark.task2


def bad_backward(grad_output, a, b):
    return grad_output  # one gradient for two inputs


def shape_changing_backward(grad_output, a):
    return np.ones(3)  # input 0 has shape (2,)


# ---------------------------------------------------------------- the engine

def test_inputs_and_gradients_to_update_of_different_lengths(engine):
    a, b = np.ones(2), np.ones((2, 3))
    with pytest.raises(ValueError, match=re.escape(
            "add_operation(mul_backward): 2 inputs of shapes [(2,), (2, 3)] but 1 gradients_to_update")):
        engine.add_operation([a, b], np.ones((2, 3)), [None], F.mul_backward)
    with pytest.raises(ValueError, match=re.escape("add_operation(add_backward): 2 inputs")):
        F.add(a, a, gradients_to_update=[None])  # the helpers pass the list through
    assert engine.operation_list == []


def test_backward_returning_the_wrong_number_of_gradients(engine):
    a, b = np.ones(2), np.ones(2)
    engine.add_operation([a, b], a + b, [None, None], bad_backward)
    with pytest.raises(ValueError, match=re.escape(
            "bad_backward (operation #0 on the tape) returned 1 gradient(s) for 2 input(s) "
            "of shapes [(2,), (2,)]")):
        engine.backward()


def test_gradient_that_cannot_be_reduced_to_its_input(engine):
    a = np.ones(2)
    engine.add_operation([a], a * 2, [None], shape_changing_backward)
    with pytest.raises(ValueError, match=re.escape(
            "shape_changing_backward (operation #0 on the tape) returned a gradient of shape (3,) "
            "for input 0 of shape (2,)")):
        engine.backward()


def test_gradient_with_the_same_size_but_another_shape_is_not_reshaped(engine):
    """(3, 2) and (2, 3) hold 6 elements each; a reshape would hide a transposition bug."""
    W = np.ones((2, 3))
    engine.add_operation([W], W * 2, [None], lambda g, W: g.T)
    with pytest.raises(ValueError, match=re.escape("gradient of shape (3, 2) for input 0 of shape (2, 3)")):
        engine.backward()


def test_gradient_smaller_than_its_input_is_not_broadcast_up(engine):
    """A (1,) gradient for a (3,) input is a missing reduction's mirror image: refuse it."""
    x = np.ones(3)
    engine.add_operation([x], x * 2, [None], lambda g, x: g[:1])
    with pytest.raises(ValueError, match=re.escape("gradient of shape (1,) for input 0 of shape (3,)")):
        engine.backward()


def test_gradients_to_update_array_of_the_wrong_shape(engine):
    x, W = np.ones((4, 3)), np.ones((2, 3))
    dW = np.zeros((2, 3))
    with pytest.raises(ValueError, match=re.escape(
            "add_operation(matmul_backward): gradients_to_update[1] is array of shape (2, 3) and dtype "
            "float64 but input 1 has shape (3, 2)")):
        F.matmul(x, W.T, gradients_to_update=[None, dW])  # should have been dW.T


def test_gradients_to_update_entry_that_is_not_an_array(engine):
    """A list cannot be added into in place: refused when recorded, not at backward."""
    with pytest.raises(ValueError, match=re.escape("gradients_to_update[0] is list [0.0, 0.0] but input 0 "
                                                   "has shape (2,); give a NumPy array")):
        F.exp(np.ones(2), gradients_to_update=[[0.0, 0.0]])


def test_backward_on_an_empty_tape(engine):
    with pytest.raises(RuntimeError, match="backward: the tape is empty"):
        engine.backward()


def test_get_param_of_an_array_the_buffer_does_not_hold(engine):
    x = np.ones((2, 5))
    ops.sum(ops.mul(x, 2.0))
    engine.backward()
    with pytest.raises(GradientNotFoundError, match=re.escape(
            "MemoryBuffer.get_param: no gradient is stored for this array of shape (5, 2)")):
        engine.memory_buffer.get_param(x.T)  # a view is another key


def test_add_operation_rejects_a_non_array_output_and_a_reused_output(engine):
    x = np.ones(2)
    with pytest.raises(TypeError, match=r"add_operation\(neg_backward\): output must be a NumPy array"):
        engine.add_operation([x], [-1.0, -1.0], [None], F.neg_backward)
    with pytest.raises(ValueError, match=r"add_operation\(neg_backward\): the output .*shape \(2,\).* already"):
        engine.add_operation([x], x, [None], F.neg_backward)  # an in-place op: output is its input
    with pytest.raises(TypeError, match="backward_operation must be a function"):
        engine.add_operation([x], -x, [None], "neg_backward")


def test_helpers_need_a_live_engine():
    with pytest.raises(RuntimeError, match="No Autograd engine exists"):
        F.add(np.ones(2), np.ones(2))


def test_singleton_message_says_how_to_free_the_slot(engine):
    with pytest.raises(RuntimeError, match=r"mytorch\.current_engine\(\)\.close\(\)") as error:
        Autograd()
    # The advice works as written, whatever the live engine is called (or if it has no name).
    assert "del engine" not in str(error.value)
    import mytorch
    assert mytorch.current_engine() is engine
    mytorch.current_engine().close()
    Autograd().close()


# ---------------------------------------------------------------- forward shape errors of the helpers

@pytest.mark.parametrize("call, message", [
    (lambda: F.matmul(np.ones((2, 3)), np.ones((4, 5))),
     r"matmul: cannot be applied to inputs of shapes (2, 3), (4, 5); expected (..., n, k) @ (..., k, m)"),
    (lambda: F.add(np.ones((2, 3)), np.ones((4,))),
     "add: cannot be applied to inputs of shapes (2, 3), (4,); expected shapes that broadcast together"),
    (lambda: F.sum(np.ones((2, 3)), axis=2),
     "sum: cannot be applied to inputs of shapes (2, 3); expected an axis within the input's 2 dimensions"),
    (lambda: F.max(np.ones((2, 3)), axis=-3),
     "max: cannot be applied to inputs of shapes (2, 3); expected an axis within"),
    (lambda: F.reshape(np.ones((2, 3)), (4, 2)),
     "reshape: cannot be applied to inputs of shapes (2, 3); expected a shape with 6 elements"),
    (lambda: F.transpose(np.ones((2, 3)), (0, 0)),
     "transpose: cannot be applied to inputs of shapes (2, 3); expected axes, a permutation of range(2)"),
    (lambda: F.squeeze(np.ones((2, 3)), 0),
     "squeeze: cannot be applied to inputs of shapes (2, 3); expected axes of size 1"),
    (lambda: F.getitem(np.ones((2, 3)), (0, 5)),
     "getitem: cannot be applied to inputs of shapes (2, 3); expected an index within the input's bounds"),
    (lambda: F.concatenate([np.ones((2, 3)), np.ones((2, 4))], axis=0),
     "concatenate: cannot be applied to inputs of shapes (2, 3), (2, 4); expected equal shapes except along axis 0"),
    (lambda: F.stack([np.ones(2), np.ones(3), np.ones(2)]),
     "stack: cannot be applied to inputs of shapes (2,), (3,), (2,); expected arrays of equal shape"),
    (lambda: F.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 5])),
     "softmax_cross_entropy: logits of shape (2, 3), target of shape (2,); label 5 is out of range for 3 classes"),
    (lambda: F.softmax_cross_entropy(np.zeros((2, 3)), np.array([-1, 0])),
     "label -1 is out of range for 3 classes (labels must be in 0..2)"),
    (lambda: F.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2])),
     "target of shape (3,); integer labels must have shape (2,)"),
    (lambda: F.softmax_cross_entropy(np.zeros((2, 3)), np.zeros((2, 4))),
     "target of shape (2, 4); a one-hot or probability target must have the logits' shape (2, 3)"),
    (lambda: F.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1]), reduction="avg"),
     "softmax_cross_entropy: reduction must be one of ('mean', 'sum', 'none'), got 'avg'"),
])
def test_forward_errors_name_the_helper_and_the_shapes(engine, call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()
    assert engine.operation_list == []  # nothing half-recorded
