"""Grade a folder as one SLURM array job: `python -m grader slurm DIR --out results.jsonl [--csv grades.csv]
[--tasks N] [--cpus-per-task C] [--partition P] [--cases SET] [--isolation LEVEL] [--no-wait]
[-- extra sbatch options]`.

The batch folder `<out>.slurm/` beside --out holds the job script, one shard file per task
(`shard-I.jsonl`, written by `batch --shard I/N` on the node) and the tasks' logs. Array task I grades
shard I; only shards with something left to grade are submitted, so a rerun after a failed, cancelled
or preempted task grades only what is missing (the batch inside each task resumes its own shard too).
While the array runs, the same progress line as `batch` is printed from the records as they land;
when it ends, the shards are merged into --out (and --csv) only if every submission has a record.
Exit: 0, 2 (operator's mistake: no SLURM here, bad flags, a job of this folder still running),
3 (some record is JE, a shard was left unfinished, or sbatch/squeue failed), 130 (interrupted; the job
keeps running and a rerun picks it up).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from .. import BUNDLE_ROOT, Parser, UsageError
from .batch import Item, positive, progress, discover, shard_of
from .records import csv_text, environment_key, read_records, read_roster, reusable, summary, write_records, write_text
from .slurm_engine import Engine, job_script

POLL_S = 2.0
STATE_EVERY_S = 10.0
MAX_DEFAULT_TASKS = 16
OURS = ("--array", "-a", "--output", "-o", "--parsable", "--chdir", "-D", "--cpus-per-task", "-c",
        "--partition", "-p")   # sbatch options the command sets; extra ones must not override them


def main(argv: list[str], problem_path: Path | None = None) -> int:
    ours, extra = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    args = _parser().parse_args(ours)
    clash = [w for w in extra if w.split("=")[0] in OURS or any(w.startswith(f"{o}=") for o in OURS)]
    if clash:
        raise UsageError(f"sbatch option {clash[0]} is set by `grader slurm` itself (it picks the array's "
                         "tasks and the log files): leave it out")
    from ..grade import bundle_fingerprint, environment
    from ..problem import load_problem
    problem = load_problem(problem_path)
    root = Path(args.dir).resolve()
    if not root.is_dir():
        raise UsageError(f"{root}: not a folder of submissions")
    items = discover(root)
    if not items:
        raise UsageError(f"{root}: no submissions in it")
    out = Path(args.out).resolve()
    folder = out.parent / f"{out.name}.slurm"
    engine = Engine.find()
    plan = _plan(folder, root, args, len(items), engine)
    shards = {i: [it for it in items if shard_of(it.sha256, plan["tasks"]) == i] for i in range(plan["tasks"])}
    current = {"bundle": bundle_fingerprint(problem.root), "cases": args.cases,
               "env": environment_key({"verdict": {"environment": environment("process")}})}
    todo = _unfinished(folder, shards, current)
    if todo:
        script = folder / "job.sh"
        write_text(script, job_script(BUNDLE_ROOT / "bin" / "grader", problem_path, root, folder, plan["tasks"],
                                      args.cases, args.isolation))
        t0 = time.monotonic()
        job = engine.submit(script, todo, args.cpus_per_task, args.partition, extra, folder)
        write_text(folder / "plan.json", json.dumps({**plan, "job": job}))
        left = len(items) - len(_graded(folder, shards, current, final=False))
        print(f"submitted job {job}: {len(todo)} of {plan['tasks']} tasks ({_ids(todo)}), {left} submissions "
              f"to grade, logs in {folder / 'logs'}", file=sys.stderr)
        if args.no_wait:
            print(f"when it ends (squeue -j {job}), rerun the same command to merge, or: {BUNDLE_ROOT}/bin/grader "
                  f"merge {folder}/shard-*.jsonl --out {out}", file=sys.stderr)
            return 0
        try:
            states = _wait(engine, job, folder, shards, current, t0)
        except KeyboardInterrupt:
            print(f"interrupted: job {job} keeps running; rerun the same command to wait for it and merge "
                  f"(or scancel {job})", file=sys.stderr)
            return 130
        print(f"array ended after {time.monotonic() - t0:.0f} s (submit -> end): "
              + (", ".join(f"task {i} {s}" for i, s in sorted(states.items(), key=lambda t: (len(t[0]), t[0]))) or "SLURM no longer lists it"),
              file=sys.stderr)
    return _merge(folder, shards, current, out, args.csv, read_roster(root))


def _parser():
    p = Parser(prog="python -m grader slurm", description="grade a folder as one SLURM array job")
    p.add_argument("dir")
    p.add_argument("--out", required=True, help="the merged JSONL of records, written when the array ends")
    p.add_argument("--csv", help="the merged gradebook CSV")
    p.add_argument("--tasks", type=positive, default=None,
                   help=f"array tasks = shards (default: one per submission, at most {MAX_DEFAULT_TASKS}; "
                        "fixed for the batch folder once chosen)")
    p.add_argument("--cpus-per-task", type=positive, default=1, help="also each task's batch --jobs")
    p.add_argument("--partition")
    p.add_argument("--cases", choices=("public", "hidden", "all"), default="all")
    p.add_argument("--isolation", choices=("bwrap", "uid", "process"), default=None)
    p.add_argument("--no-wait", action="store_true", help="submit, print how to merge later, and exit")
    return p


def _plan(folder: Path, root: Path, args, n_items: int, engine: Engine) -> dict:
    """The batch folder's fixed facts: its export and its number of shards (changing N would move
    every submission to another shard file). A job of this folder still running blocks a new one."""
    path = folder / "plan.json"
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        old = None
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: unreadable ({e}): remove {folder} to start over") from None
    if old is not None and not (isinstance(old, dict) and isinstance(old.get("tasks"), int)):
        raise UsageError(f"{path}: not a plan written by `grader slurm`: remove {folder} to start over")
    try:
        (folder / "logs").mkdir(parents=True, exist_ok=True)   # sbatch's --output goes there
    except OSError as e:
        raise UsageError(f"{folder}: cannot create the batch folder ({e.strerror})") from None
    if old is None:
        return {"dir": str(root), "tasks": args.tasks or min(n_items, MAX_DEFAULT_TASKS)}
    if old.get("dir") != str(root):
        raise UsageError(f"{folder} belongs to {old.get('dir')}, not {root}: use another --out")
    if args.tasks and args.tasks != old.get("tasks"):
        raise UsageError(f"{folder} was split into --tasks {old.get('tasks')}: pass that, or remove {folder} "
                         "to regrade everything in another split")
    if old.get("job") and engine.active(str(old["job"])):
        raise UsageError(f"job {old['job']} of {folder} is still running: wait for it (squeue -j {old['job']}) "
                         f"or scancel it, then rerun")
    return {"dir": str(root), "tasks": int(old["tasks"])}


def _shard_records(folder: Path, i: int) -> list[dict]:
    return read_records(folder / f"shard-{i}.jsonl", strict=False)


def _graded(folder: Path, shards: dict[int, list[Item]], current: dict, *, final: bool) -> dict[str, dict]:
    """Each submission's current record. While running, only reusable ones count as progress; at the
    end a JE record counts as graded (it goes into the gradebook, as batch does, and is regraded next time)."""
    got = {}
    for i, items in shards.items():
        want = {it.key: it for it in items}
        for rec in _shard_records(folder, i):
            it = want.get(rec["key"])
            if it is not None and (reusable(rec, it.sha256, current) or final and _is_je_of(rec, it, current)):
                got[rec["key"]] = rec
    return got


def _is_je_of(rec: dict, item: Item, current: dict) -> bool:
    """A JE of this run's bundle and environment: what reusable() says minus the verdict."""
    return rec["verdict"].get("verdict") == "JE" and reusable(
        {**rec, "verdict": {**rec["verdict"], "verdict": "not JE"}}, item.sha256, current)


