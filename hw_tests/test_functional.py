"""Every primitive in mytorch.nn.functional: forward against plain NumPy, backward against
central differences (through the engine) and called directly (shapes).

Binary elementwise ops and their broadcasting live in test_broadcasting.py.
Inputs are kept in each function's safe domain and away from kinks and ties;
the kinks and ties themselves have dedicated tests with hand-derived values.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mytorch.nn.functional as F
from conftest import (SWEEP, away_from_zero, check_grad, check_primitive, nonscalar_shapes, seeds, shapes,
                      uniform)


def grad(engine, x):
    return engine.memory_buffer.get_param(x)


# ---------------------------------------------------------------- one input, elementwise

UNARY = {
    # name: (helper, backward, NumPy reference, input sampler)
    "identity": (F.identity, F.identity_backward, lambda a: a, uniform),
    "neg": (F.neg, F.neg_backward, np.negative, uniform),
    "sqrt": (F.sqrt, F.sqrt_backward, np.sqrt, lambda rng, s: uniform(rng, s, 0.5, 2.0)),
    "log": (F.log, F.log_backward, np.log, lambda rng, s: uniform(rng, s, 0.5, 2.0)),
    "exp": (F.exp, F.exp_backward, np.exp, uniform),
    "sin": (F.sin, F.sin_backward, np.sin, lambda rng, s: uniform(rng, s, -3.0, 3.0)),
    "cos": (F.cos, F.cos_backward, np.cos, lambda rng, s: uniform(rng, s, -3.0, 3.0)),
    "tanh": (F.tanh, F.tanh_backward, np.tanh, lambda rng, s: uniform(rng, s, -2.0, 2.0)),
    "sigmoid": (F.sigmoid, F.sigmoid_backward, lambda a: 1.0 / (1.0 + np.exp(-a)),
                lambda rng, s: uniform(rng, s, -4.0, 4.0)),
    "relu": (F.relu, F.relu_backward, lambda a: np.where(a > 0, a, 0.0), away_from_zero),
    "abs": (F.abs, F.abs_backward, np.abs, away_from_zero),
}


@pytest.mark.task4
@pytest.mark.parametrize("name", sorted(UNARY))
@SWEEP
@given(shape=shapes, seed=seeds)
def test_unary(name, shape, seed):
    helper, backward, reference, sample = UNARY[name]
    x = sample(np.random.default_rng(seed), shape)
    check_primitive(helper, backward, x, reference=reference, seed=seed)


@pytest.mark.task4
def test_relu_and_abs_at_zero_have_zero_gradient(engine):
    """Convention at the kink: relu'(0) = 0 and |.|'(0) = sign(0) = 0 (as PyTorch)."""
    x = np.array([-1.0, 0.0, 2.0])
    F.add(F.relu(x), F.mul(10.0, F.abs(x)))
    engine.backward(np.ones(3))
    # relu' = [0, 0, 1], abs' = [-1, 0, 1], so d/dx = relu' + 10 abs' = [-10, 0, 11]
    np.testing.assert_array_equal(grad(engine, x), [-10.0, 0.0, 11.0])


@pytest.mark.task4
def test_identity_returns_a_copy(engine):
    x = np.ones(2)
    y = F.identity(x)
    assert y is not x and not np.shares_memory(x, y)


# ---------------------------------------------------------------- pow

@pytest.mark.task3
@pytest.mark.parametrize("exponent", [0, 1, 2, 3, -1, -2.5, 0.5, 1.5])
@SWEEP
@given(shape=shapes, seed=seeds)
def test_pow_array_to_a_constant(exponent, shape, seed):
    """y = a**p with p a Python number: p is a parameter, a the only input (a in [0.5, 2])."""
    a = uniform(np.random.default_rng(seed), shape, 0.5, 2.0)
    # The helper takes the exponent positionally; the backward receives it as the `exponent` param.
    check_primitive(lambda a, exponent: F.pow(a, exponent), F.pow_scalar_backward, a, exponent=exponent,
                    seed=seed, reference=lambda a: a**exponent)


@pytest.mark.task3
def test_pow_records_the_constant_exponent_as_a_param(engine):
    x = np.array([1.0, 2.0])
    F.pow(x, 3)
    (op,) = engine.operation_list
    assert op.name == "pow_scalar_backward" and op.params == {"exponent": 3} and len(op.inputs) == 1


@pytest.mark.task3
@SWEEP
@given(shape=shapes, seed=seeds)
def test_pow_constant_base_to_an_array(shape, seed):
    """y = 2**b: dy/db = 2**b ln 2; the base 2.0 is a constant input with no gradient."""
    b = uniform(np.random.default_rng(seed), shape, -2.0, 2.0)
    check_grad(lambda b: F.pow(2.0, b), b, seed=seed)
    g = F.pow_backward(np.ones(np.shape(b)), np.asarray(2.0), b)
    assert np.shape(g[0]) == () and np.shape(g[1]) == np.shape(b)
    np.testing.assert_allclose(g[1], 2.0**b * np.log(2.0))


@pytest.mark.task3
@SWEEP
@given(shape=shapes, seed=seeds)
def test_pow_array_to_an_array(shape, seed):
    rng = np.random.default_rng(seed)
    a, b = uniform(rng, shape, 0.5, 2.0), uniform(rng, shape, -2.0, 2.0)
    check_primitive(F.pow, F.pow_backward, a, b, reference=np.power, seed=seed)


@pytest.mark.task3
def test_pow_at_zero_base_follows_the_limits():
    """y = a**b at a = 0, for b = 2, 1, 0.5, 0 (upstream 1):

    dy/da = b a**(b-1): 0 for b = 2, 1 for b = 1, +inf for b = 0.5, and 0 for b = 0
    (a**0 = 1 does not depend on a; the convention of PyTorch).
    dy/db = a**b ln(a) -> 0 as a -> 0+ for b > 0; 0 also at b = 0 by the same convention.
    The constant-exponent rule agrees with the array-exponent one.
    """
    a = np.zeros(4)
    b = np.array([2.0, 1.0, 0.5, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grad_a, grad_b = F.pow_backward(np.ones(4), a, b)
    np.testing.assert_array_equal(grad_a, [0.0, 1.0, np.inf, 0.0])
    np.testing.assert_array_equal(grad_b, [0.0, 0.0, 0.0, 0.0])
    for p, expected in [(2, 0.0), (1, 1.0), (0, 0.0)]:
        assert F.pow_scalar_backward(np.ones(1), np.zeros(1), exponent=p)[0] == expected


# ---------------------------------------------------------------- maximum / minimum ties, max over an axis

@pytest.mark.task3
def test_maximum_and_minimum_split_a_tie_in_half(engine):
    """At a tie a == b the derivative is undefined; the convention (as PyTorch's
    maximum/minimum) sends half of the upstream gradient to each input.

    a = [1, 2, 3], b = [1, 0, 5]: max picks [tie, a, b], min picks [tie, b, a].
    """
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 5.0])
    ga, gb = F.maximum_backward(np.ones(3), a, b)
    np.testing.assert_array_equal(ga, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(gb, [0.5, 0.0, 1.0])
    ga, gb = F.minimum_backward(np.ones(3), a, b)
    np.testing.assert_array_equal(ga, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(gb, [0.5, 1.0, 0.0])


@pytest.mark.task5
def test_max_and_min_share_the_gradient_among_tied_extrema():
    """max over axis 1 of [[1, 3, 3], [2, 2, 2]]: k tied maxima get 1/k each, so
    [[0, 1/2, 1/2], [1/3, 1/3, 1/3]] times the row's upstream [2, 3]."""
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    np.testing.assert_allclose(F.max_backward(np.array([2.0, 3.0]), a, axis=1),
                               [[0.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    np.testing.assert_allclose(F.min_backward(np.array(6.0), np.array([4.0, 1.0, 1.0])), [0.0, 3.0, 3.0])


# ---------------------------------------------------------------- reductions

@st.composite
def reduction_cases(draw):
    """A shape, and an axis: None, an int (possibly negative), or a tuple of distinct axes."""
    shape = draw(nonscalar_shapes)
    ndim = len(shape)
    signed = st.integers(0, ndim - 1).flatmap(lambda ax: st.sampled_from([ax, ax - ndim]))
    axis = draw(st.one_of(st.none(), signed,
                          st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim)
                          .map(lambda axes: tuple(ax - ndim if ax % 2 else ax for ax in axes))))
    return shape, axis, draw(st.booleans())


REDUCTIONS = {
    "sum": (F.sum, F.sum_backward, np.sum),
    "mean": (F.mean, F.mean_backward, np.mean),
    "max": (F.max, F.max_backward, np.max),
    "min": (F.min, F.min_backward, np.min),
}


@pytest.mark.task5
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@SWEEP
@given(case=reduction_cases(), seed=seeds)
def test_reduction(name, case, seed):
    helper, backward, reference = REDUCTIONS[name]
    shape, axis, keepdims = case
    rng = np.random.default_rng(seed)
    # Distinct values 0.1 apart: no ties for max/min within a finite-difference step.
    x = rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 + rng.uniform(0, 0.01)
    check_primitive(helper, backward, x, seed=seed, axis=axis, keepdims=keepdims,
                    reference=lambda x: reference(x, axis=axis, keepdims=keepdims))


@pytest.mark.task5
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_of_a_0d_array(name):
    helper, backward, _ = REDUCTIONS[name]
    x = np.array(0.7)
    assert check_primitive(helper, backward, x).shape == ()


# ---------------------------------------------------------------- matmul and outer

@st.composite
def matmul_shapes(draw):
    """(a, b) shapes: 2-D, batched with broadcast batch axes, or with a 1-D operand."""
    n, k, m = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    batch_a = tuple(draw(st.lists(st.sampled_from([1, 2]), max_size=2)))
    batch_b = tuple(draw(st.lists(st.sampled_from([1, 2]), max_size=2)))
    a = draw(st.sampled_from([(k,), batch_a + (n, k)]))
    b = draw(st.sampled_from([(k,), batch_b + (k, m)]))
    return a, b


@pytest.mark.task6
@SWEEP
@given(case=matmul_shapes(), seed=seeds)
def test_matmul(case, seed):
    rng = np.random.default_rng(seed)
    a, b = uniform(rng, case[0]), uniform(rng, case[1])
    check_primitive(F.matmul, F.matmul_backward, a, b, reference=np.matmul, seed=seed)


@pytest.mark.task6
def test_matmul_2d_by_hand():
    """y = A @ B, L = sum(G * y): dL/dA = G B^T, dL/dB = A^T G."""
    A, B, G = np.array([[1.0, 2.0]]), np.array([[3.0], [4.0]]), np.array([[5.0]])
    ga, gb = F.matmul_backward(G, A, B)
    np.testing.assert_array_equal(ga, [[15.0, 20.0]])
    np.testing.assert_array_equal(gb, [[5.0], [10.0]])


@pytest.mark.task6
@pytest.mark.parametrize("shapes_ab", [((3,), (2,)), ((1,), (4,)), ((4,), (1,))])  # a (m,), b (n,)
def test_outer(shapes_ab, rng):
    a, b = uniform(rng, shapes_ab[0]), uniform(rng, shapes_ab[1])
    check_primitive(F.outer, F.outer_backward, a, b, reference=np.outer)


# ---------------------------------------------------------------- shapes

@st.composite
def permutations(draw):
    shape = draw(nonscalar_shapes)
    perm = draw(st.permutations(range(len(shape))))
    axes = draw(st.one_of(st.none(), st.just(tuple(ax - len(shape) if ax % 2 else ax for ax in perm))))
    return shape, axes


@pytest.mark.task5
@SWEEP
@given(case=permutations(), seed=seeds)
def test_transpose(case, seed):
    shape, axes = case
    x = uniform(np.random.default_rng(seed), shape)
    check_primitive(F.transpose, F.transpose_backward, x, axes=axes, seed=seed,
                    reference=lambda x: np.transpose(x, axes))


@pytest.mark.task5
@pytest.mark.parametrize("shape, axes", [
    ((2, 3, 4), (1, 2, 0)),       # 3-cycles: the permutation is not its own inverse
    ((2, 3, 4), (2, 0, 1)),
    ((2, 3, 4), (-1, 0, -2)),
    ((2, 3, 1, 2), (3, 0, 2, 1)),
])
def test_transpose_uses_the_inverse_permutation(shape, axes, rng):
    x = uniform(rng, shape)
    check_primitive(F.transpose, F.transpose_backward, x, axes=axes, reference=lambda x: np.transpose(x, axes))


@pytest.mark.task5
@SWEEP
@given(shape=shapes, seed=seeds, data=st.data())
def test_reshape(shape, seed, data):
    size = int(np.prod(shape))
    scalar = [()] if size == 1 else []  # a one-element array may also become 0-d
    target = data.draw(st.sampled_from([(-1,), (1, size), (size, 1, 1), tuple(reversed(shape))] + scalar))
    x = uniform(np.random.default_rng(seed), shape)
    check_primitive(F.reshape, F.reshape_backward, x, shape=target, seed=seed,
                    reference=lambda x: np.reshape(x, target))


@pytest.mark.task5
@SWEEP
@given(shape=shapes, seed=seeds, data=st.data())
def test_expand_dims_and_squeeze(shape, seed, data):
    x = uniform(np.random.default_rng(seed), shape)
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    expanded = check_primitive(F.expand_dims, F.expand_dims_backward, x, axis=axis, seed=seed,
                               reference=lambda x: np.expand_dims(x, axis))
    check_primitive(F.squeeze, F.squeeze_backward, expanded, axis=axis, seed=seed,
                    reference=lambda x: np.squeeze(x, axis))
    check_primitive(F.squeeze, F.squeeze_backward, expanded, seed=seed, reference=np.squeeze)  # all size-1 axes


# ---------------------------------------------------------------- indexing

@st.composite
def basic_indices(draw):
    """A shape and a tuple of per-axis slices (any sign of step) or ints."""
    shape = draw(nonscalar_shapes)
    parts = []
    for n in shape:
        if draw(st.booleans()):
            parts.append(draw(st.integers(-n, n - 1)))
        else:
            bound = st.one_of(st.none(), st.integers(-n - 1, n + 1))
            parts.append(slice(draw(bound), draw(bound), draw(st.sampled_from([None, 1, 2, -1, -2]))))
    return shape, tuple(parts)


@pytest.mark.task5
@SWEEP
@given(case=basic_indices(), seed=seeds)
def test_getitem_basic(case, seed):
    shape, index = case
    x = uniform(np.random.default_rng(seed), shape)
    check_primitive(F.getitem, F.getitem_backward, x, index=index, seed=seed, reference=lambda x: x[index])


@pytest.mark.task5
@SWEEP
@given(shape=nonscalar_shapes, seed=seeds, data=st.data())
def test_getitem_integer_arrays_with_repeats(shape, seed, data):
    n = shape[0]
    picks = data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=5))
    index = np.array(picks)
    x = uniform(np.random.default_rng(seed), shape)
    check_primitive(F.getitem, F.getitem_backward, x, index=index, seed=seed, reference=lambda x: x[index])


