"""`grader slurm` without a cluster: the job script, argument errors, and the merge-after-cancel logic
against fake `sbatch`/`squeue` on PATH. The real cluster run is `make slurm-test` (tests/slurm/)."""
from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli
from grader.fleet.batch import shard_of
from grader.grade import bundle_fingerprint, environment
from grader.fleet.records import RECORD_VERSION, content_hash, environment_key, read_records, reusable, where_graded
from grader.fleet.slurm_engine import job_script, parse_states


def _fake(bin_dir: Path, name: str, body: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    """PATH with a fake sbatch (logs its argv, prints job 42) and squeue (prints $tmp/states)."""
    bin_dir = tmp_path / "bin"
    _fake(bin_dir, "sbatch", f'echo "$@" >> {tmp_path}/sbatch.log\necho "42;cluster"\n')
    _fake(bin_dir, "squeue", f'cat {tmp_path}/states 2>/dev/null\n')
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    (tmp_path / "states").write_text("0|COMPLETED\n1|CANCELLED by 0\n")
    return tmp_path


def _class(root: Path, n: int = 6) -> dict[str, Path]:
    """n files, student i in shard i % 2 of 2 (a comment varies the content until it lands there)."""
    root.mkdir()
    paths = {}
    for i in range(n):
        path = paths[f"s{i}.py"] = root / f"s{i}.py"
        for copy in range(64):
            path.write_text(f"# student {i}, copy {copy}\n")
            if shard_of(content_hash(path), 2) == i % 2:
                break
    return paths


def _record(problem, path: Path, verdict: str = "AC", node: str = "node-a") -> dict:
    v = {"verdict": verdict, "score": 100 if verdict == "AC" else 0, "max_score": 100, "cases": [],
         "feedback": [], "bundle": {"fingerprint": bundle_fingerprint(problem.root)},
         "environment": environment("bwrap")}
    return {"record_version": RECORD_VERSION, "key": path.name, "path": str(path), "cases": "all",
            "content_sha256": content_hash(path), "students": [], "node": node, "isolation": "bwrap", "verdict": v}


def _write(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_job_script_warms_once_then_grades_its_own_shard(tmp_path):
    """Run the script with a fake grader: task 3 warms with --reuse, then batch grades shard 3/5 into
    shard-3.jsonl with one job per CPU; paths with spaces survive the quoting."""
    fake = tmp_path / "b in" / "grader"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "[%s]" "$a"; done >> "{tmp_path}/calls"; echo >> "{tmp_path}/calls"\n')
    fake.chmod(0o755)
    root, folder = tmp_path / "my class", tmp_path / "out dir"
    text = job_script(fake, tmp_path / "p.yaml", root, folder, 5, "public", "uid")
    script = tmp_path / "job.sh"
    script.write_text(text)
    env = {"PATH": os.environ["PATH"], "SLURM_ARRAY_TASK_ID": "3", "SLURM_CPUS_PER_TASK": "2"}
    subprocess.run(["bash", str(script)], env=env, check=True, capture_output=True)
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls == [f"[--problem][{tmp_path}/p.yaml][warm][--reuse]",
                     f"[--problem][{tmp_path}/p.yaml][batch][{root}][--cases][public][--isolation][uid]"
                     f"[--jobs][2][--shard][3/5][--out][{folder}/shard-3.jsonl]"]
    # Outside an array task it refuses instead of grading a shard "" of 5.
    bad = subprocess.run(["bash", str(script)], env={"PATH": os.environ["PATH"]}, capture_output=True, text=True)
    assert bad.returncode != 0 and "sbatch --array" in bad.stderr


def test_squeue_states_are_parsed_with_pending_ranges_and_reasons():
    assert parse_states("0|COMPLETED\n1|CANCELLED by 0\n2-5|PENDING\n\n") == \
        {"0": "COMPLETED", "1": "CANCELLED", "2-5": "PENDING"}


@pytest.mark.parametrize("argv, says", [
    (["slurm", "/nonexistent/class", "--out", "x.jsonl"], "not a folder"),
    (["slurm", ".", "--out", "x.jsonl", "--tasks", "0"], "positive"),
    (["slurm", ".", "--out", "x.jsonl", "--cpus-per-task", "two"], "positive"),
    (["slurm", "."], "--out"),
    (["slurm", ".", "--out", "x.jsonl", "--", "--time=5", "--array=0-3"], "--array=0-3 is set by"),
    (["slurm", ".", "--out", "x.jsonl", "--", "-o", "log"], "-o is set by"),
])
def test_operator_mistakes_exit_2_with_one_line(argv, says):
    code, _out, err = run_cli(argv)
    assert code == 2 and says in err and err.count("\n") == 1, err


def test_without_sbatch_on_path_it_is_the_operators_mistake(tmp_path, monkeypatch, test_problem_path):
    _class(tmp_path / "class")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code, _o, err = run_cli(["--problem", str(test_problem_path), "slurm", str(tmp_path / "class"), "--out",
                             str(tmp_path / "r.jsonl")])
    assert code == 2 and "sbatch and squeue not found" in err and err.count("\n") == 1, err


def test_a_failing_sbatch_is_the_engines_failure_exit_3(cluster, test_problem_path):
    _fake(cluster / "bin", "sbatch", 'echo "sbatch: error: Batch job submission failed: Invalid partition" >&2\nexit 1\n')
    _class(cluster / "class")
    code, _o, err = run_cli(["--problem", str(test_problem_path), "slurm", str(cluster / "class"), "--out",
                             str(cluster / "r.jsonl"), "--partition", "nope"])
    assert code == 3 and "sbatch refused the job: sbatch: error: Batch job submission failed" in err, err
    assert err.count("\n") == 1


def test_cancelled_shard_is_resubmitted_alone_then_merged(cluster, test_problem_path, test_problem):
    """Shard 0 finished, shard 1 was cancelled after one record: the run submits only task 1, writes
    no gradebook while a submission lacks its record (exit 3), and once the rerun's task has written
    it, merges without submitting anything."""
    paths = _class(cluster / "class")
    shard = {k: shard_of(content_hash(p), 2) for k, p in paths.items()}
    assert sorted(set(shard.values())) == [0, 1]
    folder, out, csv = cluster / "r.jsonl.slurm", cluster / "r.jsonl", cluster / "g.csv"
    ones = sorted(k for k in paths if shard[k] == 1)
    _write(folder / "shard-0.jsonl", [_record(test_problem, paths[k], "WA") for k in paths if shard[k] == 0])
    _write(folder / "shard-1.jsonl", [_record(test_problem, paths[ones[0]], node="node-b")])
    argv = ["--problem", str(test_problem_path), "slurm", str(cluster / "class"), "--out", str(out), "--csv",
            str(csv), "--tasks", "2", "--cases", "all", "--", "--time=5"]
    code, _o, err = run_cli(argv)
    assert code == 3 and "shards 1 unfinished" in err and not out.exists() and not csv.exists(), err
    sbatch = (cluster / "sbatch.log").read_text().splitlines()
    assert len(sbatch) == 1 and "--array=1 " in sbatch[0] and "--time=5" in sbatch[0]
    assert sbatch[0].endswith(str(folder / "job.sh")) and (folder / "job.sh").is_file()
    assert json.loads((folder / "plan.json").read_text())["job"] == "42"
    # Changing the split of an existing batch folder would move submissions between shard files.
    code, _o, err = run_cli(argv[:-2] + ["--tasks", "3"])
    assert code == 2 and "--tasks 2" in err
    # The rerun's task 1 wrote the missing records (on yet another node): now everything merges.
    _write(folder / "shard-1.jsonl", [_record(test_problem, paths[k], node=f"node-{k}") for k in ones])
    code, _o, err = run_cli(argv)
    assert code == 0, err
    assert len((cluster / "sbatch.log").read_text().splitlines()) == 1      # nothing resubmitted
    merged = read_records(out, strict=True)
    assert [r["key"] for r in merged] == sorted(paths)
    assert csv.read_text().count("\n") == 1 + len(paths)


def test_a_je_record_goes_into_the_gradebook_and_its_shard_is_graded_again(cluster, test_problem_path,
                                                                         test_problem):
    paths = _class(cluster / "class", 4)
    folder, out = cluster / "r.jsonl.slurm", cluster / "r.jsonl"
    for i in (0, 1):
        _write(folder / f"shard-{i}.jsonl", [_record(test_problem, paths[f"s{k}.py"], "JE" if k == 3 else "AC")
                                            for k in range(4) if k % 2 == i])
    (folder / "plan.json").write_text(json.dumps({"dir": str(cluster / "class"), "tasks": 2, "job": "41"}))
    argv = ["--problem", str(test_problem_path), "slurm", str(cluster / "class"), "--out", str(out)]
    code, _o, err = run_cli(argv)
    assert code == 3 and out.exists(), err
    assert sorted(r["verdict"]["verdict"] for r in read_records(out, strict=True)) == ["AC", "AC", "AC", "JE"]
    assert "--array=1 " in (cluster / "sbatch.log").read_text()      # only the JE's shard again


def test_a_job_of_the_folder_still_running_blocks_a_second_submission(cluster, test_problem_path):
    _class(cluster / "class")
    argv = ["--problem", str(test_problem_path), "slurm", str(cluster / "class"), "--out",
            str(cluster / "r.jsonl"), "--no-wait"]
    code, _o, err = run_cli(argv)
    assert code == 0 and "rerun the same command to merge" in err, err
    (cluster / "states").write_text("0|RUNNING\n1-5|PENDING\n")
    code, _o, err = run_cli(argv)
    assert code == 2 and "job 42" in err and "still running" in err, err


def test_records_differing_only_in_node_are_reused_and_merged(tmp_path, test_problem):
    paths = _class(tmp_path / "class", 2)
    a = _record(test_problem, paths["s0.py"], node="node-a")
    b = {**_record(test_problem, paths["s1.py"], node="node-b"), "isolation": "uid"}
    b["verdict"]["environment"] = environment("uid")
    current = {"bundle": bundle_fingerprint(test_problem.root), "cases": "all",
               "env": environment_key({"verdict": {"environment": environment("process")}})}
    assert reusable(a, content_hash(paths["s0.py"]), current) and reusable(b, content_hash(paths["s1.py"]), current)
    _write(tmp_path / "a.jsonl", [a])
    _write(tmp_path / "b.jsonl", [b])
    code, _o, err = run_cli(["merge", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--out",
                             str(tmp_path / "all.jsonl")])
    assert code == 0, err
    assert {r["node"] for r in read_records(tmp_path / "all.jsonl", strict=True)} == {"node-a", "node-b"}
    assert where_graded({"environment": {"isolation": "uid"}})["isolation"] == "uid"


def test_bin_grader_runs_merge_from_any_folder_without_touching_the_venv(tmp_path, test_problem):
    """`merge` from a folder that is not the bundle (the issue: `No module named grader`), through
    bin/grader; the venv gains no .pth or path file pointing at the bundle (sandboxed children use it)."""
    from grader import BUNDLE_ROOT
    paths = _class(tmp_path / "class", 1)
    _write(tmp_path / "a.jsonl", [_record(test_problem, paths["s0.py"])])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(BUNDLE_ROOT / "bin" / "grader"), "merge", "a.jsonl", "--out", "all.jsonl"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "merged 1 files" in proc.stderr, proc.stderr
    assert [r["key"] for r in read_records(tmp_path / "all.jsonl", strict=True)] == ["s0.py"]
    site = list((BUNDLE_ROOT / ".venv" / "lib").glob("python3*/site-packages"))
    assert site and not [p for s in site for p in s.glob("*.pth") if str(BUNDLE_ROOT) in p.read_text()]
