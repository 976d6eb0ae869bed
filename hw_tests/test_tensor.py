"""The Tensor front end: same tape, same gradients as the functional helpers, and true to the math.

Each operator is run twice on equal inputs: once through Tensor operators, once
written with the F helpers. The two must record the same operations and give
the same gradients, and both must match central differences.
"""

import gc

import numpy as np
import pytest

import mytorch
import mytorch.nn.functional as F
from mytorch import Autograd, no_grad
from mytorch.gradcheck import numerical_gradient
from mytorch.tensor import Tensor, concatenate, cross_entropy, get_engine, name_of, stack


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def normal(rng, shape):
    return rng.standard_normal(shape)


# name, Tensor version, F-helper version, input makers
CASES = [
    ("add broadcast", lambda a, b: a + b, F.add, [(normal, (2, 3)), (normal, (3,))]),
    ("sub", lambda a, b: a - b, F.sub, [(normal, (2, 3)), (normal, (2, 1))]),
    ("mul", lambda a, b: a * b, F.mul, [(normal, (2, 3)), (normal, (2, 3))]),
    ("div", lambda a, b: a / b, F.div, [(normal, (2, 3)), (positive, (3,))]),
    ("pow number", lambda a: a ** 3, lambda a: F.pow(a, 3), [(normal, (4,))]),
    ("pow tensor", lambda a, b: a ** b, F.pow, [(positive, (4,)), (normal, (4,))]),
    ("rsub rmul rdiv radd", lambda a: (2.0 - a) + 3.0 * a + 1.0 / a + (4.0 + a),
     lambda a: F.add(F.add(F.add(F.sub(2.0, a), F.mul(3.0, a)), F.div(1.0, a)), F.add(4.0, a)),
     [(positive, (3,))]),
    ("rpow", lambda a: 2.0 ** a, lambda a: F.pow(2.0, a), [(normal, (3,))]),
    ("neg", lambda a: -a, F.neg, [(normal, (3,))]),
    ("matmul 2-D", lambda a, b: a @ b, F.matmul, [(normal, (2, 3)), (normal, (3, 4))]),
    ("matmul batched", lambda a, b: a.matmul(b), F.matmul, [(normal, (5, 2, 3)), (normal, (3, 4))]),
    ("matmul vector", lambda a, b: a @ b, F.matmul, [(normal, (2, 3)), (normal, (3,))]),
    ("sum", lambda a: a.sum(), F.sum, [(normal, (2, 3))]),
    ("sum axis keepdims", lambda a: a.sum(axis=0, keepdims=True),
     lambda a: F.sum(a, axis=0, keepdims=True), [(normal, (2, 3))]),
    ("mean axis", lambda a: a.mean(axis=1), lambda a: F.mean(a, axis=1), [(normal, (2, 3))]),
    ("max axis", lambda a: a.max(axis=1), lambda a: F.max(a, axis=1), [(normal, (3, 4))]),
    ("min", lambda a: a.min(), F.min, [(normal, (3, 4))]),
    ("reshape", lambda a: a.reshape(3, 2) * 2.0, lambda a: F.mul(F.reshape(a, (3, 2)), 2.0), [(normal, (2, 3))]),
    ("reshape tuple", lambda a: a.reshape((-1,)), lambda a: F.reshape(a, (-1,)), [(normal, (2, 3))]),
    ("T", lambda a, b: a.T @ b, lambda a, b: F.matmul(F.transpose(a), b), [(normal, (3, 2)), (normal, (3, 4))]),
    ("transpose axes", lambda a: a.transpose(1, 0, 2), lambda a: F.transpose(a, (1, 0, 2)), [(normal, (2, 3, 4))]),
    ("getitem slice", lambda a: a[1:, ::2], lambda a: F.getitem(a, (slice(1, None), slice(None, None, 2))),
     [(normal, (3, 4))]),
    ("getitem repeated", lambda a: a[[0, 2, 0]], lambda a: F.getitem(a, [0, 2, 0]), [(normal, (3, 2))]),
    ("exp", lambda a: a.exp(), F.exp, [(normal, (3,))]),
    ("log", lambda a: a.log(), F.log, [(positive, (3,))]),
    ("sin cos", lambda a: a.sin() * a.cos(), lambda a: F.mul(F.sin(a), F.cos(a)), [(normal, (3,))]),
    ("tanh", lambda a: a.tanh(), F.tanh, [(normal, (3,))]),
    ("sigmoid", lambda a: a.sigmoid(), F.sigmoid, [(normal, (3,))]),
    ("relu", lambda a: a.relu(), F.relu, [(normal, (6,))]),
    ("sqrt", lambda a: a.sqrt(), F.sqrt, [(positive, (3,))]),
    ("abs", lambda a: a.abs(), F.abs, [(normal, (3,))]),
    ("softmax", lambda a: a.softmax(axis=0), lambda a: F.softmax(a, axis=0), [(normal, (3, 2))]),
    ("log_softmax", lambda a: a.log_softmax(), F.log_softmax, [(normal, (3, 2))]),
    ("maximum", lambda a, b: a.maximum(b), F.maximum, [(normal, (4,)), (normal, (4,))]),
    ("minimum", lambda a, b: a.minimum(b), F.minimum, [(normal, (4,)), (normal, (4,))]),
    ("expand_dims squeeze", lambda a: a.expand_dims(0).squeeze(0) * a,
     lambda a: F.mul(F.squeeze(F.expand_dims(a, 0), 0), a), [(normal, (3,))]),
    ("stack", lambda a, b: stack([a, b], axis=1), lambda a, b: F.stack([a, b], axis=1), [(normal, (3,)), (normal, (3,))]),
    ("concatenate", lambda a, b: concatenate([a, b]), lambda a, b: F.concatenate([a, b]),
     [(normal, (2, 3)), (normal, (1, 3))]),
    ("cross_entropy", lambda a: cross_entropy(a, np.array([0, 2, 1])),
     lambda a: F.softmax_cross_entropy(a, np.array([0, 2, 1])), [(normal, (3, 4))]),
    ("two-layer network", lambda x, W, b: ((x @ W.T + b).tanh() ** 2).mean(),
     lambda x, W, b: F.mean(F.pow(F.tanh(F.add(F.matmul(x, F.transpose(W)), b)), 2)),
     [(normal, (5, 3)), (normal, (4, 3)), (normal, (4,))]),
]