@pytest.mark.task5
def test_repeated_indices_accumulate(engine):
    """y = x[[0, 0, 1]] with upstream [g0, g1, g2]: dx[0] = g0 + g1, dx[1] = g2, dx[2] = 0."""
    x = np.array([10.0, 20.0, 30.0])
    y = F.getitem(x, [0, 0, 1])
    np.testing.assert_array_equal(y, [10.0, 10.0, 20.0])
    engine.backward(np.array([1.0, 2.0, 4.0]))
    np.testing.assert_array_equal(grad(engine, x), [3.0, 4.0, 0.0])


@pytest.mark.task5
@pytest.mark.parametrize("index", [
    (slice(None), np.array([2, 0, 2])),         # a slice mixed with an integer array
    (np.array([1, 1]), np.array([0, 0])),        # the same element twice via two index arrays
    np.array([[0, 1], [1, 1]]),                  # a 2-D index array
    np.array([True, False]),                     # a boolean mask
    (Ellipsis, None, 1),                         # ellipsis, new axis and an int
])
def test_getitem_mixed_indices(index, rng):
    x = uniform(rng, (2, 3))
    check_primitive(F.getitem, F.getitem_backward, x, index=index, reference=lambda x: x[index])


# ---------------------------------------------------------------- concatenate and stack

