"""Jacobians three ways: reverse mode (tape), forward mode (duals), central differences.

The test functions are written once against the operators and methods that
Tensor and Dual share, so the same math runs in every mode: reverse mode gets
``g(Tensor(x))``, forward mode ``g(dual)``, the numerical mode ``g(Tensor(x))``
with recording off. The logistic network is also written a second time with
the F helpers, as an independent reverse-mode implementation.
"""

import numpy as np
import pytest

import mytorch.nn.functional as F
from mytorch import Autograd, no_grad
from mytorch.forward_mode import Dual
from mytorch.jacobian import jacobian, jacobian_forward, jacobian_numerical, jacobian_reverse
from mytorch.tensor import Tensor


def all_modes(g):
    """f for each mode from one generic g (written with Tensor/Dual operators and methods)."""
    return {
        "reverse": lambda x: g(Tensor(x)),
        "forward": g,
        "numerical": lambda x: g(Tensor(x)),
    }


def check_agree(g, x, expected=None):
    fs = all_modes(g)
    J = {mode: jacobian(fs[mode], x, mode=mode) for mode in fs}
    np.testing.assert_allclose(J["reverse"], J["forward"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(J["numerical"], J["reverse"], rtol=1e-6, atol=1e-8)
    if expected is not None:
        np.testing.assert_allclose(J["reverse"], expected, rtol=1e-12, atol=1e-14)
    return J["reverse"]


@pytest.mark.task6
def test_linear_map(engine, rng):
    """y = A x: J = A exactly."""
    A, x = rng.standard_normal((4, 3)), rng.standard_normal(3)
    check_agree(lambda x: A @ x, x, expected=A)
    np.testing.assert_allclose(jacobian(lambda x: F.matmul(A, x), x), A, rtol=1e-14)


@pytest.mark.task3
def test_elementwise_square(engine, rng):
    """y = x**2 elementwise: J = diag(2x)."""
    x = rng.standard_normal(5)
    check_agree(lambda x: x ** 2, x, expected=np.diag(2 * x))
    np.testing.assert_allclose(jacobian(lambda x: F.pow(x, 2), x), np.diag(2 * x), rtol=1e-14)


@pytest.mark.task5
def test_matrix_input_and_output_are_flattened_in_c_order(engine, rng):
    """y_i = sum_j X_ij^2 for X (2, 3): J has shape (2, 6), J[i, 3i + j] = 2 X_ij, zeros elsewhere."""
    X = rng.standard_normal((2, 3))
    expected = np.zeros((2, 6))
    expected[0, :3], expected[1, 3:] = 2 * X[0], 2 * X[1]
    check_agree(lambda X: (X * X).sum(axis=1), X, expected=expected)


@pytest.mark.task5
def test_matrix_output(engine, rng):
    """Y = (X^T)**2 for X (2, 3): Y (3, 2) with Y[j, i] = X[i, j]^2, so row 2j + i of J has
    2 X[i, j] in column 3i + j (both flattened in C order)."""
    X = rng.standard_normal((2, 3))
    expected = np.zeros((6, 6))
    for i in range(2):
        for j in range(3):
            expected[2 * j + i, 3 * i + j] = 2 * X[i, j]
    check_agree(lambda X: X.T ** 2, X, expected=expected)


# ------------------------------------------------------------ the logistic NLL of a small network

N, HIDDEN = 6, 3
SIZES = {"W1": (HIDDEN, 2), "b1": (HIDDEN,), "w2": (HIDDEN,), "b2": ()}


def unpack(w):
    """Slice the parameter vector w (13,) into W1 (3, 2), b1 (3,), w2 (3,), b2 ()."""
    out, start = {}, 0
    for key, shape in SIZES.items():
        size = int(np.prod(shape))
        out[key] = w[start:start + size].reshape(shape) if shape else w[start]
        start += size
    return out


def per_example_nll(X, t):
    """l_n(w) = -(t_n ln p_n + (1 - t_n) ln(1 - p_n)), p = sigmoid(tanh(X W1^T + b1) w2 + b2).
    Written with operators and methods only, so w may be a Tensor or a Dual."""
    def nll(w):
        p = unpack(w)
        h = (X @ p["W1"].T + p["b1"]).tanh()
        prob = (h @ p["w2"] + p["b2"]).sigmoid()
        return -(t * prob.log() + (1 - t) * (1 - prob).log())
    return nll


def per_example_nll_functional(X, t):
    """The same network written with the F helpers on arrays (reverse mode only)."""
    def nll(w):
        W1 = F.reshape(F.getitem(w, slice(0, 6)), (HIDDEN, 2))
        b1, w2, b2 = F.getitem(w, slice(6, 9)), F.getitem(w, slice(9, 12)), F.getitem(w, 12)
        h = F.tanh(F.add(F.matmul(X, F.transpose(W1)), b1))
        prob = F.sigmoid(F.add(F.matmul(h, w2), b2))
        return F.neg(F.add(F.mul(t, F.log(prob)), F.mul(F.sub(1.0, t), F.log(F.sub(1.0, prob)))))
    return nll


@pytest.fixture
def network_data(rng):
    X = rng.standard_normal((N, 2))
    t = (rng.uniform(size=N) < 0.5).astype(np.float64)
    w = rng.standard_normal(13) * 0.8
    return X, t, w


@pytest.mark.task6
def test_logistic_network_nll_three_ways(engine, network_data):
    """The (N, 13) Jacobian of the per-example losses agrees across modes and implementations."""
    X, t, w = network_data
    J = check_agree(per_example_nll(X, t), w)
    assert J.shape == (N, 13)
    np.testing.assert_allclose(jacobian(per_example_nll_functional(X, t), w), J, rtol=1e-12, atol=1e-14)


@pytest.mark.task6
def test_logistic_network_mean_loss_jacobian_is_the_gradient(engine, network_data):
    """For the scalar mean loss, J is one row: the gradient, equal to the mean of the rows above."""
    X, t, w = network_data
    nll = per_example_nll(X, t)
    J_mean = check_agree(lambda w: nll(w).mean(), w)
    assert J_mean.shape == (1, 13)
    np.testing.assert_allclose(J_mean[0], jacobian(lambda w: nll(Tensor(w)), w).mean(axis=0), rtol=1e-12)


@pytest.mark.task6
def test_logistic_network_against_pytorch(network_data):
    torch = pytest.importorskip("torch")
    X, t, w = network_data

    def torch_nll(w):
        W1, b1, w2, b2 = w[:6].reshape(HIDDEN, 2), w[6:9], w[9:12], w[12]
        prob = torch.sigmoid(torch.tanh(torch.as_tensor(X) @ W1.T + b1) @ w2 + b2)
        tt = torch.as_tensor(t)
        return -(tt * torch.log(prob) + (1 - tt) * torch.log(1 - prob))

    expected = torch.autograd.functional.jacobian(torch_nll, torch.as_tensor(w)).numpy()
    nll = per_example_nll(X, t)
    np.testing.assert_allclose(jacobian_reverse(lambda w: nll(Tensor(w)), w), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(jacobian_forward(nll, w), expected, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------ the costs: count the passes

class Counter:
    """Wraps a callable and counts its calls."""

    def __init__(self, f):
        self.f, self.calls = f, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.f(*args, **kwargs)


@pytest.mark.task6
@pytest.mark.parametrize("n, m", [(10, 1), (2, 7)])
def test_pass_counts(engine, rng, n, m):
    """Reverse: 1 forward pass + m backward passes. Forward: n passes. Numerical: 2n evaluations."""
    A, x = rng.standard_normal((m, n)), rng.standard_normal(n)
    g = lambda x: (A @ x).tanh()  # noqa: E731

    f_reverse = Counter(lambda x: g(Tensor(x)))
    engine.backward = backward = Counter(engine.backward)  # count backward passes on this engine only
    jacobian_reverse(f_reverse, x)
    assert (f_reverse.calls, backward.calls) == (1, m)

    f_forward = Counter(g)
    jacobian_forward(f_forward, x)
    assert f_forward.calls == n

    f_numerical = Counter(lambda x: g(Tensor(x)))
    jacobian_numerical(f_numerical, x)
    assert f_numerical.calls == 2 * n


# ------------------------------------------------------------ housekeeping and errors

@pytest.mark.task4
def test_reverse_mode_leaves_the_tape_empty(engine, rng):
    x = rng.standard_normal(3)
    jacobian(lambda x: F.exp(x), x)
    assert engine.operation_list == [] and len(engine.memory_buffer) == 0


@pytest.mark.task4
def test_reverse_mode_without_an_engine_uses_a_temporary_one(rng):
    assert Autograd._live is None or Autograd._live() is None
    x = rng.standard_normal(3)
    np.testing.assert_allclose(jacobian(lambda x: F.sin(x), x), np.diag(np.cos(x)), rtol=1e-14)
    assert Autograd._live is None or Autograd._live() is None


@pytest.mark.task4
def test_identity_and_outputs_that_ignore_x(engine):
    """f(x) = x has J = I. An output computed without x has zero rows, even when x is used
    elsewhere on the tape (its gradient never reaches x)."""
    x, c = np.array([1.0, 2.0]), np.array([0.5, 1.5, 2.5])
    np.testing.assert_array_equal(jacobian(lambda x: x, x), np.eye(2))
    np.testing.assert_array_equal(jacobian(lambda x: (F.sum(x), F.exp(c))[1], x), np.zeros((3, 2)))


@pytest.mark.task2
def test_errors_are_clear(engine):
    x = np.array([1.0, 2.0])
    with pytest.raises(ValueError, match="mode must be one of"):
        jacobian(lambda x: x, x, mode="symbolic")
    with pytest.raises(ValueError, match="was not recorded on the tape"):
        jacobian(lambda x: np.sin(x), x)  # plain NumPy: a silent zero Jacobian otherwise
    with pytest.raises(ValueError, match="no recorded operation used x"):
        jacobian(lambda x: F.sin(x.reshape(2, 1)), x)  # a view is another array
    with pytest.raises(ValueError, match="no recorded operation used x"):
        jacobian(lambda x: (Tensor(x, requires_grad=False) * Tensor([1.0, 1.0])).data, x)
    with pytest.raises(RuntimeError, match="inside no_grad"):
        with no_grad():
            jacobian(lambda x: F.sin(x), x)
    with pytest.raises(TypeError, match="mode='forward'"):
        jacobian(lambda x: Dual(x), x)
    with pytest.raises(TypeError, match="forward mode needs f written with Dual"):
        jacobian(lambda x: Tensor(x.value).sin(), x, mode="forward")
