"""The `uid` level's file-system allowlist (grader/host/landlock.py), seen from inside a sandboxed child: a
probe runs where the runner would and reports what it could read or write. Whatever else lies on the
host (this test makes a world-readable copy of the bundle's secrets outside the clone; other checkouts
such as /work/main may exist or not), the child reads only the system, its venv, its runner, its
submission, its own private copy of the compilation cache and what its Sandbox lists in extra_read;
it writes only its scratch; and it still runs JAX."""
from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import ROOT

from grader.host import landlock, sandbox
from grader.problem import load_problem

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="uid isolation needs a root grader")
needs_landlock = pytest.mark.skipif(landlock.abi() is None, reason="this kernel has no Landlock")

PROBE = r'''
import json, os, sys
job = json.load(open(sys.argv[1]))
out = {}
for path in job["read"]:
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, "rb").read(16)
        out[path] = "read"
    except OSError as e:
        out[path] = type(e).__name__
for path in job["write"]:
    try:
        with open(path, "w") as f:
            f.write("x")
        out[path] = "wrote"
    except OSError as e:
        out[path] = type(e).__name__
if job.get("jax"):
    import jax.numpy as jnp
    out["jax"] = float(jnp.sum(jnp.arange(4.0)))
print(json.dumps(out), flush=True)
'''


def probe(box: sandbox.Sandbox, read: list[Path], write: list[Path] = (), jax: bool = False) -> dict:
    """Run PROBE as box's child (same argv, uid, rlimits and Landlock domain as a runner)."""
    runner = Path(tempfile.mkdtemp(prefix="lax-probe-runner-"))
    try:
        (runner / "runner.py").write_text(PROBE)
        job = box.stage(b"", runner, {"read": [str(p) for p in read], "write": [str(p) for p in write],
                                      "jax": jax})
    finally:
        shutil.rmtree(runner)
    child = box.start(job)
    deadline, text = time.monotonic() + 120, b""
    while time.monotonic() < deadline:
        chunk = os.read(child.output_fd, 1 << 16)
        if not chunk:
            break
        text += chunk
    box.kill()
    return json.loads(text.decode().strip().splitlines()[-1])


@pytest.fixture
def planted_copy():
    """A world-readable copy of the bundle's secrets outside the clone, as another checkout would be."""
    top = Path(tempfile.mkdtemp(prefix="lax-copy-", dir="/tmp"))
    try:
        for sub in ("reference", "tests/data"):
            shutil.copytree(ROOT / sub, top / sub)
        shutil.copy(ROOT / "problem.yaml", top / "problem.yaml")
        for dirpath, dirs, files in os.walk(top):
            os.chmod(dirpath, 0o755)
            for f in files:
                os.chmod(os.path.join(dirpath, f), 0o644)
        yield top
    finally:
        shutil.rmtree(top)


@pytest.fixture(scope="module")
def limits():
    return load_problem(ROOT / "problem.yaml").limits


@needs_root
@needs_landlock
def test_uid_child_reads_no_copy_of_the_bundle_anywhere_but_still_runs_jax(limits, planted_copy):
    copy_files = [planted_copy / "reference" / "solution.py", planted_copy / "tests" / "data" / "hidden.yaml",
                  planted_copy / "problem.yaml", planted_copy]
    assert all(p.stat().st_mode & stat.S_IROTH for p in copy_files)     # permissions would allow it
    others = [Path(p) / "reference" / "solution.py" for p in ("/work/main", *Path("/work/wt").glob("*"))
              if (Path(p) / "reference" / "solution.py").exists()]
    own = [ROOT / "reference" / "solution.py", ROOT / "tests" / "data" / "hidden.yaml", ROOT / ".git"]
    with sandbox.Sandbox(limits, "uid") as box:
        allowed = [Path(sys.prefix) / "pyvenv.cfg", Path("/usr/lib/os-release"), Path("/proc/self/status"),
                   box.scratch / "submission" / "solution.py"]
        got = probe(box, copy_files + others + own + allowed, jax=True)
    for path in copy_files + others + own:
        assert got[str(path)] == "PermissionError", (path, got[str(path)])
    for path in allowed:
        assert got[str(path)] == "read", (path, got[str(path)])
    assert got["jax"] == 6.0


@needs_root
@needs_landlock
def test_uid_child_writes_only_its_scratch(limits, tmp_path):
    open_dir = Path(tempfile.mkdtemp(prefix="lax-open-", dir="/tmp"))
    try:
        os.chmod(open_dir, 0o1777)           # world-writable: only Landlock stands in the way
        with sandbox.Sandbox(limits, "uid") as box:
            mine = [box.scratch / sub / "f" for sub in ("work", "home", "tmp")]
            theirs = [open_dir / "f", Path("/dev/shm") / f"lax-probe-{box.uid}", box.scratch / "judge" / "f"]
            got = probe(box, [], mine + theirs)
        assert [got[str(p)] for p in mine] == ["wrote"] * 3
        assert [got[str(p)] for p in theirs] == ["PermissionError"] * 3, got
        assert list(open_dir.iterdir()) == []
    finally:
        shutil.rmtree(open_dir)


