"""Batch regrading: a class graded, interrupted twice (SIGTERM, then SIGINT), resumed, merged."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import BUNDLE_ROOT
from grader.fleet.batch import discover, shard_of
from grader.fleet.records import read_roster
from grader.grade import grade
from grader.fleet.records import read_records
from grader import UsageError

from conftest import run_cli

SUBS = BUNDLE_ROOT / "tests" / "submissions"
KINDS = {
    "ac": (BUNDLE_ROOT / "reference" / "solution.py").read_text(),
    "rte": (BUNDLE_ROOT / "starter" / "solution.py").read_text(),
    "wa": (SUBS / "wrong_answer" / "variant_t_plus_1.py").read_text(),
    "ce": "def lax_scan_in_module(seed, x, hidden, T)\n    return x\n",
}
METADATA = """\
submission_0001:
  :submitters:
  - :name: Ada Lovelace
    :sid: '1001'
    :email: ada@example.edu
  :created_at: 2024-05-01 10:00:00.000000000 -07:00
  :score: !ruby/object:BigDecimal 18:0.0
submission_0006:
  :submitters:
  - :name: Alan Turing
    :sid: '1006'
    :email: alan@example.edu
  - :name: Grace Hopper
    :sid: '1007'
    :email: grace@example.edu
"""


def make_class(root: Path, n: int = 20) -> dict[str, str]:
    """n submissions cycling through the kinds; every 5th is a Gradescope-style folder. key -> kind."""
    root.mkdir()
    kinds = {}
    for i in range(n):
        kind = list(KINDS)[i % len(KINDS)]
        text = KINDS[kind] + f"\n# student {i}\n"
        if i % 5 == 1:
            key = f"submission_{i:04d}"
            (root / key).mkdir()
            (root / key / "solution.py").write_text(text)
        else:
            key = f"s{i:02d}_{kind}.py"
            (root / key).write_text(text)
        kinds[key] = kind
    (root / "submission_metadata.yml").write_text(METADATA)
    return kinds


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _interrupt_after(argv: list[str], out: Path, records: int, sig: int) -> int:
    proc = subprocess.Popen(argv, cwd=BUNDLE_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    end = time.monotonic() + 600
    while len(_lines(out)) < records and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert b"interrupted" in err or proc.returncode == 0, err[-2000:]
    return proc.returncode


def _workers_of(folder: Path) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "--worker" in cmd and str(folder) in cmd:
            found.append(cmd)
    return found


def test_batch_interrupted_twice_then_resumed_gives_one_record_each(tmp_path, test_problem_path, test_problem):
    subs = tmp_path / "class"
    kinds = make_class(subs)
    out, csv = tmp_path / "results.jsonl", tmp_path / "grades.csv"
    argv = [sys.executable, "-m", "grader", "--problem", str(test_problem_path), "batch", str(subs),
            "--jobs", "2", "--cases", "public", "--out", str(out)]
    assert _interrupt_after(argv, out, 3, signal.SIGTERM) in (130, 0)
    assert _workers_of(subs) == []
    first = set(_lines(out))
    assert len(first) >= 3
    assert _interrupt_after(argv, out, len(first) + 3, signal.SIGINT) in (130, 0)
    assert _workers_of(subs) == []
    second = set(_lines(out))
    assert first <= second                       # a finished record is never lost nor regraded

    code, _out, err = run_cli(["--problem", str(test_problem_path), "batch", str(subs), "--jobs", "2",
                               "--cases", "public", "--out", str(out), "--csv", str(csv)])
    assert code == 0, err
    assert second <= set(_lines(out))
    records = read_records(out, strict=True)
    assert sorted(r["key"] for r in records) == sorted(kinds)          # exactly 20, one per key
    alone = {kind: grade(test_problem, subs / next(k for k, v in kinds.items() if v == kind), "public")
             for kind in KINDS}
    for r in records:
        solo = alone[kinds[r["key"]]]
        assert (r["verdict"]["verdict"], r["verdict"]["score"]) == (solo.verdict, solo.score), r["key"]
    assert "20 submissions: " in err and "most common failures" in err
    rows = csv.read_text().splitlines()
    assert rows[0].startswith("id,name,email,verdict,score,max,case:p01,")   # then per case and check
    group = alone[kinds["submission_0006"]]                              # one row per group member
    assert any(r.startswith(f"1006,Alan Turing,alan@example.edu,{group.verdict},{group.score:g},20,") for r in rows)
    assert any(r.startswith(f"1007,Grace Hopper,grace@example.edu,{group.verdict},{group.score:g},20,") for r in rows)
    assert any(r.startswith("1001,Ada Lovelace,ada@example.edu,") for r in rows)

    # A rerun grades nothing; merge of two halves gives the same gradebook; another bundle is refused.
    code, _o, err = run_cli(["--problem", str(test_problem_path), "batch", str(subs), "--cases", "public",
                             "--out", str(out)])
    assert code == 0 and "20 already graded, 0 to grade" in err
    lines = _lines(out)
    (tmp_path / "a.jsonl").write_text("\n".join(lines[:7]) + "\n")
    (tmp_path / "b.jsonl").write_text("\n".join(lines[7:]) + "\n")
    code, _o, err = run_cli(["merge", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"),
                             "--out", str(tmp_path / "all.jsonl"), "--csv", str(tmp_path / "all.csv")])
    assert code == 0, err
    assert (tmp_path / "all.csv").read_text() == csv.read_text()
    other = json.loads(lines[0])
    other["verdict"]["bundle"]["fingerprint"] = "0000000000000000"
    (tmp_path / "c.jsonl").write_text(json.dumps(other) + "\n")
    code, _o, err = run_cli(["merge", str(tmp_path / "a.jsonl"), str(tmp_path / "c.jsonl"), "--out",
                             str(tmp_path / "bad.jsonl")])
    assert code == 2 and "bundle" in err
    other = json.loads(lines[0])
    other["verdict"]["environment"]["jax"] = "0.0.1"
    (tmp_path / "c.jsonl").write_text(json.dumps(other) + "\n")
    code, _o, err = run_cli(["merge", str(tmp_path / "a.jsonl"), str(tmp_path / "c.jsonl"), "--out",
                             str(tmp_path / "bad.jsonl")])
    assert code == 2 and "environment" in err


def test_shards_split_the_class_stably_and_completely(tmp_path):
    make_class(tmp_path / "class")
    items = discover(tmp_path / "class")
    assert len(items) == 20
    parts = [{i.key for i in items if shard_of(i.sha256, 3) == s} for s in range(3)]
    assert set().union(*parts) == {i.key for i in items} and sum(map(len, parts)) == 20
    assert [i.sha256 for i in discover(tmp_path / "class")] == [i.sha256 for i in items]


def test_roster_reads_gradescope_metadata_with_ruby_tags(tmp_path):
    make_class(tmp_path / "class")
    roster = read_roster(tmp_path / "class")
    assert roster["submission_0001"] == [{"id": "1001", "name": "Ada Lovelace", "email": "ada@example.edu"}]
    assert [s["name"] for s in roster["submission_0006"]] == ["Alan Turing", "Grace Hopper"]


def test_a_record_cut_short_is_dropped_on_resume_but_refused_by_merge(tmp_path):
    path = tmp_path / "r.jsonl"
    good = json.dumps({"record_version": 1, "key": "a", "verdict": {"verdict": "AC"}})
    path.write_text(good + "\n" + good[:20])
    assert [r["key"] for r in read_records(path, strict=False)] == ["a"]
    with pytest.raises(UsageError):
        read_records(path, strict=True)


@pytest.mark.parametrize("argv, says", [
    (["batch", "/nonexistent/class", "--out", "x.jsonl"], "not a folder"),
    (["batch", ".", "--out", "x.jsonl", "--shard", "2/2"], "0 <= I < N"),
    (["batch", ".", "--out", "x.jsonl", "--jobs", "0"], "positive"),
    (["merge", "/nonexistent.jsonl", "--out", "x.jsonl"], "no such file"),
])
def test_operator_mistakes_exit_2_with_one_line(argv, says, tmp_path):
    code, _out, err = run_cli(argv)
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err


def test_batch_outputs_on_a_device_are_written_in_place_and_a_folder_is_refused(tmp_path, test_problem_path):
    """--out and --csv on a character device of the test's own (never the real /dev/null): written
    in place, never read back for resuming, never replaced; a folder is refused before grading."""
    import os
    import stat
    node = tmp_path / "null"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod needs root")
    empty = tmp_path / "class"
    empty.mkdir()
    code, _out, err = run_cli(["--problem", str(test_problem_path), "batch", str(empty), "--out", str(node),
                               "--csv", str(node)])
    assert code == 0, err
    assert stat.S_ISCHR(os.stat(node).st_mode) and os.stat(node).st_rdev == os.makedev(1, 3)
    code, _out, err = run_cli(["--problem", str(test_problem_path), "batch", str(empty), "--out", str(tmp_path)])
    assert code == 2 and "folder" in err and len(err.strip().splitlines()) == 1, err
