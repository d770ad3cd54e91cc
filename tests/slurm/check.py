"""The grading half of `make slurm-test`, run by tests/slurm/run.sh once its private cluster is up
(SLURM_CONF set): `grader slurm` on a folder of the bundle's examples in 2 tasks of 1 CPU, one task
cancelled after its first record, the same command rerun, and the merged gradebook compared with a
plain `batch` of the same folder. Exit 0 when everything holds; prints the timings (submit -> merged).

Usage: check.py BUNDLE WORK   (WORK: a new folder, removed by run.sh)
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from grader.fleet.batch import shard_of
from grader.fleet.records import content_hash, read_records

# (example, shard it must land in): shard 1 gets three, so cancelling it after its first record
# leaves two to grade on the rerun; shard 0 runs to the end untouched.
PICK = [("accepted/basic_einsum_length.py", 1), ("wrong_answer/variant_t_minus_1.py", 1),
        ("run_time_error/basic_value_error.py", 1), ("compile_error/basic_syntax_error.py", 0),
        ("accepted/pitfall_fori_loop_static.py", 0)]
LIMITS = {"load_time_s": 40, "case_time_s": 15, "total_time_s": 150, "output_bytes": 65536, "scratch_mb": 16}
HIDDEN = 2
DEADLINE_S = 270.0


def fail(msg: str) -> None:
    print(f"slurm-test: FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def make_problem(bundle: Path, dest: Path) -> Path:
    """The bundle's problem with short limits, its golden data and its reference (warm needs it),
    trimmed to the first HIDDEN hidden cases: the check grades public cases only, and warming all 27
    hidden ones took 114 s of the budget on a loaded 2-core box."""
    raw = yaml.safe_load((bundle / "problem.yaml").read_text())
    raw["limits"] = {**raw.get("limits", {}), **LIMITS}
    raw["cases"]["hidden"] = raw["cases"]["hidden"][:HIDDEN]
    kept = {c["id"] for group in raw["cases"].values() for c in group}
    shutil.copytree(bundle / "tests" / "data", dest / "tests" / "data")
    shutil.copytree(bundle / "reference", dest / "reference")
    for name in ("hidden.yaml", "variants.yaml"):       # both list cases by id
        path = dest / "tests" / "data" / name
        if path.exists():
            data = yaml.safe_load(path.read_text())
            data["cases"] = [c for c in data["cases"] if c["id"] in kept]
            path.write_text(yaml.safe_dump(data, sort_keys=False))
    (dest / "problem.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return dest / "problem.yaml"


def make_class(bundle: Path, dest: Path) -> dict[str, int]:
    """One file per example; a trailing comment moves it into the shard PICK wants (content hash)."""
    dest.mkdir(parents=True)
    where = {}
    for rel, shard in PICK:
        text = (bundle / "tests" / "submissions" / rel).read_bytes()
        path = dest / Path(rel).name
        for n in range(64):
            path.write_bytes(text + f"\n# copy {n}\n".encode())
            if shard_of(content_hash(path), 2) == shard:
                break
        where[path.name] = shard
    return where


def wait_until(what: str, predicate, timeout: float, proc: subprocess.Popen | None = None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = predicate()
        if got:
            return got
        if proc is not None and proc.poll() is not None:
            fail(f"`grader slurm` ended (status {proc.returncode}) before {what}")
        time.sleep(0.1)
    fail(f"no {what} within {timeout:.0f} s")


def gradebook(path: Path) -> dict[str, tuple]:
    return {r["key"]: (r["verdict"]["verdict"], r["verdict"]["score"], r["verdict"]["max_score"])
            for r in read_records(path, strict=True)}


def main() -> None:
    # run.sh's cleanup sends SIGTERM: unwind through the finally blocks (subprocess.run kills its child).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    bundle, work = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    work.mkdir(parents=True)
    t_start = time.monotonic()
    problem = make_problem(bundle, work / "problem")
    where = make_class(bundle, work / "class")
    # A cache of its own, cold: both tasks start together and must share one warm.
    env = {**os.environ, "GRADER_JAX_CACHE": str(work / "cache")}
    grader = [str(bundle / "bin" / "grader"), "--problem", str(problem)]
    out, csv = work / "out" / "results.jsonl", work / "out" / "grades.csv"
    folder = out.parent / "results.jsonl.slurm"
    cmd = grader + ["slurm", str(work / "class"), "--out", str(out), "--csv", str(csv), "--tasks", "2",
                    "--cpus-per-task", "1", "--cases", "public"]
    (work / "out").mkdir()

    # Run 1, from a folder that is not the bundle: cancel task 1 once its first record has landed.
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=work, env=env, stderr=subprocess.PIPE, text=True)
    try:
        shard1 = folder / "shard-1.jsonl"
        wait_until("first record of task 1", lambda: read_records(shard1, strict=False), DEADLINE_S, proc)
        job = json.loads((folder / "plan.json").read_text())["job"]
        subprocess.run(["scancel", f"{job}_1"], check=True)
        _, err1 = proc.communicate(timeout=DEADLINE_S)
    finally:
        if proc.poll() is None:       # stopped by run.sh or a failure: take the waiting command along
            proc.kill()
            proc.wait()
    t1 = time.monotonic()
    sys.stderr.write(err1)
    kept = read_records(shard1, strict=False)
    if proc.returncode != 3 or "unfinished" not in err1 or out.exists():
        fail(f"run 1 should stop at exit 3 without a gradebook, got {proc.returncode}")
    if not 1 <= len(kept) < sum(1 for s in where.values() if s == 1):
        fail(f"task 1 was not cancelled in the middle: {len(kept)} records in its shard")
    # Both tasks started together on a cold cache: one warmed it, the other waited and reused it.
    warm_lines = sorted(line for log in (folder / "logs").glob(f"task-*.job-{job}.out")
                        for line in log.read_text().splitlines() if line.startswith(("warmed ", "reused ")))
    if [line.split(" ", 1)[0] for line in warm_lines] != ["reused", "warmed"]:
        fail(f"the two tasks should share one warm, their logs say {warm_lines}")

    # Run 2: only shard 1 is submitted again, its graded record is kept, the rest is graded.
    proc = subprocess.run(cmd, cwd=work, env=env, stderr=subprocess.PIPE, text=True, timeout=DEADLINE_S)
    t2 = time.monotonic()
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0 or not out.exists() or not csv.exists():
        fail(f"run 2 should merge everything, exit status {proc.returncode}")
    if "1 of 2 tasks (1)" not in proc.stderr:
        fail("run 2 should resubmit task 1 only")
    merged = read_records(out, strict=True)
    again = {r["key"]: r for r in merged}
    for rec in kept:
        if again[rec["key"]] != rec:
            fail(f"{rec['key']} was regraded instead of reused")
    if {r["key"] for r in merged} != set(where) or any(not r.get("node") or not r.get("isolation") for r in merged):
        fail("the merged records miss a submission, their node or their isolation")

    # The same folder with plain batch: the gradebooks must agree, verdicts and scores.
    plain, plain_csv = work / "plain.jsonl", work / "plain.csv"
    t3 = time.monotonic()
    b = subprocess.run(grader + ["batch", str(work / "class"), "--jobs", "1", "--cases", "public", "--out",
                                 str(plain), "--csv", str(plain_csv)], cwd=work, env=env, stderr=subprocess.PIPE,
                       text=True, timeout=DEADLINE_S)
    t4 = time.monotonic()
    if b.returncode != 0:
        fail(f"plain batch exited {b.returncode}: {b.stderr[-400:]}")
    if gradebook(out) != gradebook(plain) or csv.read_text() != plain_csv.read_text():
        fail(f"gradebooks differ:\nslurm {gradebook(out)}\nbatch {gradebook(plain)}")
    print(f"slurm-test: passed; {len(where)} submissions, 2 tasks x 1 CPU; verdicts "
          f"{sorted(v for v, _s, _m in gradebook(out).values())}")
    print(f"  run 1 (submit -> task 1 cancelled -> array ended): {t1 - t0:.1f} s"
          " (one task warmed the cold cache, the other reused it)")
    print(f"  the warm in run 1: {warm_lines[1].split(': ', 1)[-1]}")
    print(f"  run 2 (resubmit task 1 -> merged):                {t2 - t1:.1f} s")
    print(f"  submit -> merged, both runs:                       {t2 - t0:.1f} s")
    print(f"  plain batch --jobs 1 of the same folder (warm):    {t4 - t3:.1f} s")
    print(f"  whole check:                                       {t4 - t_start:.1f} s")


if __name__ == "__main__":
    main()
