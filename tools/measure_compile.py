"""Which XLA options should the executor compile with? Compile time against run time of the
reference's exported programs, every case of problem.yaml, per candidate option set, on the CPUs given
(default: one, `taskset -c 0`-like), each candidate in a fresh process (XLA reads its flags once, when
the backend starts). docs/tolerance.md quotes its table.

Per candidate: whether this jaxlib accepts the flags; the summed seconds of JAX's lowering
(`jax.jit(exported.call).lower`), of XLA's compile (`.compile()`, as the executor does it; also as the
process's CPU seconds, which a busy machine inflates less than wall time) and of the run (best of
--repeat calls); and how far the outputs are from the golden vectors: cases bit-identical, and the
worst error in units of the tolerance (1.0 = the edge of acceptance).
`--solution FILE` measures another correct file's programs instead of the reference's (e.g.
tests/submissions/accepted/source_unroll_true.py, whose unrolled programs cost the most to compile);
"bit-id" then compares its outputs with the reference's golden vectors.
Usage: .venv/bin/python tools/measure_compile.py [--cpus 0] [--repeat 3] [--candidate=FLAGS ...]
       [--solution FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = ROOT / "grader" / "child"
CANDIDATES = (
    "",
    "--xla_backend_optimization_level=0",
    "--xla_backend_optimization_level=1",
    "--xla_backend_optimization_level=2",
    "--xla_backend_optimization_level=3",
    "--xla_llvm_disable_expensive_passes=true",
    "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true",
    "--xla_cpu_parallel_codegen_split_count=1",
    "--xla_backend_optimization_level=0 --xla_cpu_parallel_codegen_split_count=1",
    "--xla_cpu_use_thunk_runtime=false",
    "--xla_cpu_use_fusion_emitters=false",
    "--xla_cpu_disable_loop_unrolling=true",
    "--xla_cpu_multi_thread_eigen=false",
    "--xla_cpu_use_xnnpack=false",
    "--xla_cpu_opt_preset=1",
    "--xla_backend_optimization_level=1 --xla_cpu_use_fusion_emitters=false",
    "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false",
)


def export_programs(folder: Path, cases: list[dict], solution: Path) -> None:
    """Child: the solution's programs, exported as the runner exports them (seed, hidden, T static)."""
    sys.path.insert(0, str(CHILD))
    import common
    jax = common.configure_jax(None, False)
    import importlib.util
    spec = importlib.util.spec_from_file_location("solution", solution)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = module.lax_scan_in_module
    for c in cases:
        f = jax.jit(lambda v, c=c: fn(c["seed"], v, c["hidden"], c["T"]))
        exp = jax.export.export(f)(jax.ShapeDtypeStruct((c["hidden"],), jax.numpy.float32))
        (folder / f"{c['id']}.bin").write_bytes(bytes(exp.serialize()))


def compile_programs(folder: Path, cases: list[dict], flags: str, repeat: int) -> None:
    """Child: compile and run every program under `flags`; one JSON line per case on stdout."""
    sys.path.insert(0, str(CHILD))
    import common
    t0 = time.perf_counter()
    jax = common.configure_jax(None, False, xla_flags=flags)
    import numpy as np
    t1 = time.perf_counter()
    jax.jit(lambda v: v + 1).lower(np.zeros(2, np.float32)).compile()   # the backend's start, untimed
    print(json.dumps({"import_s": t1 - t0, "backend_s": time.perf_counter() - t1}), flush=True)
    for c in cases:
        exp = jax.export.deserialize(bytearray((folder / f"{c['id']}.bin").read_bytes()))
        x = jax.numpy.asarray(np.asarray(c["x"], np.float32))
        t = time.perf_counter()
        lowered = jax.jit(exp.call).lower(x)           # JAX: the call wrapped around the program
        t, cpu, lower_s = time.perf_counter(), time.process_time(), time.perf_counter() - t
        compiled = lowered.compile()                    # XLA: HLO passes and CPU codegen
        compile_s, compile_cpu = time.perf_counter() - t, time.process_time() - cpu
        runs = []
        for _ in range(repeat):
            t = time.perf_counter()
            out = np.asarray(compiled(x).block_until_ready())
            runs.append(time.perf_counter() - t)
        print(json.dumps({"id": c["id"], "lower_s": lower_s, "compile_s": compile_s, "compile_cpu": compile_cpu, "run_s": min(runs),
                          "out": out.astype("<f4").tobytes().hex()}), flush=True)