@pytest.mark.task7
@pytest.mark.parametrize("name, tensor_f, functional_f, makers", CASES, ids=[c[0] for c in CASES])
def test_tensor_ops_match_functional_helpers_and_central_differences(engine, rng, name, tensor_f,
                                                                      functional_f, makers):
    inputs = [make(rng, shape) for make, shape in makers]

    tensors = [Tensor(x.copy()) for x in inputs]
    out = tensor_f(*tensors)
    assert isinstance(out, Tensor)
    divergence = rng.standard_normal(out.shape)
    out.backward(divergence)
    tensor_ops = [op.name for op in engine.operation_list]
    tensor_grads = [np.array(t.grad) for t in tensors]
    engine.zero_grad()

    arrays = [x.copy() for x in inputs]
    expected = functional_f(*arrays)
    engine.backward(divergence, output=expected)
    assert [op.name for op in engine.operation_list] == tensor_ops  # the very same tape
    np.testing.assert_allclose(out.data, expected, rtol=1e-13)
    for t_grad, x in zip(tensor_grads, arrays):
        np.testing.assert_allclose(t_grad, engine.memory_buffer.get_param(x), rtol=1e-12, atol=1e-15)

    def evaluate(*xs):
        with no_grad():
            return tensor_f(*[Tensor(x) for x in xs]).data

    numeric = numerical_gradient(evaluate, inputs, divergence)
    for t_grad, n_grad in zip(tensor_grads, numeric):
        np.testing.assert_allclose(t_grad, n_grad, rtol=1e-5, atol=1e-7)


