"""Seeing the tape: a text listing, Graphviz DOT export, and rendering to PNG/SVG.

    print(format_tape(engine))          # one line per recorded operation
    dot_text = to_dot(engine)           # operations as boxes, arrays as ellipses
    render(engine, "tape.png")          # needs Graphviz's `dot` program

Arrays are labelled by name when one is known: from ``names`` (a dict
``{"W": W}`` of names to arrays or Tensors, or ``{id(W): "W"}``), or from the
``name`` of the Tensor that holds the array. Otherwise an array produced by
operation #j is called ``#j``, any other input (a leaf) ``leaf``, and a
constant (a Python number or list) shows its value.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import numpy as np

from mytorch.autograd_engine import Autograd, Operation, current_engine
from mytorch.tensor import Tensor, name_of

Names = Optional[Mapping[Any, Any]]
FORMATS = ("png", "svg", "pdf")


class GraphvizNotFoundError(RuntimeError):
    """Raised by ``render`` when Graphviz's ``dot`` program is not on the PATH."""


def op_name(op: Operation) -> str:
    """The operation's name: its backward function's name without ``_backward``."""
    name = op.name
    return name[: -len("_backward")] if name.endswith("_backward") else name


class _Labeller:
    """Names for the arrays on a tape (see the module docstring)."""

    def __init__(self, engine: Autograd, names: Names) -> None:
        self.explicit: dict[int, str] = {}
        for key, value in (names or {}).items():
            if isinstance(key, str):
                self.explicit[id(value.data if isinstance(value, Tensor) else value)] = key
            elif isinstance(key, int):
                self.explicit[key] = str(value)
            else:
                raise TypeError(f"names: keys must be names (str) mapped to arrays or Tensors, or "
                                f"ids (int) mapped to names; got a key of type {type(key).__name__}")
        self.producer = {id(op.output): index for index, op in enumerate(engine.operation_list)}

    def name(self, array: np.ndarray) -> str:
        key = id(array)
        if key in self.explicit:
            return self.explicit[key]
        tensor_name = name_of(array)
        if tensor_name is not None:
            return tensor_name
        if key in self.producer:
            return f"#{self.producer[key]}"
        return "leaf"


def _shape(array: np.ndarray) -> str:
    return str(tuple(array.shape))


def _constant(array: np.ndarray) -> str:
    if array.size <= 3:
        return np.array2string(array, separator=", ", precision=4)
    return f"const {_shape(array)}"


def _short(value: Any, width: int = 32) -> str:
    if isinstance(value, np.ndarray) and value.size > 6:  # a saved array (log_probs, lhs): its shape says more
        return f"<array {value.shape}>"
    text = repr(value) if not isinstance(value, np.ndarray) else np.array2string(value, separator=",")
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _params(op: Operation) -> str:
    return ", ".join(f"{key}={_short(value)}" for key, value in op.params.items())


def _resolve(engine: Union[Autograd, Tensor, None]) -> Autograd:
    """The engine given, the engine of the Tensor given, or the live engine."""
    if isinstance(engine, Tensor):
        if engine.engine is None:
            raise ValueError("this Tensor has not taken part in any recorded operation: no tape to show")
        return engine.engine
    return engine if engine is not None else current_engine()


def format_tape(engine: Union[Autograd, Tensor, None] = None, names: Names = None) -> str:
    """The tape as text, one line per operation in recorded (forward) order.

    Each line: index, operation, inputs (name and shape; constants by value),
    output shape, params. Backward replays the lines from the bottom up.
    engine: the engine to show, or a Tensor whose engine to show (the live engine by default).
    """
    engine = _resolve(engine)
    label = _Labeller(engine, names)
    rows = []
    for index, op in enumerate(engine.operation_list):
        inputs = ", ".join(_constant(x) if i in op.constants else f"{label.name(x)} {_shape(x)}"
                           for i, x in enumerate(op.inputs))
        rows.append((str(index), op_name(op), inputs, _shape(op.output), _params(op)))
    if not rows:
        return "(the tape is empty)"
    header = ("#", "operation", "inputs", "output", "params")
    widths = [max(len(row[k]) for row in rows + [header]) for k in range(4)]

    def line(row: tuple) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4]

    return "\n".join(line(row).rstrip() for row in [header] + rows)