@pytest.mark.task5
@SWEEP
@given(shape=nonscalar_shapes, seed=seeds, data=st.data())
def test_concatenate(shape, seed, data):
    rng = np.random.default_rng(seed)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    count = data.draw(st.integers(1, 4))
    parts = []
    for _ in range(count):
        own = list(shape)
        own[axis] = data.draw(st.integers(1, 3))
        parts.append(uniform(rng, tuple(own)))
    check_primitive(lambda *xs, axis: F.concatenate(list(xs), axis=axis), F.concatenate_backward,
                    *parts, axis=axis, seed=seed, reference=lambda *xs: np.concatenate(xs, axis=axis))


@pytest.mark.task5
@SWEEP
@given(shape=shapes, seed=seeds, data=st.data())
def test_stack(shape, seed, data):
    rng = np.random.default_rng(seed)
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    parts = [uniform(rng, shape) for _ in range(data.draw(st.integers(1, 4)))]
    check_primitive(lambda *xs, axis: F.stack(list(xs), axis=axis), F.stack_backward,
                    *parts, axis=axis, seed=seed, reference=lambda *xs: np.stack(xs, axis=axis))


# ---------------------------------------------------------------- softmax and cross-entropy

@pytest.mark.task7
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@SWEEP
@given(shape=nonscalar_shapes, seed=seeds, data=st.data())
def test_softmax_on_any_axis(name, shape, seed, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = uniform(np.random.default_rng(seed), shape, -3.0, 3.0)
    e = np.exp(x)
    probabilities = e / e.sum(axis=axis, keepdims=True)
    reference = probabilities if name == "softmax" else np.log(probabilities)
    check_primitive(getattr(F, name), getattr(F, f"{name}_backward"), x, axis=axis, seed=seed,
                    reference=lambda x: reference)


def _cross_entropy_reference(logits, probabilities, reduction):
    """-sum_c t_c log(e^z_c / sum_k e^z_k), computed the naive way (fine for small logits)."""
    log_p = np.log(np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True))
    rows = -(probabilities * log_p).sum(axis=-1)
    return {"mean": rows.mean(), "sum": rows.sum(), "none": rows}[reduction]


