"""The grader's outputs, built from a small hand-made Report: the table, the JSON report, the
Autolab line, Gradescope's results.json; and the wire format's refusal of anything but plain arrays.
"""

from __future__ import annotations

import io
import json
import re
import struct
import sys

import numpy as np
import pytest

from autograder.harness import protocol
from autograder.grading import report as reports
from autograder.cli import main as cli_main
from autograder.grading.grade import Report
from autograder.grading.grade import TestResult as Graded  # (not named Test*: pytest would try to collect it)
from autograder.grading.rubric import RUBRIC, select_tests

FIRST, LAST = RUBRIC[0], RUBRIC[-1]  # two real components: the table and the Autolab line read the rubric
GRADESCOPE_VISIBILITY = {"visible", "hidden", "after_due_date", "after_published"}
LONG = "add_backward: dL/db is wrong: " + "max abs error 1.5, " * 30


def part(name: str, reason: str = "") -> dict:
    return {"part": name, "passed": not reason, "reason": reason}


def sample_report() -> Report:
    """Three tests: passed (2/2), partial (1/2, two of four parts wrong), crashed (0/2, hidden)."""
    tests = [
        Graded(FIRST.key, "first.passes", "MemoryBuffer", 2.0, 2.0, "passed", "", "visible", 0.12,
                   [part("a"), part("b")]),
        Graded(LAST.key, "last.partial", "add_backward", 1.0, 2.0, "partial", LONG + " (and 1 more)", "visible",
                   0.25, [part("p1"), part("p2"), part("p3", LONG), part("p4", "add_backward: p4 has shape (3,)")]),
        Graded(LAST.key, "last.crashes", "sub_backward", 0.0, 2.0, "failed", "timed out after 20 s",
                   "hidden", 20.0, [part("q1", "timed out after 20 s"), part("q2", "timed out after 20 s")]),
    ]
    return Report("handin.tar", 7, 3.0, 6.0, tests, 20.5, warnings=["refused '../x.py': path leaves the handin folder"],
                  isolation="uid 990 + rlimits", flags=[{"file": "mytorch/a.py", "line": 3, "what": "ctypes"}])


# ---------------------------------------------------------------- table

def test_table_lists_every_test_then_the_totals_seed_and_notes():
    lines = reports.table(sample_report(), width=100).splitlines()
    assert lines[0].split() == ["component", "test", "points", "status", "reason"]
    rows = {line.split()[1]: line for line in lines[2:5]}
    assert rows["first.passes"].split()[:4] == [FIRST.key, "first.passes", "2/2", "passed"]
    assert rows["last.partial"].split()[:5] == [LAST.key, "last.partial", "1/2", "partial", "add_backward:"]
    assert rows["last.crashes"].split()[2:] == ["0/2", "failed", "timed", "out", "after", "20", "s"]
    # A long reason is cut to the width, and says so.
    assert len(rows["last.partial"]) == 100 and rows["last.partial"].endswith("…")
    # Totals: one line per graded component (title, score / the points of its tests graded here, so
    # the lines add up to the total), then the total.
    assert re.search(rf"^{re.escape(FIRST.title)}\s+2 / 2$", "\n".join(lines), re.M)
    assert re.search(rf"^{re.escape(LAST.title)}\s+1 / 4$", "\n".join(lines), re.M)
    assert not any(line.startswith(RUBRIC[1].title) for line in lines)  # not graded here: not listed
    assert re.fullmatch(r"TOTAL\s+3 / 6", lines[-5])
    assert lines[-4] == "seed 7; graded handin.tar in 20.5 s"
    assert lines[-3] == "isolation: uid 990 + rlimits"
    assert lines[-2] == "note: refused '../x.py': path leaves the handin folder"
    assert lines[-1] == "flag: mytorch/a.py:3: ctypes"


def test_table_keeps_reasons_whole_when_printed_to_a_file_or_a_platform(monkeypatch):
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # not a terminal: Autolab's feedback, a log file
    row = next(line for line in reports.table(sample_report()).splitlines() if "last.partial" in line)
    assert row.endswith(LONG + " (and 1 more)")


# ---------------------------------------------------------------- JSON

def _documented_keys() -> set:
    """The key names written in report.py's docstring, where the JSON report is specified."""
    schema = reports.__doc__.split("JSON report", 1)[1]
    return set(re.findall(r'"(\w+)"', schema))


