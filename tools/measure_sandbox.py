"""The uid level's own costs, as quoted in docs/sandbox-hardening.md and docs/threat-model.md: a uid
draw, a Landlock ruleset, the private cache copy, and summed RSS against PSS for a forked JAX tree.

Run as root from the bundle root: `PYTHONPATH=. .venv/bin/python tools/measure_sandbox.py`.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from grader.host import landlock
from grader.host.isolation import UidClaim
from grader.host.jaxcache import jax_cache_dir
from grader.problem import load_problem
from grader.host.proctree import pss_bytes, rss_bytes
from grader.host.sandbox import Sandbox

FORKED_JAX = ("import os, time, jax.numpy as jnp\nfloat(jnp.sum(jnp.arange(4.0)))\n"
              "for _ in range(20):\n    if os.fork() == 0:\n        break\nprint('up', flush=True)\ntime.sleep(60)\n")


def per_call_ms(work, n: int = 20) -> float:
    t = time.perf_counter()
    for _ in range(n):
        work()
    return (time.perf_counter() - t) / n * 1e3


def start(box: Sandbox, code: str, ready: int) -> None:
    import shutil
    import tempfile
    runner = Path(tempfile.mkdtemp(prefix="lax-measure-"))
    (runner / "runner.py").write_text(code)
    child = box.start(box.stage(b"", runner, {}))
    shutil.rmtree(runner)
    seen = b""
    while seen.count(b"\n") < ready:
        chunk = os.read(child.output_fd, 4096)
        if not chunk:
            sys.exit(f"the child ended early: {seen!r}")
        seen += chunk


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("run as root: uid sandboxes need it")
    limits = replace(load_problem(Path("problem.yaml")).limits, memory_mb=640)
    print(f"UidClaim.take + release: {per_call_ms(lambda: UidClaim.take().release()):.1f} ms")
    with Sandbox(limits, "uid") as box:
        box.stage(b"", Path("grader"), {})
        grants = box._grants()
        ms = per_call_ms(lambda: landlock.Ruleset.build(grants).close())
        print(f"Landlock ruleset (ABI {landlock.abi()}): {ms:.2f} ms for {len(grants)} rules")
    cache = jax_cache_dir()
    if cache is not None and cache.is_dir():
        files = [f for f in cache.rglob("*") if f.is_file()]
        with_cache = per_call_ms(lambda: Sandbox(limits, "uid", cache=cache).close(), 5)
        without = per_call_ms(lambda: Sandbox(limits, "uid").close(), 5)
        print(f"Sandbox open + close: {with_cache:.0f} ms with the cache copy, {without:.0f} ms without "
              f"(cache {sum(f.stat().st_size for f in files) / 2**20:.1f} MiB, {len(files)} files)")
    os.environ["GRADER_NO_CGROUP"] = "1"
    with Sandbox(limits, "uid") as box:
        start(box, FORKED_JAX, 21)
        pids = box.tree_pids()
        t = time.perf_counter()
        rss = rss_bytes(pids)
        t_rss = time.perf_counter() - t
        t = time.perf_counter()
        pss = pss_bytes(pids)
        t_pss = time.perf_counter() - t
        print(f"{len(pids)} JAX processes (a runner-sized tree forked 20 times): summed RSS {rss / 2**20:.0f} MiB in {t_rss * 1e3:.1f} ms, "
              f"PSS {pss / 2**20:.0f} MiB in {t_pss * 1e3:.1f} ms ({t_pss / len(pids) * 1e3:.2f} ms each); "
              f"memory_bytes() {box.memory_bytes() / 2**20:.0f} MiB against {limits.memory_mb} MiB")


if __name__ == "__main__":
    main()