@needs_root
@needs_landlock
def test_cache_is_readable_only_by_the_sandbox_given_it(limits, tmp_path):
    cache = tmp_path / "cache"
    (cache / "sub").mkdir(parents=True)
    (cache / "sub" / "entry").write_bytes(b"compiled program")
    os.chmod(tmp_path, 0o755)
    with sandbox.Sandbox(limits, "uid", cache=cache) as executor, sandbox.Sandbox(limits, "uid") as runner:
        copy = executor.cache
        assert copy is not None and copy.parent == executor.scratch and copy != cache
        assert stat.S_IMODE(os.stat(cache).st_mode) & 0o077 == 0           # the original: grader only
        assert stat.S_IMODE(os.stat(copy).st_mode) == 0o750 and os.stat(copy).st_gid == executor.uid
        assert runner.cache is None
        targets = [cache / "sub" / "entry", copy / "sub" / "entry"]
        assert [probe(executor, targets)[str(p)] for p in targets] == ["PermissionError", "read"]
        assert [probe(runner, targets)[str(p)] for p in targets] == ["PermissionError"] * 2


@needs_root
@needs_landlock
def test_extra_read_is_a_per_sandbox_allowlist(limits):
    shared = Path(tempfile.mkdtemp(prefix="lax-extra-", dir="/tmp"))
    try:
        (shared / "data").write_text("for the executor")
        os.chmod(shared, 0o755)
        os.chmod(shared / "data", 0o644)
        with sandbox.Sandbox(limits, "uid", extra_read=(shared,)) as given, sandbox.Sandbox(limits, "uid") as other:
            assert probe(given, [shared / "data"])[str(shared / "data")] == "read"
            assert probe(other, [shared / "data"])[str(shared / "data")] == "PermissionError"
    finally:
        shutil.rmtree(shared)


@needs_landlock
def test_ruleset_handles_what_the_abi_allows():
    fs, net, scoped = landlock.handled(landlock.abi())
    assert fs & landlock.READ_FILE and fs & landlock.REFER and fs & landlock.TRUNCATE
    if landlock.abi() >= 4:
        assert net == landlock.NET_BIND_TCP | landlock.NET_CONNECT_TCP
    if landlock.abi() >= 6:
        assert scoped == landlock.SCOPE_ABSTRACT_UNIX_SOCKET | landlock.SCOPE_SIGNAL
    assert landlock.handled(1) == ((1 << 13) - 1, 0, 0)


@needs_landlock
def test_verdict_records_the_abi(limits):
    from grader.grade import environment
    assert environment("uid")["landlock"] == landlock.abi()
    assert environment("bwrap")["landlock"] is None and environment("process")["landlock"] is None
    json.dumps(environment("uid"))


def test_resume_and_merge_ignore_the_landlock_abi():
    """A record graded where the kernel had Landlock and one graded where it had none (or at another
    level) share a gradebook: environment_key, which batch resume and merge compare, leaves it out."""
    from grader.fleet.records import environment_key
    from grader.grade import environment
    with_abi = {"verdict": {"environment": {**environment("uid"), "landlock": 7}}}
    without = {"verdict": {"environment": {**environment("uid"), "landlock": None}}}
    older = {"verdict": {"environment": {k: v for k, v in environment("bwrap").items() if k != "landlock"}}}
    assert environment_key(with_abi) == environment_key(without) == environment_key(older)
    other_jax = {"verdict": {"environment": {**environment("uid"), "jax": "0.0.1"}}}
    assert environment_key(other_jax) != environment_key(with_abi)


@needs_root
def test_without_landlock_uid_falls_back_to_permissions_and_says_so(limits, monkeypatch, planted_copy):
    """A kernel without Landlock (simulated): the child still starts, environment.landlock is null,
    and what permissions alone allow is readable again, which is why the ABI is recorded."""
    from grader.grade import environment
    monkeypatch.setattr(landlock, "_ABI", None)
    assert environment("uid")["landlock"] is None
    with sandbox.Sandbox(limits, "uid") as box:
        assert box.landlock_abi is None
        copied, own = planted_copy / "reference" / "solution.py", ROOT / "reference" / "solution.py"
        got = probe(box, [copied, own])
    assert got[str(copied)] == "read" and got[str(own)] == "PermissionError"   # o-rwx still holds
