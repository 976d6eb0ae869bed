"""docs/notebooks/differentiation.ipynb: its plain-text source agrees with it, and it runs.

* The jupytext percent-format source ``differentiation.py`` and the ``.ipynb`` hold the
  same cells (read here with a small parser, so jupytext is not needed).
* The source runs as a plain script without matplotlib (the plots are optional) and
  prints the lectures' numbers.
* The notebook executes top to bottom in a Jupyter kernel with nbclient (the
  ``notebook`` extra: ``pip install ".[test,notebook]"``); skipped without it.
"""

import contextlib
import io
import json
import runpy
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "docs" / "notebooks"
SOURCE = NOTEBOOKS / "differentiation.py"
NOTEBOOK = NOTEBOOKS / "differentiation.ipynb"

# What the notebook must print: the lectures' derivatives, computed (not typed in).
EXPECTED = [
    "df/dx      = 2*x + 2**x*log(2)",
    "symbolic      11.652071   5.500000000000000   1.716337814536774",
    "seed (1.0, 1.0): z = 2.8415, J v = 3.5403",
    "seed (2.0, 0.0): z = 2.8415, J v = 5.0806",
    "x     input  2      -        -     -160",
    "L     neg    -80    c        c     1",
    "| 9 | 19 | 39,365 |",
]


@pytest.fixture(autouse=True)
def in_the_repository():
    if not NOTEBOOK.exists():
        pytest.skip("the notebook is not part of the student kit")


def percent_cells(text):
    """(cell type, source) for each cell of a jupytext percent-format script."""
    lines = text.splitlines()
    if lines and lines[0] == "# ---":  # the YAML header, as comments
        lines = lines[lines.index("# ---", 1) + 1:]
    cells, kind, body = [], None, []

    def close():
        if kind is not None:
            cells.append((kind, "\n".join(body).strip("\n")))

    for line in lines:
        if line.startswith("# %%"):
            close()
            kind, body = ("markdown" if "[markdown]" in line else "code"), []
        elif kind == "markdown":
            body.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
        elif kind is not None:
            body.append(line)
    close()
    return cells


def test_source_and_notebook_have_the_same_cells():
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    in_notebook = [(cell["cell_type"], "".join(cell["source"]).strip("\n")) for cell in notebook["cells"]]
    in_source = percent_cells(SOURCE.read_text(encoding="utf-8"))
    assert len(in_source) == len(in_notebook), "the two files have different numbers of cells"
    for i, (a, b) in enumerate(zip(in_source, in_notebook)):
        assert a == b, f"cell {i} differs between differentiation.py and differentiation.ipynb"
    assert sum(kind == "code" for kind, _ in in_source) >= 6


def test_parser_reads_markdown_and_code():
    text = "# ---\n# jupyter:\n# ---\n\n# %% [markdown]\n# # Title\n#\n# text\n\n# %%\nx = 1\n\ny = 2\n"
    assert percent_cells(text) == [("markdown", "# Title\n\ntext"), ("code", "x = 1\n\ny = 2")]


def test_source_runs_as_a_script_without_matplotlib(monkeypatch):
    monkeypatch.chdir(NOTEBOOKS)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the notebook adds examples/ to the path
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        runpy.run_path(str(SOURCE), run_name="__main__")
    out = printed.getvalue()
    assert "matplotlib is not installed: the plots are skipped" in out
    for line in EXPECTED:
        assert line in out


def test_notebook_executes_with_nbclient(monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.read(str(NOTEBOOK), as_version=4)
    monkeypatch.setenv("MPLBACKEND", "Agg")  # the kernel inherits it: no display needed
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    text = "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.get("outputs", []))
    for line in EXPECTED:
        assert line in text
