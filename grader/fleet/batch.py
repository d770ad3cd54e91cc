"""Grade a folder of submissions: `python -m grader batch DIR --out results.jsonl [--jobs N]
[--csv grades.csv] [--shard I/N] [--cases public|hidden|all] [--isolation LEVEL]`.

DIR holds one entry per student: a .py/.ipynb file or a folder (as Gradescope, PrairieLearn or an
LMS export them). Gradescope's `submission_metadata.yml`, when present, names the students.
Each submission is graded by its own grader process (`python -m grader.fleet.batch --worker`), so a
crash or a leak stays with one submission; the sandbox uids and scratch folders are each worker's.
Records are appended and flushed as each grading ends; a rerun reuses a record whose content hash,
bundle, environment and case set still match, and regrades the rest (a JE too). Ctrl-C or SIGTERM:
no new gradings start, running ones are stopped (their sandboxes cleaned up), finished records stay.
Exit: 0, 2 (operator error), 3 (some record is JE), 130 (interrupted).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .. import BUNDLE_ROOT, Parser, UsageError
from ..host.isolation import cpus_available
from ..host.zygote import batch_server
from ..output import open_append
from .records import (RECORD_VERSION, content_hash, csv_text, dump_line, environment_key, read_records,
                      read_roster, reusable, summary, where_graded, write_records, write_text, METADATA)

SUFFIXES = (".py", ".ipynb")
STOP_GRACE_S = 30.0
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@dataclass(frozen=True)
class Item:
    key: str
    path: Path
    sha256: str


def main(argv: list[str], problem_path: Path | None = None) -> int:
    args = _parser().parse_args(argv)
    from ..grade import bundle_fingerprint, environment
    from ..problem import load_problem
    problem = load_problem(problem_path)
    root = Path(args.dir).resolve()        # workers run from the bundle's folder
    if not root.is_dir():
        raise UsageError(f"{root}: not a folder of submissions")
    items = [i for i in discover(root) if args.shard is None or shard_of(i.sha256, args.shard[1]) == args.shard[0]]
    students = read_roster(root)
    out = Path(args.out)
    from ..output import classify
    classify(out)                          # a folder or a dangling link: exit 2 before grading
    if args.csv:
        classify(args.csv)
    current = {"bundle": bundle_fingerprint(problem.root), "env": environment_key(
        {"verdict": {"environment": environment("process")}}), "cases": args.cases}
    done, keep = _resume(out, items, current)
    todo = [i for i in items if i.key not in done]
    print(f"{len(items)} submissions in {root}{_shard_text(args.shard)}: {len(done)} already graded, "
          f"{len(todo)} to grade with {args.jobs} jobs", file=sys.stderr)
    finished, interrupted = _run(todo, args, problem, problem_path, students, out, len(done), len(items))
    records = keep + list(done.values()) + finished
    mine = [r for r in records if r["key"] in {i.key for i in items}]
    sys.stderr.write(summary(mine))
    if args.csv:
        write_text(Path(args.csv), csv_text(mine))
    if interrupted:
        print(f"interrupted: {len(done) + len(finished)} of {len(items)} graded; rerun the same command "
              "to grade the rest", file=sys.stderr)
        return 130
    return 3 if any(r["verdict"].get("verdict") == "JE" for r in mine) else 0


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m grader batch", description="grade every submission in a folder")
    p.add_argument("dir")
    p.add_argument("--out", required=True, help="JSONL of records, appended as gradings finish")
    p.add_argument("--csv", help="write a gradebook CSV (id, name, email, verdict, score, max, "
                   "then case:<id> and check:<id> columns)")
    p.add_argument("--jobs", type=positive, default=len(os.sched_getaffinity(0)))
    p.add_argument("--cases", choices=("public", "hidden", "all"), default="all")
    p.add_argument("--shard", type=_shard, default=None, metavar="I/N",
                   help="grade only shard I of N (0 <= I < N), split by content hash")
    p.add_argument("--isolation", choices=("bwrap", "uid", "process"), default=None)
    return p


def positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of jobs, got {text!r}")
    return n


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(p) for p in text.split("/"))
    except ValueError:
        i, n = -1, 0
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"expected I/N with 0 <= I < N, got {text!r}")
    return i, n


def _shard_text(shard) -> str:
    return f" (shard {shard[0]}/{shard[1]})" if shard else ""


def shard_of(sha256: str, n: int) -> int:
    return int(sha256[:16], 16) % n


def discover(root: Path) -> list[Item]:
    """One item per entry of the export: folders, links and solution files; nothing hidden."""
    items = []
    for p in sorted(root.iterdir(), key=lambda q: q.name):
        if p.name.startswith(".") or p.name in (METADATA, "submission_metadata.json"):
            continue
        if p.is_dir() or p.is_symlink() or p.suffix in SUFFIXES:
            items.append(Item(p.name, p, content_hash(p)))
    return items


def _resume(out: Path, items: list[Item], current: dict) -> tuple[dict[str, dict], list[dict]]:
    """Reusable records of this run's items, and every other key's records (kept as they are).
    The file is rewritten without stale records, so each key ends with exactly one."""
    wanted = {i.key: i for i in items}
    done, keep = {}, []
    from ..output import is_regular
    if not is_regular(out):   # `-`, a device or a FIFO: nothing to resume from, nothing to rewrite
        return done, keep
    existing = read_records(out, strict=False)
    for rec in existing:
        item = wanted.get(rec["key"])
        if item is None:
            keep.append(rec)
        elif reusable(rec, item.sha256, current):
            done[rec["key"]] = rec
    if existing or not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        write_records(out, keep + list(done.values()))
    return done, keep


def _run(todo: list[Item], args, problem, problem_path, students, out: Path, done0: int, total: int):
    """Keep `jobs` workers busy; returns (new records, interrupted)."""
    finished: list[dict] = []
    running: dict[subprocess.Popen, tuple[Item, Path, float]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="lax-batch-"))
    old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    interrupted = False
    queue = list(todo)
    t0 = time.monotonic()
    server = batch_server(args.isolation)     # every worker's children are forked from it
    try:
        with open_append(out) as sink:
            try:
                while queue or running:
                    while queue and len(running) < args.jobs:
                        item = queue.pop(0)
                        result = tmp / f"{len(queue)}-{item.sha256[:12]}.json"
                        # An interrupt between the fork and the bookkeeping would leave a worker that
                        # _stop never sees: signals wait until it is in `running`.
                        old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
                        try:
                            running[_start_worker(item, result, args, problem_path, server)] = \
                                (item, result, time.monotonic())
                        finally:
                            signal.pthread_sigmask(signal.SIG_SETMASK, old)
                    time.sleep(0.05)
                    for proc in [p for p in running if p.poll() is not None]:
                        rec = _collect(proc, running, problem, args.cases, students, sink, finished)
                        progress(done0 + len(finished), total, rec, time.monotonic() - t0, len(finished),
                                  len(queue) + len(running))
            except KeyboardInterrupt:
                interrupted = True
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
                _stop(running)
                for proc in list(running):     # gradings that ended meanwhile still count
                    if proc.returncode == 0 and running[proc][1].exists():
                        _collect(proc, running, problem, args.cases, students, sink, finished)
    finally:
        if server is not None:
            server.close()
        signal.signal(signal.SIGTERM, old_term)
        if interrupted:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    return finished, interrupted


def _collect(proc, running: dict, problem, cases: str, students, sink, finished: list) -> dict:
    """Append one finished grading's record; signals wait until it is on disk and bookkept."""
    item, result, _started = running[proc]
    rec = _record(problem, item, result, proc, cases, students)
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        sink.write(dump_line(rec))
        sink.flush()
        os.fsync(sink.fileno())
        finished.append(rec)
        del running[proc]
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    return rec


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _start_worker(item: Item, result: Path, args, problem_path, server=None) -> subprocess.Popen:
    argv = [sys.executable, "-m", "grader.fleet.batch", "--worker", str(item.path), str(result), args.cases,
            str(Path(problem_path).resolve()) if problem_path else "", args.isolation or ""]
    # Its own session, so a terminal's Ctrl-C reaches only this process, which stops workers itself;
    # SIGTERM when this process dies (even by SIGKILL), so no worker outlives the batch.
    # Its share of the CPUs: a grading overlaps its two children only where it has two (programs.py).
    share = max(1, cpus_available() // args.jobs)
    return subprocess.Popen(argv, cwd=str(BUNDLE_ROOT), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent,
                            env={**os.environ, "GRADER_CPUS": str(share),
                                 **({"GRADER_ZYGOTE_SOCKET": str(server.socket)} if server is not None else {})})


def _die_with_parent() -> None:
    import ctypes
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)   # the mask _run held is inherited
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG


