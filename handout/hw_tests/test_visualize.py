"""Tape pictures: the text listing and the DOT graph are checked structurally; rendering runs
only where Graphviz's `dot` is installed, and its absence must give a clear error."""

import re
import shutil

import numpy as np
import pytest

import mytorch.nn.functional as F
from mytorch.tensor import Tensor
from mytorch.visualize import GraphvizNotFoundError, format_tape, render, to_dot

NODE = re.compile(r"^  (\w+) \[shape=(box|ellipse)(?:, style=(\w+))?.*label=\"((?:[^\"\\]|\\.)*)\"", re.M)
EDGE = re.compile(r"^  (\w+) -> (\w+)", re.M)


def parse(dot):
    """{node id: (shape, style, label with real newlines)} and the list of edges."""
    nodes = {m[1]: (m[2], m[3], m[4].replace("\\n", "\n")) for m in NODE.finditer(dot)}
    return nodes, EDGE.findall(dot)


def lecture_tape():
    """y = mean((x + 2)^2 + 3): four operations, add, pow_scalar, add, mean."""
    x = Tensor([0.0, 1.0, 2.0], name="x")
    y = ((x + 2) ** 2 + 3).mean()
    return x, y


@pytest.mark.task2
def test_format_tape_lists_every_operation_in_order(engine):
    lecture_tape()
    lines = format_tape(engine).splitlines()
    assert lines[0].split() == ["#", "operation", "inputs", "output", "params"]
    assert [line.split()[:2] for line in lines[1:]] == [["0", "add"], ["1", "pow_scalar"], ["2", "add"],
                                                         ["3", "mean"]]
    assert re.search(r"add\s+x \(3,\), 2\s+\(3,\)$", lines[1])           # named leaf and a constant
    assert re.search(r"pow_scalar\s+#0 \(3,\)\s+\(3,\)\s+exponent=2$", lines[2])  # output of op 0
    assert re.search(r"mean\s+#2 \(3,\)\s+\(\)\s+axis=None, keepdims=False$", lines[4])


@pytest.mark.task2
def test_array_params_show_small_indices_by_value_and_saved_arrays_by_shape(engine):
    F.getitem(np.arange(6.0), np.array([4, 1]))
    F.softmax_cross_entropy(np.zeros((4, 3)), np.array([0, 1, 2, 0]))  # saves log_probs (4, 3)
    lines = format_tape(engine).splitlines()
    assert lines[1].endswith("index=[4,1]")
    assert lines[2].endswith("reduction='mean', log_probs=<array (4, 3)>")


@pytest.mark.task0
def test_format_tape_of_an_empty_tape(engine):
    assert format_tape(engine) == "(the tape is empty)"


@pytest.mark.task2
def test_to_dot_structure(engine):
    """4 operation boxes; arrays x, #0..#3 (5 ellipses) and constants 2 and 3 (2 dashed);
    edges: 6 into operations (2 + 1 + 2 + 1 inputs) and 4 out of them."""
    lecture_tape()
    dot = to_dot(engine)
    assert dot.startswith("digraph tape {") and dot.rstrip().endswith("}")
    nodes, edges = parse(dot)
    boxes = [label for shape, _, label in nodes.values() if shape == "box"]
    arrays = [label for shape, style, label in nodes.values() if shape == "ellipse" and style != "dashed"]
    constants = [label for shape, style, label in nodes.values() if style == "dashed"]
    assert boxes == ["#0 add", "#1 pow_scalar\nexponent=2", "#2 add", "#3 mean\naxis=None, keepdims=False"]
    assert sorted(arrays) == ["#0\n(3,)", "#1\n(3,)", "#2\n(3,)", "#3\n()", "x\n(3,)"]
    assert sorted(constants) == ["2", "3"]
    assert len(edges) == 10
    assert all(a in nodes and b in nodes for a, b in edges)
    for index in range(4):  # each operation: inputs in, exactly one output out
        assert sum(b == f"op{index}" for _, b in edges) == [2, 1, 2, 1][index]
        assert sum(a == f"op{index}" for a, _ in edges) == 1
    assert "peripheries=2" in next(line for line in dot.splitlines() if '"#3\\n()"' in line)


