"""Hostile submissions: each test asserts the verdict AND the guarantee behind it, on the `bwrap` and
the `uid` isolation levels (see docs/threat-model.md).

The example files live in tests/submissions/<folder>/hostile_*.py (the lead's parametrized test checks
their verdicts at both levels); here they are graded against a one-case copy of the problem so that the
time-limit tests stay cheap, and what must hold besides the verdict is checked from the outside:
no connection reached a listener, no process or shared-/tmp file outlived grading, the bundle is
byte-identical, the grader's own memory stayed small, a TLE arrived within its limit plus slack.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, SUBMISSIONS, one_case_bundle

from grader.host import sandbox
from grader.outcome import RETRY_MARGIN
from grader.grade import grade
from grader.host.isolation import UID_RANGE
from grader.problem import Problem, load_problem
from grader.host.proctree import SHARED_SCRATCH
from grader.judge.verdict import render

LEVELS = ("bwrap", "uid")
LIMITS = {"load_time_s": 15, "case_time_s": 4, "total_time_s": 60, "memory_mb": 900,
          "output_bytes": 65536, "scratch_mb": 16}
SLACK_S = 2.0                                   # a TLE arrives within its limit plus this
SLOT_UIDS = range(*UID_RANGE)                   # every uid a sandbox may draw
MARKERS = (b"lax_swarm", b"lax_daemon")        # process names the hostile files give their children

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="bwrap-as-slot-uid and uid isolation need root")


@pytest.fixture(scope="module")
def problem(tmp_path_factory) -> Problem:
    return load_problem(one_case_bundle(tmp_path_factory.mktemp("hostile"), **LIMITS))


def example(folder: str, name: str) -> Path:
    return SUBMISSIONS / folder / f"hostile_{name}.py"


def marked_processes(uids: set[int]) -> list[int]:
    """Processes the hostile files named, owned by these slot uids (tests run concurrently). Zombies
    count too: the grader is their reaper (proctree.become_subreaper), and an unreaped one still
    counts toward its uid's process limit and holds a pid of the machine."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid in uids and \
                    Path(f"/proc/{pid}/comm").read_bytes().strip() in MARKERS:
                out.append(int(pid))
        except OSError:
            pass
    return out


def graded(problem: Problem, path: Path, level: str, monkeypatch, sets: str = "public") -> dict:
    """Grade in-process at `level`; asserts the sandbox left nothing behind; returns the verdict JSON."""
    boxes: list[sandbox.Sandbox] = []
    leftovers: list[str] = []
    real_init, real_close = sandbox.Sandbox.__init__, sandbox.Sandbox.close

    def spy(self, *a, **k):
        real_init(self, *a, **k)
        boxes.append(self)

    def close(self):
        # Checked while the uid's claim is still held: once released, another sandbox may draw
        # the same uid (one chance in 2^31), and its processes would not be this submission's.
        claim, self._claim = self._claim, None
        try:
            real_close(self)
            if self.uid is not None:
                leftovers.extend(f"pid {p}" for p in sandbox.pids_of_uid(self.uid))
                leftovers.extend(f"marked pid {p}" for p in marked_processes({self.uid}))
        finally:
            if claim is not None:
                claim.release()
    monkeypatch.setattr(sandbox.Sandbox, "__init__", spy)
    monkeypatch.setattr(sandbox.Sandbox, "close", close)
    t0 = time.monotonic()
    verdict = json.loads(render(grade(problem, path, sets, level)))
    verdict["wall_s"] = time.monotonic() - t0
    assert verdict["environment"]["isolation"] == level
    for box in boxes:
        assert not box.scratch.exists(), "the scratch folder outlived grading"
        assert box.cgroup is None or not box.cgroup.exists(), "the memory cgroup outlived grading"
    assert leftovers == [], "a process of the slot uid outlived grading"
    return verdict


def output(verdict: dict) -> str:
    return verdict["internal"].get("output_head", "")


# -- cheating: network, secrets, forged verdicts, tampering --------------------------------------
@pytest.mark.parametrize("level", LEVELS)
def test_network_is_unreachable(problem, level, monkeypatch, tmp_path):
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    tcp.settimeout(0.2)
    port = tcp.getsockname()[1]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", port))
    udp.settimeout(0.2)
    got: list[str] = []
    stop = threading.Event()

    def listen():
        while not stop.is_set():
            for s, take in ((tcp, lambda: tcp.accept()[1]), (udp, lambda: udp.recvfrom(100)[1])):
                try:
                    got.append(repr(take()))
                except OSError:
                    pass
    t = threading.Thread(target=listen, daemon=True)
    t.start()
    src = example("wrong_answer", "connect_localhost").read_text().replace("PORT = 9 ", f"PORT = {port} ")
    assert f"PORT = {port}" in src
    (tmp_path / "solution.py").write_text(src)
    try:
        v = graded(problem, tmp_path / "solution.py", level, monkeypatch)
    finally:
        stop.set()
        t.join()
        tcp.close()
        udp.close()
    assert v["verdict"] == "WA", ([(c["id"], c["verdict"], c["message"]) for c in v["cases"]], v["internal"])
    assert got == [], f"the listener was reached: {got}"
    assert "CONNECTED" not in output(v)
    if level == "uid":        # seccomp refuses socket() itself, for every family
        assert output(v).count("PermissionError") == 4, output(v)