def _stop(running: dict) -> None:
    for proc in running:
        try:
            proc.send_signal(signal.SIGTERM)
        except OSError:
            pass
    end = time.monotonic() + STOP_GRACE_S
    for proc in running:
        try:
            proc.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()      # its runner dies with it (PR_SET_PDEATHSIG); its uid claim is swept by the next draw
            proc.wait()


def _record(problem, item: Item, result: Path, proc: subprocess.Popen, cases: str, students) -> dict:
    try:
        verdict = json.loads(result.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        verdict = _judge_error(problem, item, cases,
                               f"the grading process ended with status {proc.returncode} and no verdict")
    return {"record_version": RECORD_VERSION, "key": item.key, "path": str(item.path),
            "content_sha256": item.sha256, "cases": cases, "students": students.get(item.key, []),
            **where_graded(verdict), "verdict": verdict}


def _judge_error(problem, item: Item, cases: str, cause: str) -> dict:
    """A JE verdict for a worker that left none (it crashed): never counted as the student's."""
    from ..grade import judge_error
    from ..submission import Source
    from ..judge.verdict import render
    source = Source(path=str(item.path), sha256=None, code=None)
    return json.loads(render(judge_error(problem, source, cases, cause, time.monotonic(), "process")))


def progress(n: int, total: int, rec: dict, elapsed: float, graded: int, left: int) -> None:
    v = rec["verdict"]
    width = 24
    bar = "#" * (width * n // max(total, 1))
    sys.stderr.write(f"[{bar:<{width}}] {n}/{total} {rec['key']}: {v.get('verdict')} "
                     f"{v.get('score', 0):g}/{v.get('max_score', 0):g} "
                     f"({elapsed:.0f} s, about {elapsed / graded * left:.0f} s left)\n")
    sys.stderr.flush()


def _worker(argv: list[str]) -> int:
    """One grading, verdict JSON to a file. SIGTERM/SIGINT unwind through the sandbox's cleanup once;
    further signals are ignored so the cleanup finishes."""
    path, result, cases, problem_path, isolation = argv

    def stop(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    from ..grade import grade
    from ..problem import load_problem
    from ..judge.verdict import render, write_atomic
    try:
        verdict = grade(load_problem(problem_path or None), path, cases, isolation or None)
        write_atomic(Path(result), render(verdict))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        sys.exit(_worker(sys.argv[2:]))
    sys.exit("usage: python -m grader batch DIR --out results.jsonl (see --help)")
