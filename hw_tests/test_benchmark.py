"""The benchmark compares equal work: every engine's step makes the same parameter updates.

(Its timings are never asserted: this machine is shared. See docs/performance.md.)
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from mytorch import Autograd

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("size", ["small", "large"])
def test_every_step_makes_the_same_updates_as_the_hand_written_one(bench, size):
    batch, sizes = bench.SIZES[size]
    steps = {"numpy": bench.numpy_step(batch, sizes), "bare_tape": bench.bare_tape_step(batch, sizes)}
    with Autograd() as engine:
        steps["mytorch"] = bench.mytorch_step(batch, sizes, engine)
        steps["mytorch_dx"] = bench.mytorch_step(batch, sizes, engine, data_as_constant=False)
        try:
            steps["torch"] = bench.torch_step(batch, sizes)
        except ImportError:
            pass
        start = [p.copy() for p in steps["numpy"].parameters]
        for _ in range(3):
            for step in steps.values():
                step()
    expected = steps["numpy"].parameters
    assert any(not np.allclose(p, q) for p, q in zip(expected, start))  # the steps did update
    for name, step in steps.items():
        for got, want in zip(step.parameters, expected):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=name)


def test_interleaved_medians_runs_each_step_in_blocks_for_every_counted_round(bench):
    calls = {"a": 0, "b": 0}

    def counter(name):
        def step():
            calls[name] += 1
        return step

    medians = bench.interleaved_medians({"a": counter("a"), "b": counter("b")}, rounds=4, block=3,
                                        warmup_seconds=0.0)
    assert calls == {"a": 12, "b": 12} and set(medians) == {"a", "b"}


@pytest.mark.parametrize("kind", ["cnn", "gru"])
def test_network_steps_make_the_same_updates_as_the_hand_written_one(bench, kind):
    """The CNN and GRU rows: mytorch (and PyTorch, where installed) against the hand-written NumPy step."""
    with Autograd() as engine:
        steps = {name: bench.STEP_MAKERS[kind, name](engine) for name in ("numpy", "mytorch")}
        try:
            steps["torch"] = bench.STEP_MAKERS[kind, "torch"](engine)
        except ImportError:
            pass
        start = [p.copy() for p in steps["numpy"].parameters]
        for _ in range(2):
            for step in steps.values():
                step()
    expected = steps["numpy"].parameters
    assert len(expected) == {"cnn": 6, "gru": 6}[kind]
    assert all(not np.allclose(p, q) for p, q in zip(expected, start))  # every parameter was updated
    for name, step in steps.items():
        assert len(step.parameters) == len(expected), name
        for got, want in zip(step.parameters, expected):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=name)


def test_growth_exponent_of_two_points(bench):
    """time ~ n^p through (10, 0.5) and (1000, 50): p = log(100) / log(100) = 1; (10, 1) and (20, 4): p = 2."""
    assert bench.growth_exponent((10, 0.5), (1000, 50.0)) == pytest.approx(1.0)
    assert bench.growth_exponent((10, 1.0), (20, 4.0)) == pytest.approx(2.0)


def test_conv_backward_timing_runs_on_the_shapes_it_is_given(bench):
    with Autograd() as engine:
        assert bench.conv_backward_seconds(engine, 2, 5, repeats=1) > 0
        assert engine.operation_list == []  # it leaves the tape empty