@pytest.mark.task7
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("target_kind", ["labels", "one-hot", "probabilities"])
@SWEEP
@given(batch=st.lists(st.integers(1, 3), max_size=2).map(tuple), classes=st.integers(1, 4), seed=seeds)
def test_softmax_cross_entropy(reduction, target_kind, batch, classes, seed):
    """Logits (batch..., C) with batch of rank 0, 1 or 2; gradcheck also covers the
    gradient of a probability target (labels get none)."""
    rng = np.random.default_rng(seed)
    logits = uniform(rng, batch + (classes,), -3.0, 3.0)
    labels = rng.integers(0, classes, size=batch)
    one_hot = np.eye(classes)[labels]
    if target_kind == "labels":
        target = labels
    elif target_kind == "one-hot":
        target = one_hot
    else:
        target = rng.dirichlet(np.ones(classes), size=batch) if batch else rng.dirichlet(np.ones(classes))
    probabilities = one_hot if target_kind != "probabilities" else target
    check_primitive(F.softmax_cross_entropy, F.SoftmaxCrossEntropy_backward, logits, target,
                    reduction=reduction, seed=seed,
                    reference=lambda z, t: _cross_entropy_reference(z, probabilities, reduction))


@pytest.mark.task7
def test_cross_entropy_labels_get_no_gradient(engine):
    """L = mean over 2 rows of -log softmax(z)[label]: dL/dz = (softmax(z) - onehot) / 2.

    With zero logits over 2 classes softmax = [1/2, 1/2], so dL/dz = [[-1/4, 1/4], [1/4, -1/4]].
    """
    logits, labels = np.zeros((2, 2)), np.array([0, 1])
    loss = F.softmax_cross_entropy(logits, labels)
    assert float(loss) == pytest.approx(np.log(2.0))
    engine.backward()
    np.testing.assert_allclose(grad(engine, logits), [[-0.25, 0.25], [0.25, -0.25]])
    assert not engine.memory_buffer.is_in_memory(labels)