def measure(folder: Path, cases_file: Path, flags: str, cpus: set[int], repeat: int):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tempfile.gettempdir(),
           "LC_ALL": "C.UTF-8"}      # no XLA_FLAGS or JAX_* from outside: the candidate alone
    proc = subprocess.run([sys.executable, __file__, "--child", "compile", "--folder", str(folder),
                           "--cases-file", str(cases_file), f"--flags={flags}", "--repeat", str(repeat)],
                          env=env, capture_output=True, text=True, preexec_fn=lambda: os.sched_setaffinity(0, cpus))
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        err = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return None, err[:150]
    return lines, None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpus", default="0", help="CPU list for the measured processes (default 0)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--candidate", action="append", help="an XLA_FLAGS value (repeatable); default: the built-in set")
    ap.add_argument("--solution", type=Path, default=ROOT / "reference" / "solution.py",
                    help="the file whose programs are measured (default: the reference)")
    ap.add_argument("--child", choices=("export", "compile"), help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    ap.add_argument("--cases-file", help=argparse.SUPPRESS)
    ap.add_argument("--flags", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        cases = json.loads(Path(args.cases_file).read_text())
        if args.child == "export":
            export_programs(Path(args.folder), cases, args.solution)
        else:
            compile_programs(Path(args.folder), cases, args.flags, args.repeat)
        return
    if not args.solution.is_file():
        print(f"error: no such file: {args.solution}", file=sys.stderr)
        sys.exit(2)
    sys.path.insert(0, str(ROOT))
    import numpy as np
    from grader.judge.cases import job_cases, load_golden
    from grader.judge.drift import agreement
    from grader.problem import load_problem
    problem = load_problem()
    golden = [g for s in ("public", "hidden") for g in load_golden(problem, s).cases]
    expected = {g.spec.id: g.expected for g in golden}
    cpus = {int(c) for part in args.cpus.split(",") for c in
            (range(int(part.split("-")[0]), int(part.split("-")[1]) + 1) if "-" in part else [part])}
    with tempfile.TemporaryDirectory() as tmp:
        folder, cases_file = Path(tmp), Path(tmp) / "cases.json"
        cases = job_cases(golden)
        cases_file.write_text(json.dumps(cases))
        subprocess.run([sys.executable, __file__, "--child", "export", "--folder", tmp, "--cases-file",
                        str(cases_file), "--solution", str(args.solution.resolve())],
                       check=True, env={"PATH": os.environ.get("PATH", "")})
        print(f"{args.solution.name}: {len(cases)} cases (H up to {max(c['hidden'] for c in cases)}, T up to "
              f"{max(c['T'] for c in cases)}), CPUs {sorted(cpus)}, run = best of {args.repeat}")
        print(f"{'XLA_FLAGS':<78} {'lower':>5} {'compile':>7} {'(cpu)':>6} {'run':>6} {'sum':>6} {'bit-id':>6} {'worst':>7}")
        for flags in args.candidate or CANDIDATES:
            lines, err = measure(folder, cases_file, flags, cpus, args.repeat)
            name = flags or "(none: XLA's defaults)"
            if lines is None:
                print(f"{name:<78} refused: {err}")
                continue
            rows = lines[1:]
            comp = sum(r["compile_s"] for r in rows)
            comp_cpu = sum(r["compile_cpu"] for r in rows)
            run = sum(r["run_s"] for r in rows)
            outs = {r["id"]: np.frombuffer(bytes.fromhex(r["out"]), "<f4") for r in rows}
            same = sum(outs[i].tobytes() == expected[i].astype("<f4").tobytes() for i in outs)
            worst = max(agreement(outs[i], expected[i], problem.rtol, problem.atol) for i in outs)
            print(f"{name:<78} {sum(r['lower_s'] for r in rows):5.2f} {comp:7.2f} {comp_cpu:6.2f} {run:6.3f} {comp + run:6.2f} "
                  f"{same:>3}/{len(rows):<2} {worst:7.2g}", flush=True)


if __name__ == "__main__":
    main()