def test_json_report_follows_its_documented_schema():
    data = json.loads(reports.as_json(sample_report()))
    top = {"version", "submission", "seed", "score", "max_score", "seconds", "components", "warnings", "tests",
           "isolation", "flags"}
    test_keys = {"component", "name", "target", "score", "max_score", "status", "reason", "visibility", "seconds",
                 "parts"}
    assert set(data) == top and all(set(t) == test_keys for t in data["tests"])
    assert all(set(p) == {"part", "passed", "reason"} for t in data["tests"] for p in t["parts"])
    assert (top | test_keys | {"part", "passed", "file", "line", "what"}) <= _documented_keys()  # every key named
    assert data["version"] == 2 and data["seed"] == 7 and data["submission"] == "handin.tar"
    assert data["isolation"] == "uid 990 + rlimits"
    assert data["flags"] == [{"file": "mytorch/a.py", "line": 3, "what": "ctypes"}]
    assert (data["score"], data["max_score"], data["seconds"]) == (3.0, 6.0, 20.5)
    assert data["components"] == {FIRST.key: 2.0, LAST.key: 1.0}
    assert data["warnings"] == ["refused '../x.py': path leaves the handin folder"]
    assert [t["status"] for t in data["tests"]] == ["passed", "partial", "failed"]
    assert data["tests"][1]["parts"][3] == {"part": "p4", "passed": False, "reason": "add_backward: p4 has shape (3,)"}


# ---------------------------------------------------------------- Autolab

def test_autolab_line_is_exactly_the_scores_of_every_component():
    line = reports.autolab_line(sample_report())
    assert "\n" not in line
    data = json.loads(line)
    assert list(data) == ["scores"]
    assert list(data["scores"]) == [c.key for c in RUBRIC]  # every problem, in rubric order
    expected = {c.key: 0.0 for c in RUBRIC}
    expected.update({FIRST.key: 2.0, LAST.key: 1.0})
    assert data["scores"] == expected


def test_autolab_line_is_the_last_line_printed(capsys):
    name = FIRST.tests[0].name
    assert cli_main(["--only", name, "--autolab", "--jobs", "1"]) == 0  # grades the bundled reference
    lines = capsys.readouterr().out.strip().splitlines()
    scores = json.loads(lines[-1])["scores"]
    assert scores[FIRST.key] == FIRST.tests[0].points
    assert set(scores) == {c.key for c in RUBRIC}
    assert any(line.startswith("TOTAL") for line in lines[:-1])


# ---------------------------------------------------------------- Gradescope

def _kind(value: object) -> str:
    if isinstance(value, str):
        return "text"
    return "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__


def test_gradescope_results_follow_the_specification(tmp_path):
    report = sample_report()
    results = reports.gradescope(report)
    assert (results["score"], results["max_score"], results["execution_time"]) == (3.0, 6.0, 20.5)
    assert results["visibility"] in GRADESCOPE_VISIBILITY
    assert results["stdout_visibility"] in GRADESCOPE_VISIBILITY
    assert results["output"].splitlines() == ["Graded with seed 7.", "Isolation: uid 990 + rlimits",
                                              "Note: refused '../x.py': path leaves the handin folder"]
    assert results["output_format"] == "text" and "ctypes" not in json.dumps(results)  # flags: staff only
    kinds = {"name": "text", "number": "text", "score": "number", "max_score": "number", "status": "text",
             "output": "text", "output_format": "text", "visibility": "text", "execution_time": "number"}
    assert len(results["tests"]) == 3
    for number, test in enumerate(results["tests"], start=1):
        assert {key: _kind(test[key]) for key in kinds} == kinds, test
        assert test["number"] == str(number) and test["output_format"] == "text"
        assert test["status"] in {"passed", "failed"} and test["visibility"] in GRADESCOPE_VISIBILITY
    passed, partial, crashed = results["tests"]
    assert passed["name"] == f"{FIRST.key}: first.passes (MemoryBuffer)"
    assert (passed["status"], passed["score"], passed["output"]) == ("passed", 2.0, "passed")
    assert (partial["status"], partial["score"]) == ("failed", 1.0)  # Gradescope has no "partial": the score says it
    assert partial["output"] == LONG + " (and 1 more)\n- add_backward: p4 has shape (3,)"  # every failure, once
    assert (crashed["output"], crashed["visibility"], crashed["execution_time"]) == ("timed out after 20 s", "hidden",
                                                                                   20.0)
    path = tmp_path / "results" / "results.json"
    reports.write_gradescope(report, path)
    assert json.loads(path.read_text()) == results


# ---------------------------------------------------------------- the wire format

def test_protocol_round_trips_plain_arrays():
    arrays = {"f8": np.arange(6.0).reshape(2, 3), "scalar": np.asarray(2.5), "empty": np.zeros((0, 3)),
              "i4": np.arange(4, dtype=np.int32), "bool": np.array([True, False]),
              "big-endian": np.arange(3, dtype=">f8"), "transposed view": np.arange(6.0).reshape(2, 3).T}
    header, decoded = protocol.decode(protocol.encode({"status": "ok"}, arrays))
    assert header == {"status": "ok"} and list(decoded) == list(arrays)
    for name, array in arrays.items():
        assert decoded[name].shape == array.shape and np.array_equal(decoded[name], array), name
        assert decoded[name].dtype == array.dtype.newbyteorder("<"), name