# ---------------------------------------------------------------- numerical stability

@pytest.mark.task7
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "sigmoid", "tanh", "softmax_cross_entropy"])
def test_extreme_inputs_give_finite_values_and_gradients(engine, name):
    """Inputs at +-1000, where a naive e**x overflows: values and gradients must be finite,
    with no floating-point warning.

    Hand values: softmax([1000, -1000, 0]) = [1, 0, 0] (e**-1000 underflows to 0),
    log_softmax = [0, -2000, -1000], sigmoid = [1, 0, 1/2], tanh = [1, -1, 0],
    cross-entropy with label 1 = -log_softmax[1] = 2000.
    """
    x = np.array([[1000.0, -1000.0, 0.0]])
    expected = {
        "softmax": [[1.0, 0.0, 0.0]],
        "log_softmax": [[0.0, -2000.0, -1000.0]],
        "sigmoid": [[1.0, 0.0, 0.5]],
        "tanh": [[1.0, -1.0, 0.0]],
        "softmax_cross_entropy": 2000.0,
    }[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow / invalid RuntimeWarning fails the test
        if name == "softmax_cross_entropy":
            y = F.softmax_cross_entropy(x, np.array([1]))
        else:
            y = getattr(F, name)(x)
        engine.backward(np.ones(np.shape(y)))
        g = grad(engine, x)
    np.testing.assert_allclose(y, expected, atol=1e-12)
    assert np.all(np.isfinite(g))
    if name == "softmax_cross_entropy":  # softmax - onehot = [1, 0, 0] - [0, 1, 0]
        np.testing.assert_allclose(g, [[1.0, -1.0, 0.0]], atol=1e-12)


# ---------------------------------------------------------------- conventions shared by every helper

def _helper_cases():
    """(name, call, inputs): one representative call of every recording helper, as
    ``call(gradients_to_update, *inputs)``."""
    a, b = np.array([[0.3, -0.7, 1.1], [0.9, 0.2, -0.4]]), np.array([0.5, 1.5, 2.5])
    unary = [(name, (lambda fn: lambda t, x: fn(x, gradients_to_update=t))(getattr(F, name)), [b])
             for name in ("identity", "neg", "sqrt", "log", "exp", "sin", "cos", "tanh", "sigmoid", "relu", "abs")]
    binary = [(name, (lambda fn: lambda t, x, y: fn(x, y, gradients_to_update=t))(getattr(F, name)), [a, b])
              for name in ("add", "sub", "mul", "div", "maximum", "minimum", "matmul")]
    along_axis = [(name, (lambda fn: lambda t, x: fn(x, axis=1, gradients_to_update=t))(getattr(F, name)), [a])
                  for name in ("sum", "mean", "max", "min", "softmax", "log_softmax")]
    return unary + binary + along_axis + [
        ("pow", lambda t, x, y: F.pow(x, y, gradients_to_update=t), [b, a]),
        ("pow_scalar", lambda t, x: F.pow(x, 3, gradients_to_update=t), [a]),
        ("outer", lambda t, x, y: F.outer(x, y, gradients_to_update=t), [b, b[:2]]),
        ("transpose", lambda t, x: F.transpose(x, (1, 0), gradients_to_update=t), [a]),
        ("reshape", lambda t, x: F.reshape(x, (3, 2), gradients_to_update=t), [a]),
        ("expand_dims", lambda t, x: F.expand_dims(x, 1, gradients_to_update=t), [a]),
        ("squeeze", lambda t, x: F.squeeze(x, gradients_to_update=t), [a[:1]]),
        ("getitem", lambda t, x: F.getitem(x, (slice(None), [2, 2]), gradients_to_update=t), [a]),
        ("concatenate", lambda t, x, y: F.concatenate([x, y], axis=0, gradients_to_update=t), [a, a[:1]]),
        ("stack", lambda t, x, y: F.stack([x, y], axis=0, gradients_to_update=t), [b, b[::-1]]),
        ("softmax_cross_entropy", lambda t, x, p: F.softmax_cross_entropy(x, p, gradients_to_update=t),
         [a, np.full((2, 3), 1 / 3)]),
    ]


@pytest.mark.task7
@pytest.mark.parametrize("case", _helper_cases(), ids=lambda case: case[0])
def test_every_helper_sends_gradients_to_update_in_place(engine, case):
    """The same call twice: once with the gradients in the buffer, once with a
    gradients_to_update array per input (starting at 1). Each array must end up
    holding 1 + the buffer's gradient, and the buffer must hold none for the inputs."""
    _, call, inputs = case
    inputs = [np.array(x) for x in inputs]  # private copies: each is its own key
    output = call(None, *inputs)
    upstream = np.random.default_rng(0).standard_normal(np.shape(output))
    engine.backward(upstream)
    expected = [np.array(grad(engine, x)) for x in inputs]
    engine.zero_grad()

    targets = [np.ones(x.shape) for x in inputs]
    call(targets, *inputs)
    engine.backward(upstream)
    for x, target, g in zip(inputs, targets, expected):
        np.testing.assert_allclose(target, 1.0 + g)
        assert not engine.memory_buffer.is_in_memory(x)


@pytest.mark.task5
@pytest.mark.parametrize("call, name, params", [
    (lambda x: F.sum(x, axis=1, keepdims=True), "sum_backward", {"axis": 1, "keepdims": True}),
    (lambda x: F.max(x, axis=(0, 1)), "max_backward", {"axis": (0, 1), "keepdims": False}),
    (lambda x: F.transpose(x, (1, 0)), "transpose_backward", {"axes": (1, 0)}),
    (lambda x: F.reshape(x, (6,)), "reshape_backward", {"shape": (6,)}),
    (lambda x: F.expand_dims(x, 0), "expand_dims_backward", {"axis": 0}),
    (lambda x: F.pow(x, 2.5), "pow_scalar_backward", {"exponent": 2.5}),
    (lambda x: F.softmax(x, axis=0), "softmax_backward", {"axis": 0}),
    (lambda x: F.softmax_cross_entropy(x, np.array([0, 2]), reduction="sum"),
     "SoftmaxCrossEntropy_backward", {"reduction": "sum"}),
])
def test_non_differentiable_arguments_are_keyword_params(engine, call, name, params):
    """Axis, shape, exponent, reduction: recorded as the operation's params (never as
    inputs) and handed back to the backward function as the same keywords."""
    x = np.arange(6.0).reshape(2, 3)
    call(x)
    (op,) = engine.operation_list
    saved = {"SoftmaxCrossEntropy_backward": {"log_probs"}}.get(name, set())  # forward results kept for backward
    assert op.name == name and set(op.params) == set(params) | saved
    assert all(op.params[key] == value for key, value in params.items())
    assert op.inputs[0] is x


@pytest.mark.task7
def test_cross_entropy_saves_its_log_probabilities_for_backward(engine):
    """Rows (0, 1, 2): log softmax = row - log(1 + e + e^2). The backward uses the saved
    array, and without it (log_probs=None) recomputes the same gradient."""
    x, labels = np.tile(np.arange(3.0), (2, 1)), np.array([0, 2])
    F.softmax_cross_entropy(x, labels, reduction="sum")
    (op,) = engine.operation_list
    np.testing.assert_allclose(op.params["log_probs"], x - np.log(1 + np.e + np.e ** 2), rtol=1e-14)
    saved = F.SoftmaxCrossEntropy_backward(np.array(1.0), x, labels, **op.params)
    fresh = F.SoftmaxCrossEntropy_backward(np.array(1.0), x, labels, reduction="sum")
    np.testing.assert_allclose(saved[0], fresh[0], rtol=1e-14)
    probs = np.exp(x - np.log(1 + np.e + np.e ** 2))
    np.testing.assert_allclose(fresh[0], probs - np.eye(3)[labels], rtol=1e-12)  # softmax - onehot


@pytest.mark.task5
def test_getitem_records_its_index_as_a_param(engine):
    x = np.arange(4.0)
    F.getitem(x, [3, 1])
    (op,) = engine.operation_list
    assert list(op.params) == ["index"]
    np.testing.assert_array_equal(op.params["index"], [3, 1])


HANDOUT_NAMES = ["add_backward", "sub_backward", "mul_backward", "div_backward", "matmul_backward",
                 "outer_backward", "log_backward", "exp_backward", "max_backward", "sum_backward",
                 "tanh_backward", "transpose_backward", "SoftmaxCrossEntropy_backward", "identity_backward"]


@pytest.mark.task3
def test_the_handouts_backward_names_exist():
    missing = [name for name in HANDOUT_NAMES if not callable(getattr(F, name, None))]
    assert missing == []


@pytest.mark.task3
def test_every_backward_documents_its_derivative():
    """Each *_backward states its formula (a dL/d... expression) in its docstring."""
    undocumented = [name for name in dir(F) if name.endswith("_backward")
                    and "dL/d" not in (getattr(F, name).__doc__ or "")]
    assert undocumented == []
