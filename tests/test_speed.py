"""Fast and faithful grading: the exported programs the executor runs reproduce every golden value bit
for bit; where a function cannot be exported the plain call decides, with the student's own error;
the compilation cache is read-only to graded children, optional, and warmed from the reference."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from grader import BUNDLE_ROOT
from grader.judge.cases import job_cases, load_golden
from grader.execute import run
from grader.problem import load_problem
from grader.host.jaxcache import harden_cache
from grader.host.sandbox import probe

from conftest import make_test_bundle

REFERENCE = (BUNDLE_ROOT / "reference" / "solution.py").read_bytes()

# One file, one behaviour per public case (H = 4, 8, 12, 16), none of them exportable.
MIXED = b'''
import jax, jax.numpy as jnp, flax.linen as nn, numpy as np

def lax_scan_in_module(seed, x, hidden, T):
    if hidden == 4:
        raise ValueError(f"boom at hidden={hidden}")
    if hidden == 8:
        return [float(v) for v in x]          # untraceable: a list of Python floats
    if hidden == 12:
        return "not an array"
    print("side effect", hidden, flush=True)
    W = nn.initializers.lecun_normal()(jax.random.PRNGKey(seed), (hidden, hidden))
    c = np.tanh(np.asarray(x) @ np.asarray(W))  # numpy inside: only the plain call works
    for _ in range(T):
        c = np.tanh(c @ np.asarray(W))
    return c
'''

# Reads where JAX's cache is and tries to plant a file there; returns ones if that worked.
POISON = b'''
import os, jax, jax.numpy as jnp

def lax_scan_in_module(seed, x, hidden, T):
    d = jax.config.jax_compilation_cache_dir
    try:
        with open(os.path.join(d, "planted-cache"), "w") as f:
            f.write("x")
        return jnp.ones(hidden)
    except Exception:
        return jnp.zeros(hidden)
'''


def _small_problem(tmp: Path, keep: int = 2) -> Path:
    """A test bundle with only the first `keep` cases of each set (fast to warm)."""
    path = make_test_bundle(tmp)
    raw = yaml.safe_load(path.read_text())
    for s in ("public", "hidden"):
        raw["cases"][s] = raw["cases"][s][:keep]
        data = tmp / "tests" / "data" / f"{s}.yaml"
        golden = yaml.safe_load(data.read_text())
        golden["cases"] = golden["cases"][:keep]
        data.write_text(yaml.safe_dump(golden, sort_keys=False))
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    (tmp / "reference").mkdir()
    (tmp / "reference" / "solution.py").write_bytes(REFERENCE)
    return path


def test_exported_programs_reproduce_every_golden_case_bit_for_bit(test_problem):
    golden = [g for s in ("public", "hidden") for g in load_golden(test_problem, s).cases]
    ex = run(test_problem, REFERENCE, job_cases(golden), isolation="process")
    for g in golden:
        out = ex.cases[g.spec.id]
        assert out.status == "result" and out.stage == "executor" and not out.fallback, (g.spec.id, out)
        assert out.structure["ok"] is True, (g.spec.id, out.structure)
        assert np.frombuffer(out.data, "<f4").tobytes() == g.expected.astype("<f4").tobytes(), g.spec.id


def test_unexportable_functions_are_judged_on_the_plain_call(test_problem):
    cases = job_cases(load_golden(test_problem, "public").cases)
    ex = run(test_problem, MIXED, cases, isolation="process")
    assert ex.cases["p01"].status == "error" and ex.cases["p01"].error["message"] == "boom at hidden=4"
    assert ex.cases["p01"].error["frames"] and "raise ValueError" in ex.cases["p01"].error["frames"][-1]
    for cid in ("p02", "p03", "p04"):
        assert ex.cases[cid].status == "result" and ex.cases[cid].fallback, cid
        assert ex.cases[cid].stage == "runner" and ex.cases[cid].module_run is None, cid
    assert ex.cases["p03"].header["pytype"] == "builtins.str"
    assert ex.cases["p04"].header["shape"] == [16] and len(ex.cases["p04"].data) == 16 * 4
    assert "side effect 16" in ex.output_head


def test_graded_children_never_write_the_cache_and_stay_quiet(test_problem, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("GRADER_JAX_CACHE", str(cache))
    cases = job_cases(load_golden(test_problem, "public").cases[:1])
    levels = ["process"] + (["bwrap"] if probe() == "bwrap" else []) + (["uid"] if os.geteuid() == 0 else [])
    for level in levels:
        ex = run(test_problem, REFERENCE, cases, isolation=level)   # a cache miss: JAX compiles
        assert ex.cases["p01"].status == "result" and ex.output_bytes == 0, (level, ex.output_head)
        assert list(cache.iterdir()) == [], level                  # nothing written, not even tried
        if level != "process":                                      # a sandbox uid cannot plant files
            ex = run(test_problem, POISON, cases, isolation=level)
            assert not np.frombuffer(ex.cases["p01"].data, "<f4").any(), level
            assert not (cache / "planted-cache").exists(), level


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a file owned by a slot uid")
def test_harden_cache_drops_foreign_entries_and_write_bits(tmp_path):
    (tmp_path / "ok-cache").write_bytes(b"1")
    os.chmod(tmp_path / "ok-cache", 0o666)
    (tmp_path / "foreign-cache").write_bytes(b"2")
    os.chown(tmp_path / "foreign-cache", 61005, 61005)
    os.chmod(tmp_path, 0o777)
    harden_cache(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok-cache"]
    assert (tmp_path / "ok-cache").stat().st_mode & 0o777 == 0o644
    assert tmp_path.stat().st_mode & 0o022 == 0


def test_warm_fills_a_cache_that_grading_then_reads(tmp_path):
    from grader.instructor.warm import warm
    problem = load_problem(_small_problem(tmp_path / "bundle"))
    cache = tmp_path / "jax"
    w = warm(problem, cache)                      # also proves the exported programs == golden, bit for bit
    assert w.entries > 0 and w.compiled_cases == 4
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in cache.iterdir())   # the grader's alone
    assert not list(tmp_path.glob(".jax.warming-*"))   # no warming leftovers (the lock and stamp stay)


def test_grading_needs_no_cache_and_never_imports_jax(test_problem_path, tmp_path):
    """In a fresh interpreter: grade with a cache folder that does not exist, then look at sys.modules."""
    code = (f"import sys; from grader.__main__ import main; "
            f"rc = main(['--problem', {str(test_problem_path)!r}, 'grade', {str(BUNDLE_ROOT / 'reference' / 'solution.py')!r}, "
            f"'--cases', 'public', '--json', {str(tmp_path / 'v.json')!r}]); "
            f"bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'flax')); "
            f"print('imported:', bad); sys.exit(rc or (4 if bad else 0))")
    env = {**os.environ, "GRADER_JAX_CACHE": str(tmp_path / "missing")}
    p = subprocess.run([sys.executable, "-c", code], cwd=BUNDLE_ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert '"verdict": "AC"' in (tmp_path / "v.json").read_text()
