"""Linear: forward against x W^T + b, gradients against central differences and the closed forms."""

import numpy as np
import pytest

from layer_checks import check_module
from mytorch import no_grad
from mytorch.nn.linear import Linear

pytestmark = pytest.mark.task9

# (batch, in_features, out_features), batch size 1 and size-1 features included.
SHAPES = [(1, 1, 1), (1, 3, 2), (4, 3, 5), (7, 1, 4), (3, 6, 1)]


@pytest.mark.parametrize("batch, n_in, n_out", SHAPES)
def test_forward_is_x_WT_plus_b(engine, rng, batch, n_in, n_out):
    layer = Linear(n_in, n_out, engine, rng=0)
    x = rng.standard_normal((batch, n_in))
    z = layer(x)
    expected = np.array([[sum(x[i, k] * layer.W[j, k] for k in range(n_in)) + layer.b[j]
                          for j in range(n_out)] for i in range(batch)])
    assert z.shape == (batch, n_out)
    np.testing.assert_allclose(z, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("batch, n_in, n_out", SHAPES)
def test_gradients_match_central_differences(engine, rng, batch, n_in, n_out):
    layer = Linear(n_in, n_out, engine, rng=1)
    grads = check_module(layer, rng.standard_normal((batch, n_in)))
    assert set(grads) == {"input 0", "W", "b"}


def test_gradients_match_closed_forms(engine, rng):
    """With G = dL/dz: dL/dx = G W, dL/dW = G^T x, dL/db = column sums of G."""
    layer = Linear(3, 2, engine, rng=2)
    x, G = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    z = layer(x)
    engine.backward(G, output=z)
    np.testing.assert_allclose(engine.memory_buffer.get_param(x), G @ layer.W, rtol=1e-12)
    np.testing.assert_allclose(layer.dW, G.T @ x, rtol=1e-12)
    np.testing.assert_allclose(layer.db, G.sum(axis=0), rtol=1e-12)


def test_leading_axes_act_as_batch(engine, rng):
    layer = Linear(3, 2, engine, rng=3)
    x = rng.standard_normal((2, 4, 3))
    np.testing.assert_allclose(layer(x), x @ layer.W.T + layer.b, rtol=1e-12)
    check_module(layer, x)


def test_gradients_fill_dW_db_in_place_and_accumulate(engine, rng):
    layer = Linear(3, 2, engine, rng=4)
    dW, db = layer.dW, layer.db
    x = rng.standard_normal((5, 3))
    engine.backward(1.0, output=layer(x))
    first = dW.copy()
    assert layer.dW is dW and layer.db is db
    np.testing.assert_allclose(first, np.ones((5, 2)).T @ x)  # G = ones
    np.testing.assert_allclose(db, [5.0, 5.0])
    engine.zero_grad()
    engine.backward(1.0, output=layer(x))
    np.testing.assert_allclose(dW, 2 * first)  # accumulates, like PyTorch's .grad
    layer.zero_grad()
    assert not dW.any() and not db.any()


def test_initialisation_is_uniform_with_bound_one_over_sqrt_fan_in(engine):
    """U(-a, a), a = 1/sqrt(in): |w| <= a, mean 0, variance a^2 / 3 (sampling error ~1% here)."""
    n_in, n_out = 100, 400
    layer = Linear(n_in, n_out, engine, rng=5)
    bound = 1 / np.sqrt(n_in)
    assert np.abs(layer.W).max() <= bound and np.abs(layer.b).max() <= bound
    assert np.abs(layer.W).max() > 0.99 * bound
    assert abs(layer.W.mean()) < 0.02 * bound
    assert layer.W.var() == pytest.approx(bound ** 2 / 3, rel=0.03)


def test_seed_makes_initialisation_reproducible(engine):
    a, b, c = Linear(4, 3, engine, rng=7), Linear(4, 3, engine, rng=7), Linear(4, 3, engine, rng=8)
    np.testing.assert_array_equal(a.W, b.W)
    assert not np.array_equal(a.W, c.W)
    generator = np.random.default_rng(0)
    d, e = Linear(4, 3, engine, rng=generator), Linear(4, 3, engine, rng=generator)
    assert not np.array_equal(d.W, e.W)  # one generator, successive draws


def test_parameters_lists_pairs_and_bias_false_has_no_bias(engine, rng):
    layer = Linear(3, 2, engine)
    pairs = layer.parameters()
    assert len(pairs) == 2
    assert pairs[0][0] is layer.W and pairs[0][1] is layer.dW
    assert pairs[1][0] is layer.b and pairs[1][1] is layer.db
    plain = Linear(3, 2, engine, bias=False)
    assert [name for name, _, _ in plain.named_parameters()] == ["W"]
    x = rng.standard_normal((2, 3))
    np.testing.assert_allclose(plain(x), x @ plain.W.T, rtol=1e-12)
    check_module(plain, x)


@pytest.mark.parametrize("bad_shape", [(4, 5), (4,), (2, 4, 2), ()])
def test_wrong_feature_count_raises_before_recording(engine, bad_shape):
    layer = Linear(3, 2, engine)
    before = len(engine.operation_list)
    with pytest.raises(ValueError) as info:
        layer(np.zeros(bad_shape))
    message = str(info.value)
    assert "Linear(in_features=3, out_features=2)" in message
    assert "(batch, 3)" in message and str(bad_shape) in message
    assert len(engine.operation_list) == before


def test_no_grad_records_nothing(engine, rng):
    layer = Linear(3, 2, engine)
    with no_grad():
        z = layer(rng.standard_normal((2, 3)))
    assert z.shape == (2, 2) and engine.operation_list == []


def test_float32_input_gives_float64_output_and_gradients(engine, rng):
    layer = Linear(3, 2, engine, rng=9)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    z = layer(x)
    assert z.dtype == np.float64
    engine.backward(1.0, output=z)
    np.testing.assert_allclose(layer.dW, np.ones((2, 2)).T @ x.astype(np.float64), rtol=1e-6)
