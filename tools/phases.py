"""Where a grading's time goes: grade a file (the reference by default) through execute.run and print
when each frame arrived from each child (seconds since start; the child's slot uid tells the runner
from the executor), then a breakdown: each child's start to `ready` (Python, JAX's import, the pinned
setup), the submission's import, the runner's tracing and export per case, and the executor's screen
(deserialize and structure check), compile and run per case. docs/speed-and-batch.md quotes it.
CPU seconds too where /proc shows the children (GRADER_ISOLATION=process or uid: bwrap's PID namespace
hides them). `--cold` grades with an empty compilation cache (a program in no cache: any student whose program
differs from the reference's by a line); `--cpus 0` pins the grading to one CPU, as on the platforms.
Usage: .venv/bin/python tools/phases.py [--cases hidden|public|all] [--submission PATH] [--cold] [--cpus 0]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

T0 = time.monotonic()
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.host import channel  # noqa: E402
from grader import execute  # noqa: E402
from grader.judge.cases import job_cases, load_golden  # noqa: E402
from grader.problem import load_problem  # noqa: E402


def descends_from_us(pid: int) -> bool:
    """Is this host pid a descendant of this process? (In bwrap's PID namespace the pid a child says
    is another number outside: some unrelated process, which must not be measured.)"""
    for _ in range(64):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False
        pid = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("PPid:")))
        if pid == os.getpid():
            return True
        if pid <= 1:
            return False
    return False


def cpu_seconds(pid: int | None) -> float | None:
    """The process's CPU time so far (all its threads), where /proc shows it: the pid a child says
    in its `ready` frame is its own only without a PID namespace (isolation `process` or `uid`)."""
    if pid is None or not descends_from_us(pid):
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return None


def cpu_between(frames: list[tuple[float, dict, float | None]], first: str, then: str) -> float | None:
    """CPU seconds from each `first` frame to the next `then` frame of the same case, summed."""
    total, since = 0.0, {}
    for _t, head, cpu in frames:
        if cpu is None:
            return None
        if head["type"] == first:
            since[head.get("id")] = cpu
        elif head["type"] == then and head.get("id") in since:
            total += cpu - since.pop(head.get("id"))
    return total


def breakdown(events: list[tuple[float, str, dict, float | None]], start: float) -> list[str]:
    """The summary lines: per child, from its frames' arrival, the times they carry and (where /proc
    shows the child) its CPU seconds, which a busy machine inflates less than wall time."""
    out, by_child = [], {}
    for t, who, head, cpu in events:
        by_child.setdefault(who, []).append((t, head, cpu))
    for who, frames in by_child.items():
        kinds = [h["type"] for _t, h, _c in frames]
        ready = next((t for t, h, _c in frames if h["type"] == "ready"), None)
        line = f"{who}: ready at {ready - start:.2f} s" if ready is not None else f"{who}: never ready"
        cpu_ready = next((c for _t, h, c in frames if h["type"] == "ready"), None)
        if cpu_ready is not None:
            line += f" ({cpu_ready:.2f} CPU s: Python, JAX's import, setup)"
        loaded = next((h for _t, h, _c in frames if h["type"] == "loaded"), None)
        if loaded is not None:
            line += f", submission imported in {loaded.get('time_s', 0):.2f} s"
        programs = [h for _t, h, _c in frames if h["type"] == "program"]
        if programs:
            line += f", traced and exported {len(programs)} programs in {sum(h.get('time_s', 0) for h in programs):.2f} s"
            cpu = cpu_between(frames, "start", "program")
            line += f" ({cpu:.2f} CPU s)" if cpu is not None else ""
        results = [h for _t, h, _c in frames if h["type"] == "result" and "program" not in kinds]
        if results:
            comp = sum(h.get("compile_s") or 0 for h in results)
            run = sum(h.get("run_s") or 0 for h in results)
            total = sum(h.get("time_s") or 0 for h in results)
            line += (f", ran {len(results)} programs in {total:.2f} s: screen (deserialize, structure) "
                     f"{total - comp - run:.2f} s, compile {comp:.2f} s, run {run:.2f} s")
            screen, compiled = cpu_between(frames, "start", "compiled"), cpu_between(frames, "compiled", "result")
            if screen is not None and compiled is not None:
                line += f" (CPU s: screen and compile {screen:.2f}, run and send {compiled:.2f})"
        last = frames[-1][0]
        out.append(line + f"; last frame at {last - start:.2f} s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="hidden", choices=("hidden", "public", "all"))
    ap.add_argument("--submission", type=Path, default=ROOT / "reference" / "solution.py")
    ap.add_argument("--cold", action="store_true", help="an empty compilation cache")
    ap.add_argument("--cpus", help="pin the grading (and so its children) to these CPUs, e.g. 0")
    args = ap.parse_args()
    if args.cpus:
        os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})
    cold = tempfile.TemporaryDirectory() if args.cold else None
    if cold is not None:
        os.environ["GRADER_JAX_CACHE"] = cold.name
    problem = load_problem()
    sets = ("public", "hidden") if args.cases == "all" else (args.cases,)
    cases = job_cases([g for s in sets for g in load_golden(problem, s).cases])
    events: list[tuple[float, str, dict, float | None]] = []
    names: dict[int | None, str] = {}
    pids: dict[str, int] = {}
    real_next = channel.Watch.next

    def spy(self, deadline):
        got = real_next(self, deadline)
        if isinstance(got, tuple):
            who = names.setdefault(self.box.uid if self.box.uid is not None else id(self.box),
                                   f"child {len(names) + 1}")
            if got[0]["type"] == "ready" and isinstance(got[0].get("pid"), int):
                pids[who] = got[0]["pid"]
            events.append((time.monotonic(), who, got[0], cpu_seconds(pids.get(who))))
        return got
    channel.Watch.next = spy
    start = time.monotonic()
    execute.run(problem, args.submission.read_bytes(), cases)
    end = time.monotonic()
    for t, who, head, _cpu in events:
        print(f"{t - T0:7.3f}  {who}  {head['type']} {head.get('id') or ''}")
    for line in breakdown(events, start):
        print(line)
    print(f"grader imports {start - T0:.2f} s, execute.run {end - start:.2f} s, {len(cases)} cases"
          f"{', cold cache' if cold else ''}{f', CPUs {args.cpus}' if args.cpus else ''}")
    if cold is not None:
        cold.cleanup()


if __name__ == "__main__":
    main()
