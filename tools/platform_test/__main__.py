"""`make platform-test`: the Gradescope and PrairieLearn packages, built and graded in real Docker.

Usage: .venv/bin/python tools/platform_test [--dist DIR]   (as root, after make gradescope prairielearn;
       --dist: test the packages another build wrote, default dist/)

Starts a private dockerd (engine.py), builds a bookworm base by debootstrap and the two platform
images from dist/ (images.py) with this machine's registry configuration (registry.py), grades the
example submissions in fresh containers with each platform's limits, one reference beside a fork
swarm at the same time (runs.py), prints a table and the time of each stage, and always stops the
engine. Exit 0 when every run got its expected verdict, 1 when one did not, 2 when it cannot start
(not root, dist/ missing), 3 when its own machinery failed (engine, build).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

import engine as eng
import images
import registry
from runs import Outcome, Spec, run

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "platform"
SUBS = ROOT / "tests" / "submissions"
# The short problem: one public and one hidden case (H=1, T=1), short case and total limits, so an
# infinite loop costs two case limits; everything else as in the bundle's problem.yaml.
SHORT_CASES = {"public": ("p01",), "hidden": ("h24",)}
SHORT_LIMITS = {"case_time_s": 4, "total_time_s": 60}


def specs() -> list[Spec]:
    ref = ROOT / "reference" / "solution.py"
    plan = [("reference", ref, "full", "AC", True),
            ("wrong answer", SUBS / "wrong_answer/basic_relu.py", "short", "WA", False),
            ("compile error", SUBS / "compile_error/basic_syntax_error.py", "short", "CE", False),
            ("network probe", SUBS / "wrong_answer/hostile_connect_localhost.py", "short", "WA", False),
            ("fork swarm", SUBS / "run_time_error/hostile_fork_swarm.py", "short", "RTE", False),
            ("infinite loop", SUBS / "time_limit_exceeded/hostile_infinite_loop.py", "short", "TLE", False),
            ("import reference", SUBS / "wrong_answer/hostile_import_reference.py", "short", "WA", False)]
    shipped = [  # the verdict within a minute, with the shipped limits (all 31 cases), on 1 CPU
        ("infinite loop, shipped limits", SUBS / "time_limit_exceeded/hostile_infinite_loop.py", "full", "TLE", False),
        ("sleep at import, shipped limits", SUBS / "time_limit_exceeded/hostile_sleep_at_import.py", "full", "TLE",
         False)]
    return [Spec(name, platform, path, problem, verdict, full)
            for platform in ("gradescope", "prairielearn") for name, path, problem, verdict, full in plan] + \
        [Spec(name, "gradescope", path, problem, verdict, full) for name, path, problem, verdict, full in shipped]


def beside() -> tuple[Spec, Spec]:
    """A reference and a fork swarm graded at the same time in two containers on one kernel."""
    return (Spec("reference beside swarm", "gradescope", ROOT / "reference" / "solution.py", "full", "AC", True),
            Spec("swarm beside reference", "gradescope", SUBS / "run_time_error/hostile_fork_swarm.py",
                 "short", "RTE", False))


def short_problem(dest: Path) -> Path:
    """problem.yaml and tests/data trimmed to SHORT_CASES, root-only like the bundle's own tests/."""
    raw = yaml.safe_load((ROOT / "problem.yaml").read_text(encoding="utf-8"))
    raw["cases"] = {s: [c for c in raw["cases"][s] if c["id"] in ids] for s, ids in SHORT_CASES.items()}
    raw["limits"] = {**raw.get("limits", {}), **SHORT_LIMITS}
    keep = {i for ids in SHORT_CASES.values() for i in ids}
    (dest / "tests" / "data").mkdir(parents=True)
    for f in (ROOT / "tests" / "data").glob("*.yaml"):
        data = yaml.safe_load(f.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("cases"), list):
            data["cases"] = [c for c in data["cases"] if c["id"] in keep]
        (dest / "tests" / "data" / f.name).write_text(yaml.safe_dump(data, sort_keys=False))
    (dest / "problem.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    for p in [dest, *dest.rglob("*")]:
        p.chmod(0o750 if p.is_dir() else 0o640)
    return dest


def table(outcomes: list[Outcome]) -> str:
    head = "| submission | platform | verdict | score | isolation | wall s | peak MiB | result |"
    rows = [head, "|" + "---|" * 8]
    for o in outcomes:
        peak = f"{o.peak_mib:.0f}" if o.peak_mib is not None else "?"
        result = "ok" if not o.problems else "FAIL: " + "; ".join(o.problems)
        rows.append(f"| {o.spec.name} | {o.spec.platform} | {o.verdict} | {o.score} | {o.isolation} | "
                    f"{o.wall_s:.1f} | {peak} | {result} |")
    return "\n".join(rows)


def timed(stages: list[tuple[str, float]], label: str, step):
    print(f"{label} ...", flush=True)
    t = time.monotonic()
    result = step()
    stages.append((label, time.monotonic() - t))
    return result


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="tools/platform_test", description=__doc__.splitlines()[0])
    p.add_argument("--dist", type=Path, default=ROOT / "dist")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("error: make platform-test needs root (it starts its own dockerd)", file=sys.stderr)
        return 2
    gs_zip, pl_dir = args.dist / "gradescope-autograder.zip", args.dist / "prairielearn"
    if not gs_zip.is_file() or not (pl_dir / "Dockerfile").is_file():
        print(f"error: {args.dist} lacks the packages: run `make gradescope prairielearn` first",
              file=sys.stderr)
        return 2
    pl_options = json.loads((pl_dir / "info.json").read_text())["externalGradingOptions"]
    # A CI timeout's SIGTERM must still reach the `finally` that stops the engine and deletes its folders.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    stages: list[tuple[str, float]] = []
    servers = registry.LocalServers()
    engine, outcomes = None, []
    t_all = time.monotonic()
    try:
        eng.ensure_packages()
        engine = timed(stages, "start dockerd", lambda: eng.start(CACHE))
        base = "cached tarball" if any(CACHE.glob("bookworm-minbase-*.tar")) else "debootstrap"
        timed(stages, f"base image ({base})", lambda: images.build_base(engine, CACHE, sys.executable, servers))
        timed(stages, "gradescope image",
              lambda: images.build_gradescope(engine, gs_zip, CACHE / "gradescope-build.log"))
        timed(stages, "prairielearn image",
              lambda: images.build_prairielearn(engine, pl_dir, CACHE / "prairielearn-build.log"))
        problems = {"short": short_problem(engine.home / "short-problem")}
        t = time.monotonic()
        for n, spec in enumerate(specs()):
            outcomes.append(run(engine, spec, problems, pl_options, n))
            o = outcomes[-1]
            print(f"  {spec.platform:<12} {spec.name:<24} {o.verdict:<4} {o.wall_s:6.1f}s "
                  f"{'ok' if not o.problems else 'FAIL'}", flush=True)
        with ThreadPoolExecutor(2) as pool:      # two containers on one kernel at the same time
            outcomes += pool.map(lambda a: run(engine, a[1], problems, pl_options, 100 + a[0]),
                                 enumerate(beside()))
        stages.append(("grading runs (with docker create/cp/rm)", time.monotonic() - t))
    except (eng.PlatformTestError, OSError, subprocess.TimeoutExpired) as e:
        if outcomes:
            print("\n" + table(outcomes) + "\n")
        print(f"platform-test: {e}", file=sys.stderr)
        return 3
    finally:
        servers.close()
        if engine is not None:
            t = time.monotonic()
            eng.stop(engine)
            stages.append(("stop dockerd, delete its folders", time.monotonic() - t))
    print("\n" + table(outcomes) + "\n")
    for label, secs in stages + [("total", time.monotonic() - t_all)]:
        print(f"{label:<42} {secs:7.1f} s")
    failed = [o for o in outcomes if o.problems]
    print(f"\nplatform-test: {len(outcomes) - len(failed)}/{len(outcomes)} runs as expected")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