def _quote(text: str) -> str:
    """A DOT string literal; newlines become DOT's \\n line breaks."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _gradient_norm(engine: Autograd, array: np.ndarray, targets: dict) -> Optional[float]:
    buffer = engine.memory_buffer
    if buffer.has_gradient(array):
        return float(np.linalg.norm(buffer.get_param(array)))
    if id(array) in targets:  # a leaf whose gradient lives in its own array (a layer's dW)
        return float(np.linalg.norm(targets[id(array)]))
    return None


def to_dot(engine: Union[Autograd, Tensor, None] = None, names: Names = None,
           show_grad_norms: bool = False) -> str:
    """The tape as a Graphviz DOT digraph.

    Operations are boxes ("#3 matmul" and its params); arrays are ellipses
    labelled with name and shape, and each array appears once however many
    operations use it. Constants are dashed ellipses showing their value.
    Edges run input -> operation -> output; an operation with several inputs
    numbers its incoming edges 0, 1, ... in argument order. The last
    operation's output is drawn with a double border. With
    ``show_grad_norms``, arrays that have a gradient (in the memory buffer,
    or in a ``gradients_to_update`` array) show its Euclidean norm.
    """
    engine = _resolve(engine)
    label = _Labeller(engine, names)
    targets = {id(x): t for op in engine.operation_list
               for x, t in zip(op.inputs, op.gradients_to_update) if t is not None}
    lines = ["digraph tape {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=9];']
    nodes: dict[int, str] = {}
    final = id(engine.operation_list[-1].output) if engine.operation_list else None

    def array_node(array: np.ndarray) -> str:
        key = id(array)
        if key not in nodes:
            nodes[key] = f"a{len(nodes)}"
            text = f"{label.name(array)}\n{_shape(array)}"
            norm = _gradient_norm(engine, array, targets) if show_grad_norms else None
            if norm is not None:
                text += f"\n|grad| = {norm:.4g}"
            extra = ", peripheries=2" if key == final else ""
            lines.append(f"  {nodes[key]} [shape=ellipse, label={_quote(text)}{extra}];")
        return nodes[key]

    for index, op in enumerate(engine.operation_list):
        box = f"op{index}"
        params = _params(op)
        text = f"#{index} {op_name(op)}" + (f"\n{params}" if params else "")
        lines.append(f"  {box} [shape=box, style=filled, fillcolor=lightgrey, label={_quote(text)}];")
        several = len(op.inputs) > 1
        for i, x in enumerate(op.inputs):
            if i in op.constants:
                source = f"c{index}_{i}"
                lines.append(f"  {source} [shape=ellipse, style=dashed, label={_quote(_constant(x))}];")
            else:
                source = array_node(x)
            lines.append(f"  {source} -> {box}" + (f' [label="{i}"];' if several else ";"))
        lines.append(f"  {box} -> {array_node(op.output)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(engine: Union[Autograd, Tensor, None], path: Union[str, Path], format: str = "png",
           names: Names = None, show_grad_norms: bool = False) -> Path:
    """Draw the tape with Graphviz's ``dot`` program into ``path`` (png, svg or pdf).

    Raises ``GraphvizNotFoundError`` (a RuntimeError) when ``dot`` is not
    installed; ``to_dot`` needs no Graphviz. Returns the path written.
    """
    if format not in FORMATS:
        raise ValueError(f"render: format must be one of {FORMATS}, got {format!r}")
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizNotFoundError(
            "render: Graphviz's `dot` program is not installed (it is not on the PATH). Install "
            "Graphviz (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz; "
            "conda: conda install graphviz), or save to_dot(engine) to a .dot file and view it "
            "with any Graphviz viewer."
        )
    path = Path(path)
    text = to_dot(engine, names=names, show_grad_norms=show_grad_norms)
    result = subprocess.run([dot, f"-T{format}", "-o", str(path)], input=text.encode(),
                            capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"render: dot failed (exit code {result.returncode}): "
                           f"{result.stderr.decode(errors='replace').strip()}")
    return path