@pytest.mark.parametrize("level", LEVELS)
def test_reference_and_golden_data_are_out_of_reach(problem, level, monkeypatch):
    # The file returns the expected answer if any route to the reference or the golden data works.
    v = graded(problem, example("wrong_answer", "import_reference"), level, monkeypatch, sets="all")
    assert v["verdict"] == "WA"
    assert "LEAK" not in output(v)


@pytest.fixture
def planted_copy():
    """A world-readable copy of the bundle's secrets outside the clone, where the hostile file looks
    (it globs /tmp/*): the verdict must not depend on what else lies on the host."""
    top = Path(tempfile.mkdtemp(prefix="lax-copy-", dir="/tmp"))
    try:
        for sub in ("reference", "tests/data", ".git"):
            if (ROOT / sub).is_dir():
                shutil.copytree(ROOT / sub, top / sub, ignore=shutil.ignore_patterns("objects"))
        for dirpath, _dirs, files in os.walk(top):
            os.chmod(dirpath, 0o755)
            for f in files:
                os.chmod(os.path.join(dirpath, f), 0o644)
        yield top
    finally:
        shutil.rmtree(top)


@pytest.mark.parametrize("level", LEVELS)
def test_a_world_readable_copy_elsewhere_is_out_of_reach(problem, level, monkeypatch, planted_copy):
    assert (planted_copy / "reference" / "solution.py").stat().st_mode & 0o004
    v = graded(problem, example("wrong_answer", "import_reference"), level, monkeypatch, sets="all")
    assert v["verdict"] == "WA"
    assert "LEAK" not in output(v), output(v)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", ["fake_verdict", "planted_results"])
def test_printed_or_planted_verdicts_change_nothing(problem, level, name, monkeypatch):
    v = graded(problem, example("wrong_answer", name), level, monkeypatch)
    assert v["verdict"] == "WA" and v["score"] == 0
    for top in SHARED_SCRATCH:
        for dirpath, _dirs, files in os.walk(top):
            for f in files:
                p = os.path.join(dirpath, f)
                try:
                    owner = os.lstat(p).st_uid
                except OSError:
                    continue
                if "lax-hostile" in p or f in ("verdict.json", "results.json"):
                    assert owner not in SLOT_UIDS, f"{p} planted by the submission survived"


