"""Notebook submissions: code cells in order, IPython magics and shell lines dropped with a note,
non-Python cell magics skipped, and a notebook that is not valid JSON is a CE that says so."""
from __future__ import annotations

import json

import pytest

from conftest import SUBMISSIONS, run_cli
from grader.submission import notebook_code, resolve

COLAB = SUBMISSIONS / "accepted" / "notebook_colab.ipynb"
TRUNCATED = SUBMISSIONS / "compile_error" / "notebook_truncated.ipynb"


def nb(*cells) -> bytes:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": list(cells)}).encode()


def code(source) -> dict:
    return {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": source}


def test_code_cells_in_order_with_magics_dropped_and_noted():
    raw = nb({"cell_type": "markdown", "metadata": {}, "source": "x = 'not code'"},
             code(["%pip install flax\n", "!ls\n", "a = 1\n"]),
             code("for i in range(2):\n    !echo hi\nb = a + 1"))
    out, notes, problem = notebook_code(raw)
    text = out.decode()
    assert problem is None
    assert "not code" not in text and "pip" not in text and "echo" not in text
    assert text.index("a = 1") < text.index("b = a + 1")
    assert "    pass  # (dropped an IPython magic or shell line)" in text     # the loop keeps a body
    compile(text, "notebook", "exec")
    assert len(notes) == 1 and notes[0].text.startswith("3 IPython magic or shell line(s)")


def test_cell_magics_whose_body_is_not_python_are_skipped():
    raw = nb(code("%%bash\nls -la | wc -l\n"), code("%%writefile helper.py\nprint('x')\n"),
             code("%%time\nc = 3\n"))
    out, notes, problem = notebook_code(raw)
    assert problem is None and "wc -l" not in out.decode() and "c = 3" in out.decode()
    compile(out.decode(), "notebook", "exec")
    assert any("1 (%%bash), 2 (%%writefile)" in n.text for n in notes)


@pytest.mark.parametrize("raw, says", [
    (b'{"cells": [', "not valid .ipynb JSON (line 1, column"),
    (b'{"nbformat": 4}', "not valid .ipynb JSON"),
    (b"\xff\xfe not utf-8", "not valid .ipynb JSON"),
    (b'{"cells": "oops"}', "not valid .ipynb JSON"),
])
def test_invalid_notebooks_are_a_clear_compile_error(tmp_path, raw, says):
    path = tmp_path / "homework.ipynb"
    path.write_bytes(raw)
    source = resolve(path, 131072)
    assert source.code is None and says in source.problem and "File > Download .ipynb" in source.problem


def test_an_oversized_notebook_names_its_own_limit(tmp_path):
    path = tmp_path / "big.ipynb"
    path.write_bytes(nb(code("a = 1")) + b" " * (300 * 1024))
    source = resolve(path, 16 * 1024)
    assert "256 KiB limit" in source.problem and "Clear all outputs" in source.problem


def test_colab_example_is_graded_with_a_feedback_note(test_problem_path):
    code_, out, _ = run_cli(["--problem", str(test_problem_path), "grade", str(COLAB), "--cases", "public",
                             "--json", "-"])
    doc = json.loads(out)
    assert code_ == 0 and doc["verdict"] == "AC", doc["feedback"]
    assert any("were dropped from the notebook" in f for f in doc["feedback"])


def test_truncated_download_is_a_compile_error(test_problem_path):
    code_, out, _ = run_cli(["--problem", str(test_problem_path), "grade", str(TRUNCATED), "--cases", "public",
                             "--format", "prairielearn", "--json", "-"])
    doc = json.loads(out)
    assert code_ == 0 and doc["gradable"] is False
    assert "not valid .ipynb JSON" in doc["format_errors"][0]
