"""Every example under tests/submissions/<folder>/ gets its folder's verdict (problemtools-style).

A file may say `# grade: all` (grade public + hidden cases; default public only) and
`# isolation: bwrap uid` (grade it under each of those levels; default: the best available).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import example_submissions, one_case_bundle
from grader.grade import grade
from grader.problem import load_problem

FOLDER_VERDICT = {"accepted": "AC", "wrong_answer": "WA", "run_time_error": "RTE",
                  "time_limit_exceeded": "TLE", "memory_limit_exceeded": "MLE",
                  "output_limit_exceeded": "OLE", "compile_error": "CE"}


def _directives(path: Path) -> tuple[str, list[str | None]]:
    try:
        head = path.read_bytes()[:4096].decode("utf-8", "replace") if not path.is_symlink() else ""
    except OSError:
        head = ""
    sets = "all" if re.search(r"^# grade: all\s*$", head, re.M) else "public"
    m = re.search(r"^# isolation: ([a-z ]+)$", head, re.M)
    return sets, (m.group(1).split() if m else [None])


def _params():
    out = []
    for folder, path in example_submissions():
        sets, levels = _directives(path)
        for level in levels:
            out.append(pytest.param(folder, path, sets, level, id=f"{folder}/{path.name}[{level or 'best'}]"))
    return out


# Limit folders run against one case, so a TLE costs one time limit, not one per case. The memory
# hog gets a lower limit and a longer case: it must meet the memory limit before the time limit
# even when two busy cores fill memory at only ~400 MB/s.
LIMIT_FOLDERS = {"time_limit_exceeded": {"case_time_s": 4, "total_time_s": 30},
                 "output_limit_exceeded": {},
                 "memory_limit_exceeded": {"memory_mb": 500, "case_time_s": 15}}


@pytest.fixture(scope="session")
def limit_problems(tmp_path_factory):
    base = {"load_time_s": 20, "case_time_s": 8, "total_time_s": 60, "memory_mb": 900,
            "output_bytes": 65536, "scratch_mb": 16}
    return {folder: load_problem(one_case_bundle(tmp_path_factory.mktemp(folder), **{**base, **extra}))
            for folder, extra in LIMIT_FOLDERS.items()}


@pytest.mark.parametrize("folder,path,sets,isolation", _params())
def test_example_gets_its_folders_verdict(folder, path, sets, isolation, test_problem, limit_problems):
    assert folder in FOLDER_VERDICT, f"unknown folder {folder}"
    v = grade(limit_problems.get(folder, test_problem), path, sets, isolation)
    detail = "\n".join(f"{c.id}: {c.verdict} {c.message}" for c in v.cases)
    detail += "\n" + "\n".join(f"{k.id}: {k.passed} {k.message}" for k in v.checks)
    assert v.verdict == FOLDER_VERDICT[folder], detail + f"\ninternal: {v.internal}"
    if folder == "accepted":
        assert v.score == pytest.approx(v.max_score), detail


def test_every_folder_has_examples():
    counts = {folder: 0 for folder in FOLDER_VERDICT}
    for folder, _ in example_submissions():
        counts[folder] = counts.get(folder, 0) + 1
    assert set(counts) == set(FOLDER_VERDICT), f"unexpected folders: {set(counts) - set(FOLDER_VERDICT)}"
    for folder in ("accepted", "wrong_answer", "run_time_error", "compile_error"):
        assert counts[folder] >= 3, f"{folder} has {counts[folder]} examples; want at least 3"