@pytest.mark.task5
def test_lecture_example_as_written(engine):
    """y = mean((x + 2)^2 + 3): dy/dx = 2(x + 2)/3 = [4/3, 2, 8/3] at x = [0, 1, 2]."""
    x = Tensor([0., 1., 2.])
    y = ((x + 2) ** 2 + 3).mean()
    y.backward()
    np.testing.assert_allclose(x.grad, [4 / 3, 2, 8 / 3], rtol=1e-15)
    assert y.item() == pytest.approx((4 + 9 + 16) / 3 + 3)


@pytest.mark.task4
def test_lecture_examples_with_operators(engine):
    """y = x1^3 + x2^2 + 4 x1 x2 + 5 at (3, 4): dy/dx1 = 3 x1^2 + 4 x2 = 43, dy/dx2 = 2 x2 + 4 x1 = 20.
    y = ln(x1) + x1 x2 - sin(x2) at (2, 5): dy/dx1 = 1/x1 + x2 = 5.5, dy/dx2 = x1 - cos x2."""
    x1, x2 = Tensor(3.0), Tensor(4.0)
    (x1 ** 3 + x2 ** 2 + 4 * x1 * x2 + 5).backward()
    assert x1.grad == pytest.approx(43.0) and x2.grad == pytest.approx(20.0)
    engine.zero_grad()
    x1, x2 = Tensor(2.0), Tensor(5.0)
    (x1.log() + x1 * x2 - x2.sin()).backward()
    assert x1.grad == pytest.approx(5.5) and x2.grad == pytest.approx(2.0 - np.cos(5.0))


@pytest.mark.task5
def test_a_tensor_used_twice_gets_both_paths(engine):
    """L = sum(x * x): dL/dx = 2x."""
    x = Tensor([1.0, -2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, -4.0, 6.0])


@pytest.mark.task5
def test_leaf_gradients_accumulate_across_backward_calls(engine):
    """Two backward passes of L = sum(3x) leave dL/dx = 3 + 3 = 6, as in the engine and PyTorch."""
    x = Tensor([1.0, 2.0])
    y = (3 * x).sum()
    y.backward()
    y.backward()
    np.testing.assert_allclose(x.grad, [6.0, 6.0])


@pytest.mark.task5
def test_constant_tensor_gets_no_gradient_and_is_recorded_as_a_constant(engine):
    """L = sum(x * c) with c constant: dL/dx = c; c.grad is None and the tape marks it constant."""
    x, c = Tensor([1.0, 2.0]), Tensor([3.0, -4.0], requires_grad=False)
    (x * c).sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, -4.0])
    assert c.grad is None
    assert not engine.memory_buffer.is_in_memory(c.data)
    assert engine.operation_list[0].constants == frozenset({1})


@pytest.mark.task0
def test_operations_on_constants_only_are_not_recorded(engine):
    c = Tensor([1.0, 2.0], requires_grad=False)
    y = (c * 2 + 1).exp()
    assert engine.operation_list == []
    assert not y.requires_grad
    np.testing.assert_allclose(y.data, np.exp([3.0, 5.0]))
    with pytest.raises(RuntimeError, match="does not require gradients"):
        y.sum().backward()


@pytest.mark.task0
def test_no_grad_records_nothing(engine):
    x = Tensor([0.0, 1.0, 2.0])
    with mytorch.tensor.no_grad():
        y = ((x + 2) ** 2 + 3).mean()
    assert engine.operation_list == []
    assert not y.requires_grad and x.grad is None
    assert y.item() == pytest.approx((4 + 9 + 16) / 3 + 3)
    with pytest.raises(RuntimeError, match="does not require gradients"):
        y.backward()


