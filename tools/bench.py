"""`make bench`: how fast and lean grading is, measured on this machine (docs/speed-and-batch.md).

On the hidden cases, each round times, as whole processes (start to exit), at every CPU count of
{all the cores this process may use, one core (affinity, as the platforms' box)}:
  (a) cold   the bundle grading the reference with an empty compilation cache (GRADER_JAX_CACHE=tmp)
  (b) warm   the same with the bundle's warmed cache (.cache/jax; `python -m grader warm` fills it)
  (c) floor  a bare process: import JAX, load the reference, call it per case with jax.jit and a
             compilation cache warmed for exactly those programs (by one untimed round), with the
             grader's pinned settings; no sandbox, no export, no second process, no checks
  (d) naive  a bare process importing the reference and calling it per case eagerly, no cache
and at one CPU, for a correct program that is in no cache (any student's that differs from the
reference's by a line; tests/submissions/accepted/basic_einsum_length.py):
  (e) cold correct   the bundle grading it with an empty cache
  (f) cold floor     a bare process: import JAX and Flax, load it, per case jax.jit + run, no cache
  (e2) two of (e) at once, each on its own core: whether validate's --cold-jobs 2 keeps the times
Then the class: (g) the class floor, a bare process per submission (import JAX and Flax, load the
file, call its public cases in process), against `batch --jobs 1` and `--jobs 2` per submission.
Targets are printed PASS or MISS; a miss never fails the bench. Only the bundle's own tools.
The gradings run at `--isolation` (default `uid` where root: the platforms' level, where the runner
and the executor are forked from the fork server); peak memory adds the server's to the grader's.
Usage: tools/bench.py [--runs 3] [--subs 20] [--batch-cases public|hidden|all] [--no-batch] [--quick]
                      [--isolation bwrap|uid|process]
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
REFERENCE = ROOT / "reference" / "solution.py"
CORRECT = ROOT / "tests" / "submissions" / "accepted" / "basic_einsum_length.py"
QUICK = {"hidden": ("h01", "h06"), "public": ("p01",), "subs": 3}


def bare_loop(mode: str, cache: str, file: str) -> None:
    """(c), (d), (f), (g), run in a fresh process: prints the in-loop seconds as JSON. Mode "fill" is
    the floor's untimed round that writes its cache; "class" catches each case's exception."""
    t0 = time.perf_counter()
    cases = json.loads(sys.stdin.read())
    sys.path.insert(0, str(ROOT / "grader" / "child"))
    import numpy as np
    if mode in ("floor", "fill", "cold"):
        import common                                  # the children's own JAX setup (as the executor calls it)
        jax = common.configure_jax(cache if mode != "cold" else None, writable=mode == "fill")
    else:
        import jax
    import flax.linen  # noqa: F401
    import importlib.util
    spec = importlib.util.spec_from_file_location("solution", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = module.lax_scan_in_module
    if mode in ("floor", "fill", "cold"):
        plain = fn
        fn = lambda s, x, h, T: jax.jit(lambda v: plain(s, v, h, T))(x)  # noqa: E731 - one program per case
    t1 = time.perf_counter()
    for c in cases:
        try:
            np.asarray(fn(c["seed"], jax.numpy.asarray(np.asarray(c["x"], np.float32)), c["hidden"], c["T"]))
        except Exception:  # noqa: BLE001 - a class holds wrong submissions too (starter: NotImplementedError)
            if mode != "class":
                raise
    print(json.dumps({"setup_s": t1 - t0, "loop_s": time.perf_counter() - t1}))


def pinned(argv: list[str], cpu: int | None) -> list[str]:
    """argv (starting with PY) on one core, or unchanged (the grader's own pinning, as validate's)."""
    from grader.instructor.probe import PIN
    return argv if cpu is None else [PY, "-c", PIN, str(cpu), *argv[1:]]


def timed(argv: list[str], env: dict | None = None, stdin: str | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (MiB) of the process itself (VmHWM, polled), stdout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **(env or {})}, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if stdin:
        proc.stdin.write(stdin)
    proc.stdin.close()
    hwm, servers = 0, {}
    while proc.poll() is None:
        hwm = max(hwm, vm_hwm_mb(proc.pid))
        try:        # the fork server, the grader's direct child (its children are counted by their cgroups)
            for pid in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split():
                if b"zygote.py" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    servers[pid] = max(servers.get(pid, 0), vm_hwm_mb(int(pid)))
        except OSError:
            pass
        time.sleep(0.02)
    hwm += sum(servers.values())
    out = proc.stdout.read()
    if proc.returncode not in (0, 3):     # 3: a JE verdict, reported by the caller
        raise SystemExit(f"bench: {' '.join(argv[:6])} failed with status {proc.returncode}")
    return time.perf_counter() - t0, hwm, out


def vm_hwm_mb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


class Bench:
    def __init__(self, problem: Path, tmp: Path, isolation: str | None):
        self.problem, self.tmp, self.peaks = problem, tmp, []
        self.isolation = ["--isolation", isolation] if isolation else []
        self.hidden = json.dumps(job_cases(problem, "hidden"))
        self.public = json.dumps(job_cases(problem, "public"))

    def grade(self, file: Path, cold: bool, cpu: int | None) -> float:
        out, env = Path(tempfile.mkdtemp(prefix="v-", dir=self.tmp)) / "verdict.json", {}
        if cold:
            env["GRADER_JAX_CACHE"] = tempfile.mkdtemp(prefix="cold-", dir=self.tmp)
        wall, grader_mb, _ = timed(pinned([PY, "-m", "grader", "--problem", str(self.problem), "grade", str(file),
                                           "--cases", "hidden", "--json", str(out), *self.isolation], cpu), env)
        v = json.loads(out.read_text())
        if v["verdict"] != "AC":
            raise SystemExit(f"bench: {file.name} got {v['verdict']}, not AC: {v.get('internal', {})}")
        self.peaks.append(grader_mb + float(v.get("internal", {}).get("peak_memory_mb") or 0))
        return wall

    def bare(self, mode: str, file: Path, cpu: int | None, cache: Path | None = None,
             cases: str | None = None) -> tuple[float, float]:
        """(whole process, its loop) in seconds."""
        wall, _, out = timed(pinned([PY, __file__, "--bare", mode, "--cache", str(cache or ""), "--file", str(file)],
                                    cpu), stdin=cases or self.hidden)
        return wall, json.loads(out)["loop_s"]


def job_cases(problem: Path, case_set: str) -> list[dict]:
    from grader.judge.cases import job_cases as cases_of, load_golden
    from grader.problem import load_problem
    return cases_of(load_golden(load_problem(problem), case_set).cases)


def small_problem(dest: Path) -> Path:
    """--quick: a copy of problem.yaml and its data with QUICK's cases only."""
    import yaml
    from grader.judge.cases import dump_golden, load_golden
    from grader.judge.variants import dump_variants, load_variants, path_of
    from grader.problem import load_problem
    raw = yaml.safe_load((ROOT / "problem.yaml").read_text())
    raw["cases"] = {s: [c for c in raw["cases"][s] if c["id"] in QUICK[s]] for s in ("public", "hidden")}
    raw.pop("validation", None)
    (dest / "tests" / "data").mkdir(parents=True)
    (dest / "problem.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    full, small = load_problem(ROOT / "problem.yaml"), load_problem(dest / "problem.yaml")
    for s in ("public", "hidden"):
        g = load_golden(full, s)
        by_id = {c.spec.id: c for c in g.cases}
        rows = [(spec, by_id[spec.id].x, by_id[spec.id].expected) for spec in small.cases_of(s)]
        small.golden_path(s).write_text(dump_golden(small, s, g.fingerprint, rows))
    if path_of(full).is_file():
        v = load_variants(full)
        path_of(small).write_text(dump_variants(small, v.fingerprint, {c.id: v.outputs[c.id] for c in small.cases}))
    return dest / "problem.yaml"


def class_folder(n: int, tmp: Path) -> Path:
    src = tmp / "subs"
    src.mkdir()
    kinds = [REFERENCE, ROOT / "starter" / "solution.py"]
    kinds += sorted((ROOT / "tests" / "submissions" / "wrong_answer").glob("variant_*.py"))[:2]
    kinds += sorted((ROOT / "tests" / "submissions" / "accepted").glob("*.py"))[:2]
    for i in range(n):
        k = kinds[i % len(kinds)]
        (src / f"s{i:02d}_{k.stem}.py").write_text(k.read_text() + f"\n# copy {i}\n")
    return src


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--subs", type=int, default=20)
    ap.add_argument("--batch-cases", choices=("public", "hidden", "all"), default="public")
    ap.add_argument("--no-batch", action="store_true")
    ap.add_argument("--isolation", choices=("bwrap", "uid", "process"), default="uid" if os.geteuid() == 0 else None,
                    help="the gradings' level (default: uid where root, the platforms' level; else the grader's choice)")
    ap.add_argument("--quick", action="store_true",
                    help=f"a smoke test: 1 round, {len(QUICK['hidden'])} hidden cases, {QUICK['subs']} submissions")
    ap.add_argument("--bare", choices=("floor", "fill", "naive", "cold", "class"), help=argparse.SUPPRESS)
    ap.add_argument("--cache", default="", help=argparse.SUPPRESS)
    ap.add_argument("--file", default=str(REFERENCE), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.bare:
        bare_loop(args.bare, args.cache, args.file)
        return 0
    sys.path.insert(0, str(ROOT))       # the bundle's own modules (never in the bare processes)
    if args.quick:
        args.runs, args.subs = 1, min(args.subs, QUICK["subs"])
    command = " ".join(["tools/bench.py", *map(shlex.quote, sys.argv[1:])])
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    from grader.host.jaxcache import jax_cache_dir
    cache = jax_cache_dir()
    if cache is None or not any(cache.glob("*")):
        print(f"warming {cache} first (python -m grader warm)", flush=True)
        subprocess.run([PY, "-m", "grader", "warm"], cwd=ROOT, check=True)
    cores = sorted(os.sched_getaffinity(0))
    counts = ([(f"{len(cores)} CPUs", None)] if len(cores) > 1 else []) + [("1 CPU", cores[-1])]
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="lax-bench-") as tmpdir:
        tmp = Path(tmpdir)
        os.chmod(tmp, 0o755)         # the sandbox uid reads the cold cache folder inside it
        problem = small_problem(tmp / "quick") if args.quick else ROOT / "problem.yaml"
        b = Bench(problem, tmp, args.isolation)
        n_cases = len(json.loads(b.hidden))
        print(f"bench {started}: {n_cases} hidden cases, {args.runs} rounds, isolation {args.isolation or 'probed'}, "
              f"load average {load0:.1f} on {len(cores)} cores; rerun: {command}", flush=True)
        floor_cache = tmp / "floor-cache"      # the floor's own programs, warmed like the bundle's
        floor_cache.mkdir()
        b.bare("fill", REFERENCE, None, floor_cache)
        t: dict[str, list[float]] = {}
        loops: dict[str, list[float]] = {}

        def note(key: str, value: float, loop: float | None = None) -> None:
            t.setdefault(key, []).append(value)
            if loop is not None:
                loops.setdefault(key, []).append(loop)

        for r in range(args.runs):
            for label, cpu in counts:
                note(f"a {label}", b.grade(REFERENCE, True, cpu))
                note(f"b {label}", b.grade(REFERENCE, False, cpu))
                note(f"c {label}", *b.bare("floor", REFERENCE, cpu, floor_cache))
                note(f"d {label}", *b.bare("naive", REFERENCE, cpu))
            note("e", b.grade(CORRECT, True, cores[-1]))
            note("f", *b.bare("cold", CORRECT, cores[-1]))
            if len(cores) > 1:             # validate --cold-jobs 2: two cold gradings, a core each
                with ThreadPoolExecutor(2) as pool:
                    note("e2", max(pool.map(lambda cpu: b.grade(CORRECT, True, cpu), cores[-2:])))
            print(f"  round {r + 1}: " + "  ".join(f"({k}) {v[-1]:.2f}s" for k, v in t.items()), flush=True)
        med = {k: statistics.median(v) for k, v in t.items()}
        where = {"e2": "1 CPU each"}
        rows = [(f"({k.split()[0]}) {NAMES[k.split()[0]]}, {k.partition(' ')[2] or where.get(k, '1 CPU')}", med[k],
                 loops.get(k)) for k in med]
        checks = []
        for label, _ in counts:
            checks.append((f"(b)/(c) warm grading / floor, {label}", med[f"b {label}"] / med[f"c {label}"], "<=", 1.3))
            checks.append((f"(d)/(b) naive / warm grading, {label}", med[f"d {label}"] / med[f"b {label}"], ">=", 3.0))
        checks.append(("(e)/(f) cold correct grading / cold floor, 1 CPU", med["e"] / med["f"], "<=", 1.3))
        if "e2" in med:
            checks.append(("(e2)/(e) two cold gradings side by side / one alone", med["e2"] / med["e"], "<=", 1.05))
        checks.append(("peak memory, grader + children (MiB)", max(b.peaks), "<=", 768))
        if not args.no_batch:
            rows_b, checks_b = throughput(b, args.subs, args.batch_cases, tmp)
            rows, checks = rows + rows_b, checks + checks_b
    report(rows, checks, started, command, load0)
    return 0


NAMES = {"a": "bundle, reference, cold cache", "b": "bundle, reference, warm cache",
         "c": "floor: bare jit loop, warm cache", "d": "naive: bare eager loop, cold",
         "e": "bundle, a correct non-reference file, cold", "f": "cold floor: bare jit loop of that file",
         "e2": "two of (e) at once (the slower)"}


def throughput(b: Bench, n: int, cases: str, tmp: Path) -> tuple[list, list]:
    src = class_folder(n, tmp)
    floor = 0.0
    for f in sorted(src.iterdir()):        # (g): one bare process per submission, its public cases
        floor += b.bare("class", f, None, cases=b.public)[0]
    per = {"g": floor / n}
    for jobs in (1, 2):
        wall, _, _ = timed([PY, "-m", "grader", "--problem", str(b.problem), "batch", str(src), "--jobs", str(jobs),
                            "--cases", cases, "--out", str(tmp / f"jobs{jobs}.jsonl"), *b.isolation])
        per[jobs] = wall / n
        print(f"  batch --jobs {jobs}: {n} submissions in {wall:.1f} s ({60 / per[jobs]:.1f}/min)", flush=True)
    rows = [(f"(g) class floor: a bare process per submission, public cases", per["g"], None),
            (f"batch --jobs 1 per submission (--cases {cases})", per[1], None),
            (f"batch --jobs 2 per submission (--cases {cases})", per[2], None)]
    checks = [("batch --jobs 1 per submission / class floor", per[1] / per["g"], "<=", 1.0),
              ("throughput --jobs 2 / --jobs 1", per[1] / per[2], ">=", 1.7)]
    return rows, checks


def report(rows: list, checks: list, started: str, command: str, load0: float) -> None:
    print(f"\nresults, measured {started} by `.venv/bin/python {command}` (load average {load0:.1f} at the "
          f"start, {os.getloadavg()[0]:.1f} at the end: other work on the machine skews every figure)")
    print("  seconds (medians of whole processes; in-loop time in brackets):")
    for name, value, loop in rows:
        extra = f"   (in-loop {statistics.median(loop):.2f} s)" if loop else ""
        print(f"    {name:<64} {value:7.2f}{extra}")
    print("  targets:")
    for name, value, op, target in checks:
        ok = value <= target if op == "<=" else value >= target
        print(f"    {name:<64} {value:7.2f}   target {op} {target:<5g} {'PASS' if ok else 'MISS'}")


if __name__ == "__main__":
    sys.exit(main())