def _tree_hash(*paths: Path) -> str:
    h = hashlib.sha256()
    for top in paths:
        for f in sorted(top.rglob("*")) if top.is_dir() else [top]:
            if f.is_file():
                h.update(str(f).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("level", LEVELS)
def test_bundle_is_unchanged(problem, level, monkeypatch):
    venv_lib = Path(sys.prefix) / "lib" / "python3.11" / "site-packages"
    watched = [problem.root, ROOT / "problem.yaml", ROOT / "grader" / "runner.py",
               venv_lib / "numpy" / "__init__.py", Path(sys.prefix) / "bin"]
    before = _tree_hash(*watched)
    v = graded(problem, example("wrong_answer", "bundle_writer"), level, monkeypatch)
    assert v["verdict"] == "WA"
    assert _tree_hash(*watched) == before
    assert not (ROOT / ".hostile-was-here").exists() and not (problem.root / ".hostile-was-here").exists()
    assert "WROTE /work" not in output(v) and f"WROTE {problem.root}" not in output(v)


# -- nothing outlives grading ---------------------------------------------------------------------
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", ["fork_swarm", "setsid_daemon", "scratch_filler"])
def test_processes_and_files_do_not_outlive_grading(problem, level, name, monkeypatch):
    v = graded(problem, example("run_time_error", name), level, monkeypatch)   # asserts the cleanup
    assert v["verdict"] == "RTE"
    assert not Path("/tmp/lax-hostile-filler").exists()


@pytest.mark.parametrize("level", LEVELS)
def test_fork_swarm_is_rte_not_mle_without_a_cgroup(problem, level, monkeypatch):
    """Summed RSS counts the swarm's shared copy-on-write pages once per process (a JAX runner
    forked 200 times sums to tens of GiB); measured with PSS it is what it is: RTE, its folder's."""
    monkeypatch.setenv("GRADER_NO_CGROUP", "1")
    v = graded(problem, example("run_time_error", "fork_swarm"), level, monkeypatch)
    assert v["verdict"] == "RTE", v["cases"][0]["message"]
    assert v["internal"]["peak_memory_mb"] < LIMITS["memory_mb"]


# -- limits ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", ["infinite_loop", "ignore_sigterm", "cpu_threads"])
def test_case_time_limit_arrives_on_time(problem, level, name, monkeypatch):
    v = graded(problem, example("time_limit_exceeded", name), level, monkeypatch)
    assert v["verdict"] == "TLE"
    (case,) = v["cases"]
    # A time-out is confirmed once by a retry with RETRY_MARGIN more time before it counts (README,
    # "Time limits"): the case's time is the retry's, and it stops at that limit plus slack.
    limit = LIMITS["case_time_s"] * RETRY_MARGIN
    assert limit <= case["time_s"] <= limit + SLACK_S
    assert v["timing"]["total_s"] <= LIMITS["load_time_s"] + LIMITS["case_time_s"] + limit + 2 * SLACK_S


@pytest.mark.parametrize("level", LEVELS)
def test_sleep_at_import_is_a_load_tle(problem, level, monkeypatch):
    v = graded(problem, example("time_limit_exceeded", "sleep_at_import"), level, monkeypatch)
    assert v["verdict"] == "TLE"
    assert LIMITS["load_time_s"] <= v["internal"]["load_time_s"] <= LIMITS["load_time_s"] + SLACK_S, \
        (v["internal"], v["timing"])
    # The runner's start (until `ready`) and the loading each have load_time_s, cleanup a little more.
    assert v["timing"]["total_s"] <= 2 * LIMITS["load_time_s"] + 2 * SLACK_S, (v["internal"], v["timing"])


@pytest.mark.parametrize("level,cgroup", [("bwrap", True), ("uid", True), ("uid", False), ("bwrap", False)])
def test_memory_hog_is_mle_with_and_without_cgroup(tmp_path, level, cgroup, monkeypatch):
    # A lower limit and a longer case: filling memory runs at ~400 MB/s on 2 busy cores, and the
    # hog must meet the memory limit, not the time limit.
    problem = load_problem(one_case_bundle(tmp_path, **{**LIMITS, "memory_mb": 500, "case_time_s": 15}))
    if not cgroup:
        monkeypatch.setenv("GRADER_NO_CGROUP", "1")
    v = graded(problem, example("memory_limit_exceeded", "memory_hog"), level, monkeypatch)
    assert v["verdict"] == "MLE"
    # cgroup: the hard limit bounds the tree; watchdog: it kills within one tick of crossing the limit
    assert v["internal"]["peak_memory_mb"] <= 500 + sandbox.CGROUP_SLACK_MB


# VmHWM, not ru_maxrss: Linux carries the forking parent's peak RSS across exec into ru_maxrss, so a
# grader started from a big pytest worker would report the worker's size (a host-dependent number).
GRADE_AND_MEASURE = """
import json, resource, sys
from grader.grade import grade
from grader.problem import load_problem
from grader.judge.verdict import render
v = json.loads(render(grade(load_problem(sys.argv[1]), sys.argv[2], "public", sys.argv[3])))
print(json.dumps({"verdict": v["verdict"], "cases": [c["verdict"] for c in v["cases"]],
                  "grader_maxrss_mb": int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) / 1024}))
"""


def grade_in_subprocess(problem: Problem, path: Path, level: str) -> dict:
    """A separate grader process: its own peak RSS is measurable, and a child that kills its parent
    would kill this process, not pytest."""
    done = subprocess.run([sys.executable, "-c", GRADE_AND_MEASURE, str(problem.root / "problem.yaml"),
                           str(path), level], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("level", LEVELS)
def test_flood_is_ole_and_the_grader_stays_small(problem, level):
    out = grade_in_subprocess(problem, example("output_limit_exceeded", "stdout_flood"), level)
    assert out["verdict"] == "OLE"
    assert out["grader_maxrss_mb"] < 120, out     # measured ~52 MB; 2 GiB were offered


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name,expect", [("run_time_error/hostile_kill_parent.py", "RTE"),
                                         ("wrong_answer/hostile_huge_array.py", "WA"),
                                         ("run_time_error/hostile_garbage_frames.py", "RTE"),
                                         ("run_time_error/hostile_lying_prefix.py", "RTE")])
def test_grader_survives_and_stays_small(problem, level, name, expect):
    out = grade_in_subprocess(problem, SUBMISSIONS / name, level)
    assert out["verdict"] == expect
    assert out["grader_maxrss_mb"] < 120, out


# -- untrusted paths ------------------------------------------------------------------------------
def test_link_to_reference_is_refused_never_followed(problem, monkeypatch):
    link = SUBMISSIONS / "compile_error" / "hostile_link_to_reference.py"
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))
    v = graded(problem, link, "uid", monkeypatch)
    assert v["verdict"] == "CE" and "symbolic link" in v["feedback"][0]
    assert v["submission"]["sha256"] is None          # not a byte of the target was read


def test_oversized_source_is_ce_before_anything_runs(problem, monkeypatch, tmp_path):
    big = tmp_path / "solution.py"
    body = "def lax_scan_in_module(seed, x, hidden, T):\n    return None\n"
    big.write_text(body + ("#" * 99 + "\n") * 2048)          # 200 KiB of comments
    assert big.stat().st_size > problem.limits.code_bytes
    started = []
    monkeypatch.setattr(sandbox.Sandbox, "start", lambda self, job: started.append(job))
    v = json.loads(render(grade(problem, big, "public", "uid")))
    assert v["verdict"] == "CE" and "KiB limit" in v["feedback"][0]
    assert started == []