@pytest.mark.task2
def test_an_array_used_twice_is_one_node_with_two_edges(engine):
    x = Tensor([1.0, 2.0], name="x")
    (x * x).sum()
    nodes, edges = parse(to_dot(engine))
    x_node = next(key for key, (_, _, label) in nodes.items() if label.startswith("x\n"))
    assert edges.count((x_node, "op0")) == 2
    assert '-> op0 [label="0"]' in to_dot(engine) and '-> op0 [label="1"]' in to_dot(engine)


@pytest.mark.task2
def test_names_from_a_dict_and_from_tensors(engine, rng):
    W, b, x = rng.standard_normal((4, 3)), rng.standard_normal(4), rng.standard_normal((5, 3))
    h = F.add(F.matmul(x, F.transpose(W)), b)
    labels = [label for _, _, label in parse(to_dot(engine, names={"W": W, id(b): "bias", "h": Tensor(h)}))[0].values()]
    assert "W\n(4, 3)" in labels and "bias\n(4,)" in labels and "h\n(5, 4)" in labels
    assert "leaf\n(5, 3)" in labels  # x has no name
    assert "matmul" in format_tape(engine, names={"W": W}) and "W (4, 3)" in format_tape(engine, names={"W": W})
    with pytest.raises(TypeError, match="keys must be names"):
        to_dot(engine, names={1.5: "x"})


@pytest.mark.task5
def test_gradient_norms(engine):
    """dy/dx = 2(x + 2)/3 = [4/3, 2, 8/3] at x = [0, 1, 2]: norm sqrt(16/9 + 4 + 64/9) = sqrt(116)/3.
    The gradient at the output of the pow (#1) is 1/3 per element: norm sqrt(3)/3."""
    x, y = lecture_tape()
    y.backward()
    labels = {label.split("\n")[0]: label for _, _, label in parse(to_dot(engine, show_grad_norms=True))[0].values()}
    assert labels["x"].endswith(f"|grad| = {np.sqrt(116) / 3:.4g}")
    assert labels["#1"].endswith(f"|grad| = {np.sqrt(3) / 3:.4g}")
    assert labels["#3"].endswith("|grad| = 1")
    assert "|grad|" not in to_dot(engine)  # only on request


@pytest.mark.task6
def test_gradient_norm_of_a_layer_weight_kept_in_its_own_array(engine, rng):
    """L = sum(x W^T) with W's gradient in dW (gradients_to_update): dL/dW[i, k] = sum_n x[n, k]."""
    x, W, dW = rng.standard_normal((5, 3)), rng.standard_normal((4, 3)), np.zeros((4, 3))
    F.sum(F.matmul(x, F.transpose(W, gradients_to_update=[dW])))
    engine.backward()
    expected = np.linalg.norm(np.tile(x.sum(axis=0), (4, 1)))
    labels = [label for _, _, label in parse(to_dot(engine, names={"W": W}, show_grad_norms=True))[0].values()]
    assert f"W\n(4, 3)\n|grad| = {expected:.4g}" in labels


@pytest.mark.task2
def test_render_without_graphviz_is_a_clear_error(engine, monkeypatch, tmp_path):
    lecture_tape()
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` here
    with pytest.raises(GraphvizNotFoundError, match=r"`dot` program is not installed.*apt-get install graphviz"):
        render(engine, tmp_path / "tape.png")
    with pytest.raises(ValueError, match="format must be one of"):
        render(engine, tmp_path / "tape.gif", format="gif")


@pytest.mark.task0
@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's `dot` is not installed (apt-get install graphviz)")
@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_render(engine, tmp_path, fmt):
    x, y = lecture_tape()
    y.backward()
    path = render(y, tmp_path / f"tape.{fmt}", format=fmt, show_grad_norms=True)
    data = path.read_bytes()
    if fmt == "png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
    else:
        text = data.decode()
        assert "<svg" in text and "pow_scalar" in text and text.count('class="node"') == 11
