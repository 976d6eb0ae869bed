"""Forward values and gradients against PyTorch in float64, where PyTorch is installed.

PyTorch is optional: without it this whole module is skipped. The conventions at
kinks and ties are PyTorch's too: relu'(0) = abs'(0) = 0, maximum/minimum split a
tie in half, amax/amin share a reduction's gradient equally among tied elements.
"""

import numpy as np
import pytest

import mytorch.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def crosscheck(engine, ours, theirs, *inputs, seed=0):
    """Compare ours(*arrays) / theirs(*tensors), and the gradients of sum(G * output) for
    every floating-point input, with a random upstream G."""
    output = ours(*inputs)
    G = np.random.default_rng(seed).standard_normal(np.shape(output))
    engine.backward(G)

    tensors = [torch.tensor(x, dtype=torch.float64, requires_grad=True) if np.issubdtype(np.asarray(x).dtype, np.floating)
               else torch.tensor(x) for x in inputs]
    expected = theirs(*tensors)
    expected.backward(torch.tensor(G, dtype=torch.float64))

    np.testing.assert_allclose(output, expected.detach().numpy(), rtol=1e-12, atol=1e-12, equal_nan=False)
    for x, t in zip(inputs, tensors):
        if t.requires_grad:
            np.testing.assert_allclose(engine.memory_buffer.get_param(x), t.grad.numpy(), rtol=1e-10, atol=1e-12,
                                       equal_nan=False)


@pytest.fixture
def arrays():
    rng = np.random.default_rng(7)
    return lambda *shape, low=-1.0, high=1.0: rng.uniform(low, high, size=shape)


@pytest.mark.task3
def test_elementwise_with_broadcasting(engine, arrays):
    """((a + b) * c - a / d) ** 2 with shapes (2, 3), (3,), (2, 1), () (d kept away from 0)."""
    a, b, c, d = arrays(2, 3), arrays(3), arrays(2, 1), np.array(1.7)
    crosscheck(engine,
               lambda a, b, c, d: F.pow(F.sub(F.mul(F.add(a, b), c), F.div(a, d)), 2),
               lambda a, b, c, d: ((a + b) * c - a / d) ** 2, a, b, c, d)


@pytest.mark.task3
def test_pow_array_to_array_and_zero_base(engine, arrays):
    """a**b with positive a, and the zero base 0**b for b = 0, 1, 2 (both give 0, 1, 0 for d/da
    and 0 for d/db there)."""
    crosscheck(engine, F.pow, torch.pow, arrays(2, 3, low=0.5, high=2.0), arrays(3))
    engine.zero_grad()
    crosscheck(engine, F.pow, torch.pow, np.zeros(3), np.array([0.0, 1.0, 2.0]))


@pytest.mark.task4
def test_unary(engine, arrays):
    x = arrays(3, 4, low=0.2, high=2.0) * np.where(np.arange(12).reshape(3, 4) % 2, 1, -1)
    x[0, 0] = 0.0  # the kink of relu and abs
    crosscheck(engine,
               lambda x: F.add(F.add(F.relu(x), F.abs(x)), F.add(F.sigmoid(x), F.mul(F.tanh(x), F.exp(F.sin(x))))),
               lambda x: torch.relu(x) + x.abs() + torch.sigmoid(x) + torch.tanh(x) * torch.exp(torch.sin(x)), x)
    engine.zero_grad()
    y = arrays(5, low=0.2, high=1.4)  # cos(y) > 0 for the sqrt
    crosscheck(engine, lambda y: F.mul(F.log(y), F.sqrt(F.cos(y))), lambda y: torch.log(y) * torch.sqrt(torch.cos(y)), y)


@pytest.mark.task6
@pytest.mark.parametrize("a_shape, b_shape", [
    ((3, 4), (4, 2)),            # 2-D
    ((2, 1, 3, 4), (5, 4, 2)),   # batched, batch axes broadcast
    ((4,), (2, 4, 3)),           # 1-D left operand
    ((2, 3, 4), (4,)),           # 1-D right operand
    ((4,), (4,)),                # dot product
])
def test_matmul(engine, arrays, a_shape, b_shape):
    crosscheck(engine, F.matmul, torch.matmul, arrays(*a_shape), arrays(*b_shape))