@pytest.mark.task5
def test_mixing_tensors_with_functional_arrays_keeps_gradients_flowing(engine):
    """L = sum(x * e^a), with e^a recorded by F.exp: dL/dx = e^a, dL/da = x e^a."""
    a, x = np.array([0.5, -1.0]), Tensor([2.0, 3.0])
    (x * F.exp(a)).sum().backward()
    np.testing.assert_allclose(x.grad, np.exp(a))
    np.testing.assert_allclose(engine.memory_buffer.get_param(a), x.data * np.exp(a))


@pytest.mark.task6
def test_numpy_operands_on_the_left_defer_to_tensor(engine):
    x = Tensor([1.0, 2.0, 3.0])
    for out in (np.float64(2.0) * x, np.ones(3) + x, np.eye(3) @ x, np.ones(3) - x, np.ones(3) / x):
        assert isinstance(out, Tensor)
    y = (np.array([1.0, 2.0, 3.0]) @ x)  # L = w . x: dL/dx = w
    y.backward()
    np.testing.assert_allclose(x.grad, [1.0, 2.0, 3.0])


@pytest.mark.task0
def test_tensor_shares_its_array_and_converts_lists():
    a = np.array([1.0, 2.0])
    assert Tensor(a).data is a
    t = Tensor([1, 2, 3])
    assert t.data.dtype == np.float64 and t.shape == (3,)
    assert Tensor(np.array([1, 2]), requires_grad=False).data.dtype.kind == "i"


@pytest.mark.task2
def test_bad_uses_are_clear_errors(engine):
    with pytest.raises(TypeError, match="dtype int64 cannot require gradients"):
        Tensor(np.array([1, 2]))
    x = Tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match="not the output of an operation"):
        x.backward()
    y = x * 2
    with pytest.raises(RuntimeError, match=r"only for a one-element Tensor.*shape \(2,\)"):
        y.backward()
    with pytest.raises(TypeError, match="item assignment"):
        y[0] = 1.0
    with pytest.raises(ValueError, match=r"matmul.*\(2,\), \(3,\)"):
        x @ Tensor([1.0, 2.0, 3.0])
    engine.zero_grad()
    with pytest.raises(RuntimeError, match="tape was cleared"):
        y.backward(np.ones(2))


@pytest.mark.task5
def test_grad_is_none_until_a_gradient_arrives(engine):
    x, unused = Tensor([1.0, 2.0]), Tensor([5.0])
    y = (x * 2).sum()
    assert x.grad is None
    y.backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0])
    assert unused.grad is None
    engine.zero_grad()
    assert x.grad is None


@pytest.mark.task0
def test_names_are_registered_for_pictures():
    x = Tensor([1.0], name="x")
    assert x.name == "x" and name_of(x.data) == "x"
    assert name_of(np.array([1.0])) is None


def _no_live_engine():
    return Autograd._live is None or Autograd._live() is None


@pytest.mark.task5
def test_default_engine_is_created_lazily_and_freed_with_its_tensors():
    """Without an engine, the first operation creates one; it lives while its Tensors do."""
    assert _no_live_engine(), "a previous test left an engine alive"
    x = Tensor([0., 1., 2.])
    assert x.engine is None and _no_live_engine()  # creating a leaf records nothing
    try:
        y = ((x + 2) ** 2 + 3).mean()
        engine = get_engine()
        assert y.engine is engine and x.engine is engine
        y.backward()
        np.testing.assert_allclose(x.grad, [4 / 3, 2, 8 / 3])
        del y, engine
        gc.collect()
        np.testing.assert_allclose(x.grad, [4 / 3, 2, 8 / 3])  # x keeps the engine alive
        del x
        gc.collect()
        assert _no_live_engine()
        with Autograd():  # the slot is free again
            pass
    finally:
        live = Autograd._live() if Autograd._live is not None else None
        if live is not None:
            live.close()


# ------------------------------------------------------------ layers accept Tensors