def _unfinished(folder: Path, shards: dict[int, list[Item]], current: dict) -> list[int]:
    done = _graded(folder, shards, current, final=False)
    return [i for i, items in shards.items() if any(it.key not in done for it in items)]


def _wait(engine: Engine, job: str, folder: Path, shards, current, t0: float) -> dict[str, str]:
    """Progress lines from the shard files until no task of the array is pending or running."""
    total = sum(len(v) for v in shards.values())
    seen = set(_graded(folder, shards, current, final=False))
    start, last_state, states = len(seen), 0.0, {}
    while True:
        for key, rec in sorted(_graded(folder, shards, current, final=False).items()):
            if key not in seen:
                seen.add(key)
                graded = len(seen) - start
                progress(len(seen), total, rec, time.monotonic() - t0, graded, total - len(seen))
        if time.monotonic() - last_state >= STATE_EVERY_S or len(seen) == total:
            last_state = time.monotonic()
            states = engine.states(job)
            if not any(s in Engine.ACTIVE for s in states.values()):
                return states
        time.sleep(POLL_S)


def _merge(folder: Path, shards, current, out: Path, csv: str | None, roster) -> int:
    records = _graded(folder, shards, current, final=True)
    missing = [it.key for items in shards.values() for it in items if it.key not in records]
    if missing:
        left = sorted(i for i, items in shards.items() if any(it.key in missing for it in items))
        print(f"{len(records)} of {len(records) + len(missing)} graded; shards {_ids(left)} unfinished (logs in "
              f"{folder / 'logs'}): rerun the same command to grade the rest; {out} was not written",
              file=sys.stderr)
        return 3
    merged = []
    for key in sorted(records):
        rec = dict(records[key])
        rec["students"] = roster.get(key, rec.get("students") or [])
        merged.append(rec)
    write_records(out, merged)
    if csv:
        write_text(Path(csv), csv_text(merged))
    sys.stderr.write(f"merged {len(shards)} shards into {out}\n" + summary(merged))
    return 3 if any(r["verdict"].get("verdict") == "JE" for r in merged) else 0


def _ids(indices) -> str:
    return ",".join(str(i) for i in indices)