@pytest.mark.task3
def test_maximum_and_minimum_with_ties(engine):
    a, b = np.array([1.0, 2.0, 3.0, -1.0]), np.array([1.0, 0.0, 5.0, -1.0])
    crosscheck(engine, F.maximum, torch.maximum, a, b)
    engine.zero_grad()
    crosscheck(engine, F.minimum, torch.minimum, a, b)


@pytest.mark.task5
@pytest.mark.parametrize("axis, keepdims", [(None, False), (1, False), (-1, True), ((0, 2), False)])
def test_reductions_with_ties(engine, axis, keepdims):
    x = np.array([[[1.0, 3.0], [3.0, 0.0]], [[2.0, 2.0], [-1.0, 2.0]]])
    dim = tuple(range(3)) if axis is None else axis
    crosscheck(engine, lambda x: F.max(x, axis=axis, keepdims=keepdims),
               lambda x: torch.amax(x, dim=dim, keepdim=keepdims), x)
    engine.zero_grad()
    crosscheck(engine, lambda x: F.min(x, axis=axis, keepdims=keepdims),
               lambda x: torch.amin(x, dim=dim, keepdim=keepdims), x)
    engine.zero_grad()
    crosscheck(engine, lambda x: F.add(F.sum(x, axis=axis, keepdims=keepdims), F.mean(x, axis=axis, keepdims=keepdims)),
               lambda x: torch.sum(x, dim=dim, keepdim=keepdims) + torch.mean(x, dim=dim, keepdim=keepdims), x)


@pytest.mark.task5
def test_shapes_and_indexing(engine, arrays):
    x = arrays(2, 3, 4)
    index = np.array([2, 0, 2, 2])  # repeated indices accumulate in both
    crosscheck(engine,
               lambda x: F.reshape(F.getitem(F.transpose(x, (2, 0, 1)), index), (4, 6)),
               lambda x: x.permute(2, 0, 1)[torch.tensor(index)].reshape(4, 6), x)
    engine.zero_grad()
    # Negative steps: x[::-1, 1, 3:0:-2] picks rows 1, 0 and elements 3, 1 (PyTorch has no negative steps).
    crosscheck(engine, lambda x: F.getitem(x, (slice(None, None, -1), 1, slice(3, 0, -2))),
               lambda x: x.flip(0)[:, 1, torch.tensor([3, 1])], x)


@pytest.mark.task5
def test_concatenate_and_stack(engine, arrays):
    a, b, c = arrays(2, 1), arrays(2, 3), arrays(2, 2)
    crosscheck(engine, lambda a, b, c: F.concatenate([a, b, c], axis=-1), lambda a, b, c: torch.cat([a, b, c], -1), a, b, c)
    engine.zero_grad()
    p, q, r = arrays(3), arrays(3), arrays(3)
    crosscheck(engine, lambda p, q, r: F.stack([p, q, r], axis=1), lambda p, q, r: torch.stack([p, q, r], 1), p, q, r)


@pytest.mark.task7
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_and_log_softmax(engine, arrays, axis):
    x = arrays(3, 4, 2, low=-5, high=5)
    crosscheck(engine, lambda x: F.softmax(x, axis=axis), lambda x: torch.softmax(x, axis), x)
    engine.zero_grad()
    crosscheck(engine, lambda x: F.log_softmax(x, axis=axis), lambda x: torch.log_softmax(x, axis), x)


@pytest.mark.task7
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(engine, arrays, reduction):
    logits = arrays(4, 3, low=-3, high=3)
    labels = np.array([0, 2, 1, 2])
    crosscheck(engine, lambda z, t: F.softmax_cross_entropy(z, t, reduction=reduction),
               lambda z, t: TF.cross_entropy(z, t, reduction=reduction), logits, labels)
    engine.zero_grad()
    probabilities = np.random.default_rng(3).dirichlet(np.ones(3), size=4)  # the target is differentiated too
    crosscheck(engine, lambda z, t: F.softmax_cross_entropy(z, t, reduction=reduction),
               lambda z, t: TF.cross_entropy(z, t, reduction=reduction), logits, probabilities)


@pytest.mark.task7
def test_cross_entropy_at_extreme_logits(engine):
    logits = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]])
    crosscheck(engine, F.softmax_cross_entropy, TF.cross_entropy, logits, np.array([1, 2]))