@pytest.mark.task9
def test_linear_layer_accepts_a_tensor_with_the_gradients_of_the_array_path(engine, rng):
    """z = x W^T + b, L = sum(z): dL/dx = 1 W (every row is the column sums of W),
    dL/dW = 1^T x (every row is the column sums of x), dL/db = batch size. The Tensor
    call must give these and exactly what the array call gives."""
    from mytorch.nn.linear import Linear

    layer = Linear(3, 2, engine, rng=0)
    x = rng.standard_normal((4, 3))

    xa = x.copy()
    z = layer(xa)
    assert isinstance(z, np.ndarray) and not isinstance(z, Tensor)  # arrays in, arrays out
    F.sum(z)
    engine.backward()
    array_dW, array_db = layer.dW.copy(), layer.db.copy()
    array_dx = np.array(engine.memory_buffer.get_param(xa))
    engine.zero_grad()
    layer.zero_grad()

    xt = Tensor(x.copy())
    zt = layer(xt)
    assert isinstance(zt, Tensor) and zt.shape == (4, 2) and zt.requires_grad
    np.testing.assert_allclose(zt.data, x @ layer.W.T + layer.b, rtol=1e-14)
    zt.sum().backward()
    np.testing.assert_allclose(xt.grad, array_dx, rtol=1e-14)
    np.testing.assert_allclose(xt.grad, np.tile(layer.W.sum(axis=0), (4, 1)), rtol=1e-12)
    np.testing.assert_allclose(layer.dW, array_dW, rtol=1e-14)
    np.testing.assert_allclose(layer.dW, np.tile(x.sum(axis=0), (2, 1)), rtol=1e-12)
    np.testing.assert_allclose(layer.db, [4.0, 4.0])
    np.testing.assert_allclose(array_db, [4.0, 4.0])


@pytest.mark.task9
def test_layers_chain_with_tensor_operators(engine, rng):
    """L = mean(tanh(Linear(x))^2), mixing layers and Tensor operators: x.grad against central differences."""
    from mytorch.nn.activation import Tanh
    from mytorch.nn.linear import Linear

    layer, act = Linear(3, 2, engine, rng=1), Tanh(engine)
    x0 = rng.standard_normal((5, 3))
    x = Tensor(x0.copy())
    (act(layer(x)) ** 2).mean().backward()

    def loss(x):
        with no_grad():
            return np.mean(np.tanh(x @ layer.W.T + layer.b) ** 2)

    np.testing.assert_allclose(x.grad, numerical_gradient(loss, [x0])[0], rtol=1e-6, atol=1e-9)


@pytest.mark.task9
def test_a_constant_tensor_input_still_trains_the_layer(engine, rng):
    """Data as Tensor(X, requires_grad=False): the output is differentiable through the
    layer's parameters (dL/db = batch size for L = sum(z)); the data gets no .grad."""
    from mytorch.nn.linear import Linear

    layer = Linear(3, 2, engine, rng=2)
    X = Tensor(rng.standard_normal((6, 3)), requires_grad=False)
    z = layer(X)
    assert z.requires_grad
    z.sum().backward()
    np.testing.assert_allclose(layer.db, [6.0, 6.0])
    assert X.grad is None


@pytest.mark.task5
def test_module_outputs_tuples_of_tensors_and_records_nothing_under_no_grad(engine):
    from mytorch.nn.module import Module

    class Split(Module):
        def forward(self, x, scale=1.0):
            return F.mul(x, scale), F.exp(x)

    x = Tensor([0.0, 1.0])
    a, e = Split()(x, scale=Tensor(3.0, requires_grad=False))
    assert isinstance(a, Tensor) and isinstance(e, Tensor)
    (a.sum() + e.sum()).backward()
    np.testing.assert_allclose(x.grad, 3.0 + np.exp([0.0, 1.0]))  # d/dx (3x + e^x)
    engine.zero_grad()
    with no_grad():
        a, e = Split()(x)
    assert engine.operation_list == [] and not a.requires_grad