@pytest.mark.parametrize("value", [np.array([object(), 1], dtype=object), np.array(["a", "b"]),
                                   np.array(["2024-01-01"], dtype="datetime64[D]")])
def test_protocol_refuses_to_send_anything_but_plain_numbers(value):
    with pytest.raises(protocol.ProtocolError, match="cannot be sent"):
        protocol.encode({}, {"x": value})


def _message(specs: list, payload: bytes, header: object = None) -> bytes:
    head = json.dumps({"header": {} if header is None else header, "arrays": specs}).encode()
    return struct.pack("<Q", len(head)) + head + payload


def _framed(head: bytes) -> bytes:
    return struct.pack("<Q", len(head)) + head


@pytest.mark.parametrize("message, why", [
    (_message([{"name": "x", "dtype": "|O", "shape": [1], "nbytes": 8}], b"\0" * 8), "not a plain numeric dtype"),
    (_message([{"name": "x", "dtype": "<f8", "shape": [2], "nbytes": 8}], b"\0" * 8), "size does not match"),
    (_message([{"name": "x", "dtype": "<f8", "shape": [-1], "nbytes": 8}], b"\0" * 8), "bad shape"),
    (_message([{"name": "x", "dtype": "<f8", "shape": [1], "nbytes": 8}], b"\0" * 16), "trailing bytes"),
    (_message([{"name": "x"}], b""), "bad array description"),
    (_message([], b"", header=[1, 2]), "header must be an object"),
    (struct.pack("<Q", 5) + b"{nope", "unreadable header"),
    (b"\1\2\3", "no header"),
    # Found by attacking the grader: each once escaped the checks and crashed it.
    pytest.param(_framed(b'{"header": ' + b"[" * 100_000 + b"]" * 100_000 + b', "arrays": []}'),
                 "unreadable header", id="JSON nested 100,000 deep"),
    (_message([{"name": "x", "dtype": "<f8", "shape": [1] * 65, "nbytes": 8}], b"\0" * 8), "bad shape"),
    (_message([{"name": "x", "dtype": "<f8", "shape": [1], "nbytes": 8.0}], b"\0" * 8), "bad shape or size"),
    (_message([{"name": "x", "dtype": ["<f8"], "shape": [1], "nbytes": 8}], b"\0" * 8), "not a plain numeric"),
    (_message([{"name": "x", "dtype": "<f8", "shape": [True], "nbytes": 8}], b"\0" * 8), "bad shape"),
])
def test_protocol_refuses_malformed_messages(message, why):
    with pytest.raises(protocol.ProtocolError, match=why):
        protocol.decode(message)


def test_protocol_refuses_more_arrays_than_any_result_holds():
    """200,000 empty arrays once made the grader loop for a minute over the tape probe's records."""
    specs = [{"name": f"probe/{i}/g", "dtype": "<f8", "shape": [0], "nbytes": 0}
             for i in range(protocol.MAX_ARRAYS + 1)]
    with pytest.raises(protocol.ProtocolError, match="more than 10000 arrays"):
        protocol.decode(_message(specs, b""))


def test_protocol_refuses_every_truncation_of_a_valid_message():
    message = protocol.encode({"status": "ok"}, {"a": np.arange(5.0), "b": np.ones((2, 2), dtype=np.int64)})
    for cut in range(len(message)):
        with pytest.raises(protocol.ProtocolError):
            protocol.decode(message[:cut])


def test_protocol_refuses_oversized_messages_before_reading_them(monkeypatch):
    message = protocol.encode({}, {"a": np.zeros(100)})
    protocol.decode(message)  # fine under the real limit
    monkeypatch.setattr(protocol, "MAX_MESSAGE_BYTES", len(message) - 1)
    with pytest.raises(protocol.ProtocolError, match="exceeds"):
        protocol.decode(message)


def test_only_selects_by_task_number_component_key_or_test_name_start():
    """A student works task by task: `--only 3` grades exactly task 3's tests (in rubric order)."""
    def names(*only):
        return [t.name for _, t in select_tests(list(only))]

    third = [t.name for t in RUBRIC[2].tests]
    assert names("3") == third == names(RUBRIC[2].key)
    assert names("1", "engine.chain") == [t.name for t in RUBRIC[0].tests] + ["engine.chain"]
    assert names("backward.exp") == ["backward.exp"]  # a full name is that test, not backward.expand_dims too
    assert names("backward.ex") == ["backward.exp", "backward.expand_dims"]  # a start picks every match
    assert names() == [t.name for c in RUBRIC for t in c.tests]
    with pytest.raises(ValueError, match=r"--only 13 engin\.x: no such task or test; tasks are 1 \(memory_buffer\)"):
        names("13", "engin.x")


def test_cli_refuses_an_only_that_picks_nothing(capsys):
    with pytest.raises(SystemExit) as stop:
        cli_main(["--only", "linaer"])
    assert stop.value.code == 2 and "--only linaer: no such task or test" in capsys.readouterr().err
