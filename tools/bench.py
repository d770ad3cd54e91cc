"""`make bench`: how fast and lean grading is, measured on this machine (docs/speed-and-batch.md).

On the full hidden set, each round times, as whole processes (start to exit):
  (a) cold   the bundle grading the reference with an empty compilation cache (GRADER_JAX_CACHE=tmp)
  (b) warm   the same with the bundle's warmed cache (.cache/jax; `python -m grader warm` fills it)
  (c) floor  a bare process: import JAX, load the reference, call it per case with jax.jit and a
             compilation cache warmed for exactly those programs (by one untimed round), with the
             grader's pinned settings; no sandbox, no export, no second process, no checks
  (d) naive  a bare process importing the reference and calling it per case eagerly, no cache
and prints the medians, (b)/(c), (d)/(b) and the peak memory of grader + child. Then it grades 20+
mixed submissions with `batch --jobs 1` and `--jobs 2` for throughput. Only the bundle's own tools.
Usage: tools/bench.py [--runs 3] [--subs 20] [--batch-cases public|hidden|all] [--no-batch]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
REFERENCE = ROOT / "reference" / "solution.py"
TARGETS = {"b/c": 1.3, "d/b": 3.0, "peak_mb": 768, "jobs": 1.7}


def hidden_cases() -> list[dict]:
    sys.path.insert(0, str(ROOT))
    from grader.judge.cases import job_cases, load_golden
    from grader.problem import load_problem
    return job_cases(load_golden(load_problem(), "hidden").cases)


def bare_loop(mode: str, cache: str) -> None:
    """(c) and (d), run in a fresh process: prints the in-loop seconds as JSON. Mode "fill" is the
    floor's untimed round that writes its cache."""
    t0 = time.perf_counter()
    cases = json.loads(sys.stdin.read())
    sys.path.insert(0, str(ROOT / "grader" / "child"))
    import numpy as np
    if mode in ("floor", "fill"):
        import common                                  # the children's own JAX setup
        jax = common.configure_jax(cache, writable=mode == "fill")
    else:
        import jax
    import importlib.util
    spec = importlib.util.spec_from_file_location("solution", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = module.lax_scan_in_module
    if mode in ("floor", "fill"):
        plain = fn
        fn = lambda s, x, h, T: jax.jit(lambda v: plain(s, v, h, T))(x)  # noqa: E731 - one program per case
    t1 = time.perf_counter()
    for c in cases:
        np.asarray(fn(c["seed"], jax.numpy.asarray(np.asarray(c["x"], np.float32)), c["hidden"], c["T"]))
    print(json.dumps({"setup_s": t1 - t0, "loop_s": time.perf_counter() - t1}))


def timed(argv: list[str], env: dict | None = None, stdin: str | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (MiB) of the process itself (VmHWM, polled), stdout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **(env or {})}, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if stdin:
        proc.stdin.write(stdin)
    proc.stdin.close()
    hwm = 0
    while proc.poll() is None:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    hwm = max(hwm, int(line.split()[1]) // 1024)
        except OSError:
            pass
        time.sleep(0.02)
    out = proc.stdout.read()
    if proc.returncode not in (0, 3):     # 3: a JE verdict, reported by the caller
        raise SystemExit(f"bench: {' '.join(argv[:5])} failed with status {proc.returncode}")
    return time.perf_counter() - t0, hwm, out


def grade_once(cache_env: dict, tmp: Path) -> tuple[float, float]:
    """(wall seconds, peak MiB of grader + child tree)."""
    out = tmp / "verdict.json"
    wall, grader_mb, _ = timed([PY, "-m", "grader", "grade", str(REFERENCE), "--cases", "hidden",
                                "--json", str(out)], cache_env)
    v = json.loads(out.read_text())
    if v["verdict"] != "AC":
        raise SystemExit(f"bench: the reference got {v['verdict']}, not AC: {v.get('internal', {})}")
    return wall, grader_mb + float(v.get("internal", {}).get("peak_memory_mb") or 0)


def throughput(n: int, cases: str, tmp: Path) -> dict:
    src = tmp / "subs"
    src.mkdir()
    kinds = [REFERENCE, ROOT / "starter" / "solution.py"]
    kinds += sorted((ROOT / "tests" / "submissions" / "wrong_answer").glob("variant_*.py"))[:2]
    kinds += sorted((ROOT / "tests" / "submissions" / "accepted").glob("*.py"))[:2]
    for i in range(n):
        k = kinds[i % len(kinds)]
        (src / f"s{i:02d}_{k.stem}.py").write_text(k.read_text() + f"\n# copy {i}\n")
    res = {}
    for jobs in (1, 2):
        out = tmp / f"jobs{jobs}.jsonl"
        wall, _, _ = timed([PY, "-m", "grader", "batch", str(src), "--jobs", str(jobs), "--cases", cases,
                            "--out", str(out)])
        res[jobs] = wall
        print(f"  batch --jobs {jobs}: {n} submissions in {wall:.1f} s ({n / wall * 60:.1f}/min)", flush=True)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--subs", type=int, default=20)
    ap.add_argument("--batch-cases", choices=("public", "hidden", "all"), default="public")
    ap.add_argument("--no-batch", action="store_true")
    ap.add_argument("--bare", choices=("floor", "fill", "naive"), help=argparse.SUPPRESS)
    ap.add_argument("--cache", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.bare:
        bare_loop(args.bare, args.cache)
        return 0
    sys.path.insert(0, str(ROOT))
    from grader.host.jaxcache import jax_cache_dir
    cache = jax_cache_dir()
    if cache is None or not any(cache.glob("*")):
        print(f"warming {cache} first (python -m grader warm)", flush=True)
        subprocess.run([PY, "-m", "grader", "warm"], cwd=ROOT, check=True)
    cases = json.dumps(hidden_cases())
    print(f"bench: {len(json.loads(cases))} hidden cases, {args.runs} rounds, load average "
          f"{os.getloadavg()[0]:.1f} on {len(os.sched_getaffinity(0))} cores", flush=True)
    t = {k: [] for k in "abcd"}
    peaks = []
    loops = {"c": [], "d": []}
    with tempfile.TemporaryDirectory(prefix="lax-bench-") as tmpdir:
        tmp = Path(tmpdir)
        os.chmod(tmp, 0o755)         # the sandbox uid reads the cold cache folder inside it
        floor_cache = tmp / "floor-cache"      # the floor's own programs, warmed like the bundle's
        floor_cache.mkdir()
        timed([PY, __file__, "--bare", "fill", "--cache", str(floor_cache)], stdin=cases)
        for r in range(args.runs):
            cold = tmp / f"cold{r}"
            cold.mkdir()
            wall, peak = grade_once({"GRADER_JAX_CACHE": str(cold)}, tmp)
            t["a"].append(wall)
            peaks.append(peak)
            wall, peak = grade_once({}, tmp)
            t["b"].append(wall)
            peaks.append(peak)
            for key, mode, c in (("c", "floor", str(floor_cache)), ("d", "naive", "")):
                wall, mb, out = timed([PY, __file__, "--bare", mode, "--cache", c], stdin=cases)
                t[key].append(wall)
                loops[key].append(json.loads(out)["loop_s"])
                peaks_bare = mb
            print(f"  round {r + 1}: " + "  ".join(f"({k}) {t[k][-1]:.2f} s" for k in "abcd")
                  + f"  peak {max(peaks[-2:]):.0f} MiB (naive process {peaks_bare} MiB)", flush=True)
        med = {k: statistics.median(v) for k, v in t.items()}
        print("\nmedians (whole processes, seconds):")
        names = {"a": "bundle, cold cache", "b": "bundle, warm cache", "c": "floor: bare jit loop, warm cache",
                 "d": "naive: bare eager loop, cold"}
        for k in "abcd":
            extra = f"   (in-loop {statistics.median(loops[k]):.2f} s)" if k in loops else ""
            print(f"  ({k}) {names[k]:<34} {med[k]:6.2f}{extra}")
        ratios = {"b/c": med["b"] / med["c"], "d/b": med["d"] / med["b"], "peak_mb": max(peaks)}
        print(f"  (b)/(c) = {ratios['b/c']:.2f}   target <= {TARGETS['b/c']}  "
              f"{'met' if ratios['b/c'] <= TARGETS['b/c'] else 'NOT met'}")
        print(f"  (d)/(b) = {ratios['d/b']:.2f}   target >= {TARGETS['d/b']}  "
              f"{'met' if ratios['d/b'] >= TARGETS['d/b'] else 'NOT met'}")
        print(f"  peak memory, grader + child = {ratios['peak_mb']:.0f} MiB   target <= {TARGETS['peak_mb']}  "
              f"{'met' if ratios['peak_mb'] <= TARGETS['peak_mb'] else 'NOT met'}")
        if not args.no_batch:
            print(f"\nthroughput: {args.subs} mixed submissions, --cases {args.batch_cases}", flush=True)
            res = throughput(args.subs, args.batch_cases, tmp)
            speedup = res[1] / res[2]
            print(f"  --jobs 2 / --jobs 1 = {speedup:.3f}x   target >= {TARGETS['jobs']}  "
                  f"{'met' if speedup >= TARGETS['jobs'] else 'NOT met'}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (other work on the machine skews every figure)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
