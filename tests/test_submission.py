"""The submission path is untrusted: links refused, sizes bounded, folders must hold exactly one file."""
from __future__ import annotations

import json
import os

import pytest

from conftest import ROOT
from grader import UsageError
from grader.submission import resolve

REF = ROOT / "reference" / "solution.py"


def test_a_plain_file_resolves(tmp_path):
    src = resolve(REF, 128 * 1024)
    assert src.problem is None and src.code == REF.read_bytes() and len(src.sha256) == 64


def test_missing_path_is_the_operators_error(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        resolve(tmp_path / "nope.py", 1024)


@pytest.mark.parametrize("setup,fragment", [
    (lambda d: os.symlink(REF, d / "s.py") or d / "s.py", "symbolic link"),
    (lambda d: d, "no solution file"),
    (lambda d: [(d / n).write_text("x = 1\n") for n in ("a.py", "b.ipynb")] and d, "several candidate"),
    (lambda d: (d / "s.txt").write_text("x") and d / "s.txt", "not a Python file"),
    (lambda d: (d / "s.py").write_bytes(b"x = 1\n" * 30000) and d / "s.py", "larger than the 128 KiB limit"),
    (lambda d: (d / "s.py").write_bytes(b"s = '\xff\xfe'\n") and d / "s.py", "not UTF-8"),
    (lambda d: (d / "s.py").write_bytes(b"x = 1\x00\n") and d / "s.py", "NUL bytes"),
    (lambda d: (d / "s.ipynb").write_text("{not json") and d / "s.ipynb", "not valid .ipynb JSON"),
])
def test_bad_submissions_are_ce_with_a_reason(tmp_path, setup, fragment):
    target = setup(tmp_path)
    src = resolve(target, 128 * 1024)
    assert src.code is None and fragment in src.problem


def test_link_inside_a_folder_is_not_followed(tmp_path):
    os.symlink(REF, tmp_path / "solution.py")
    assert "no solution file" in resolve(tmp_path, 1 << 20).problem


def test_folder_with_one_solution_and_ignored_files(tmp_path):
    (tmp_path / "solution.py").write_bytes(REF.read_bytes())
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / ".hidden.py").write_text("")
    (tmp_path / "notes.txt").write_text("")
    src = resolve(tmp_path, 1 << 20)
    assert src.problem is None and src.code == REF.read_bytes()


def test_notebook_code_cells_in_order_with_magics_dropped(tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "source": ["# title"]},
                    {"cell_type": "code", "source": ["%pip install flax\n", "a = 1\n"]},
                    {"cell_type": "code", "source": "if a:\n    !ls\nb = a + 1"}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "s.ipynb").write_text(json.dumps(nb))
    src = resolve(tmp_path / "s.ipynb", 1 << 20)
    ns: dict = {}
    exec(src.code, ns)  # the extracted code is valid Python (indented magic became `pass`)
    assert ns["b"] == 2 and src.notes and "dropped" in src.notes[0].text


# -- folders: PrairieLearn keeps the configured name's folders (src/solution.py under /grade/student/src/)

def test_a_solution_in_a_subfolder_is_found(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "solution.py").write_bytes(REF.read_bytes())
    (tmp_path / ".ipynb_checkpoints").mkdir()                   # Jupyter's copies are not candidates
    (tmp_path / ".ipynb_checkpoints" / "solution-checkpoint.ipynb").write_text("{}")
    (tmp_path / "src" / "__pycache__").mkdir()
    (tmp_path / "src" / "__pycache__" / "stale.py").write_text("x = 1\n")
    src = resolve(tmp_path, 1 << 20)
    assert src.problem is None and src.code == REF.read_bytes()


def test_four_levels_down_is_searched_five_is_not(tmp_path):
    four = tmp_path / "ok" / "a" / "b" / "c" / "d"
    five = tmp_path / "deep" / "a" / "b" / "c" / "d" / "e"
    for folder in (four, five):
        folder.mkdir(parents=True)
        (folder / "solution.py").write_bytes(REF.read_bytes())
    assert resolve(tmp_path / "ok", 1 << 20).code == REF.read_bytes()
    problem = resolve(tmp_path / "deep", 1 << 20).problem
    assert problem.startswith("no solution file") and "more than 4 levels down" in problem


def test_two_solutions_in_different_folders_are_several(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "solution.py").write_text("x = 1\n")
    (tmp_path / "solution.py").write_text("x = 1\n")
    problem = resolve(tmp_path, 1 << 20).problem
    assert "several candidate solution files (solution.py, src/solution.py)" in problem


def test_a_linked_folder_is_never_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "solution.py").write_bytes(REF.read_bytes())
    sub = tmp_path / "sub"
    sub.mkdir()
    os.symlink(outside, sub / "src")
    assert resolve(sub, 1 << 20).problem.startswith("no solution file")


def test_a_folder_bomb_is_bounded(tmp_path):
    from grader.submission import MAX_ENTRIES
    for i in range(MAX_ENTRIES + 1):
        (tmp_path / f"f{i}.txt").write_text("")
    assert f"more than {MAX_ENTRIES} files and folders" in resolve(tmp_path, 1 << 20).problem
