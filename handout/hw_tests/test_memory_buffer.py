"""MemoryBuffer: gradients keyed by array identity, with the handout's method names.

The buffer alone is task 1; the tests that fill it through the engine are task 2 (they record
through ``engine_ops``, so they need no backward function of the later tasks).
"""

import gc
import weakref

import numpy as np
import pytest

import engine_ops as ops
from mytorch import MemoryBuffer
from mytorch.utils import GradientNotFoundError


# ---------------------------------------------------------------- the handout's methods

@pytest.mark.task1
def test_get_memory_loc_is_the_identity_not_the_data_pointer():
    W = np.zeros((2, 3))
    assert MemoryBuffer.get_memory_loc(W) == id(W)
    # A view shares W's data pointer but is another object, hence another key.
    assert W.T.__array_interface__["data"][0] == W.__array_interface__["data"][0]
    assert MemoryBuffer.get_memory_loc(W.T) != MemoryBuffer.get_memory_loc(W)


@pytest.mark.task1
def test_add_spot_makes_a_zero_gradient_once():
    buffer = MemoryBuffer()
    x = np.array([1, 2, 3])  # integer data still gets a floating-point gradient
    assert not buffer.is_in_memory(x)
    buffer.add_spot(x)
    assert buffer.is_in_memory(x)
    np.testing.assert_array_equal(buffer.get_param(x), [0.0, 0.0, 0.0])
    assert buffer.get_param(x).dtype == np.float64
    buffer.update_param(x, np.array([1.0, 2.0, 3.0]))
    buffer.add_spot(x)  # must not reset an existing gradient
    np.testing.assert_array_equal(buffer.get_param(x), [1.0, 2.0, 3.0])


@pytest.mark.task1
def test_update_param_accumulates_and_copies_the_first_gradient():
    buffer = MemoryBuffer()
    x = np.zeros(2)
    g = np.array([1.0, 2.0])
    buffer.update_param(x, g)
    buffer.update_param(x, g)
    np.testing.assert_array_equal(buffer.get_param(x), [2.0, 4.0])
    np.testing.assert_array_equal(g, [1.0, 2.0])  # the caller's array was copied, not added into


@pytest.mark.task1
def test_set_param_overwrites_with_a_copy():
    buffer = MemoryBuffer()
    x = np.zeros(2)
    buffer.update_param(x, np.array([5.0, 5.0]))
    g = np.array([1.0, 2.0])
    buffer.set_param(x, g)
    g[0] = 100.0
    np.testing.assert_array_equal(buffer.get_param(x), [1.0, 2.0])


@pytest.mark.task1
def test_update_and_set_reject_a_gradient_of_another_shape():
    buffer = MemoryBuffer()
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"update_param.*\(3, 2\).*\(2, 3\)"):
        buffer.update_param(x, np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"set_param.*\(6,\).*\(2, 3\)"):
        buffer.set_param(x, np.zeros(6))


@pytest.mark.task1
def test_get_param_of_an_unknown_array_names_its_shape():
    buffer = MemoryBuffer()
    with pytest.raises(GradientNotFoundError):
        buffer.get_param(np.zeros((4, 5)))
    with pytest.raises(KeyError):  # GradientNotFoundError is a KeyError, as a dict lookup would be
        buffer.get_param(np.zeros(1))


@pytest.mark.task1
def test_clear_forgets_everything_and_releases_the_arrays():
    buffer = MemoryBuffer()
    x = np.zeros(3)
    buffer.add_spot(x)
    ref = weakref.ref(x)
    del x
    assert ref() is not None  # held by the buffer
    buffer.clear()
    assert len(buffer) == 0
    assert ref() is None


# ---------------------------------------------------------------- views get their own gradient

@pytest.mark.task2
def test_an_array_and_its_transpose_have_separate_gradients(engine):
    """y = sum(A * W) + sum(B * W^T): dy/dW = A and dy/d(W^T) = B, kept apart."""
    W = np.arange(6.0).reshape(2, 3)
    WT = W.T
    A, B = np.full((2, 3), 2.0), np.full((3, 2), 5.0)
    ops.add(ops.sum(ops.mul(A, W)), ops.sum(ops.mul(B, WT)))
    engine.backward()
    np.testing.assert_array_equal(engine.memory_buffer.get_param(W), A)
    np.testing.assert_array_equal(engine.memory_buffer.get_param(WT), B)


@pytest.mark.task2
def test_an_array_and_its_reshape_have_separate_gradients(engine):
    """y = sum(3x) + sum(7 x.reshape(2, 2)): dy/dx = 3 (shape (4,)), dy/dr = 7 (shape (2, 2))."""
    x = np.arange(4.0)
    r = x.reshape(2, 2)
    ops.add(ops.sum(ops.mul(3.0, x)), ops.sum(ops.mul(7.0, r)))
    engine.backward()
    np.testing.assert_array_equal(engine.memory_buffer.get_param(x), np.full(4, 3.0))
    np.testing.assert_array_equal(engine.memory_buffer.get_param(r), np.full((2, 2), 7.0))


# ---------------------------------------------------------------- freed temporaries

@pytest.mark.task2
def test_a_keyed_array_cannot_be_freed_while_its_entry_exists(engine):
    """The buffer holds the temporary, so its id cannot be handed to a new array."""
    temporary = np.ones(3)
    ops.sum(ops.mul(temporary, 2.0))
    engine.backward()
    ref, key = weakref.ref(temporary), id(temporary)
    del temporary
    engine.operation_list.clear()  # even without the tape, the buffer keeps it alive
    gc.collect()
    assert ref() is not None
    assert engine.memory_buffer.is_in_memory(ref())
    assert MemoryBuffer.get_memory_loc(ref()) == key


@pytest.mark.task2
def test_a_reused_id_does_not_inherit_a_stale_gradient(engine):
    """Record with a temporary, clear, free it, then allocate same-size arrays until
    one lands at the freed id: the newcomer must have no gradient."""
    temporary = np.ones(3)
    ops.sum(ops.mul(temporary, 2.0))
    engine.backward()
    stale_key = id(temporary)
    engine.zero_grad()
    del temporary
    newcomers = []
    for _ in range(10_000):
        candidate = np.ones(3)
        if id(candidate) == stale_key:
            break
        newcomers.append(candidate)  # keep it so the allocator moves on
    else:
        pytest.skip("the allocator never reused the freed id")
    assert not engine.memory_buffer.is_in_memory(candidate)
    with pytest.raises(GradientNotFoundError):
        engine.memory_buffer.get_param(candidate)
