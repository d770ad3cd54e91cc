"""The fork server (grader/host/zygote.py, grader/child/zygote.py): a runner forked from it is the
same process a fresh `python -I runner.py` would have been (uid, groups, session, limits, Landlock,
environment, open descriptors, folders), it knows nothing of the child forked before it, and whatever
goes wrong with the server only means the child starts afresh."""
from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest
from conftest import ROOT

from grader.grade import grade
from grader.host import landlock, sandbox, zygote
from grader.outcome import CHILD_DIR
from grader.judge.verdict import render

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="uid isolation needs a root grader")
ACCEPTED = ROOT / "tests" / "submissions" / "accepted"

# A submission that reports, at import, what its process is, then ends it (the runner has sent `ready`).
FACTS = r'''
import json, os, resource, sys
def can_read(path):
    try:
        open(path, "rb").read(1)
        return True
    except OSError:
        return False
facts = {
    "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid(), sorted(os.getgroups())],
    "session_leader": os.getsid(0) == os.getpid(),
    "limits": {name: list(resource.getrlimit(getattr(resource, name))) for name in
               ("RLIMIT_CPU", "RLIMIT_CORE", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_AS", "RLIMIT_NPROC")},
    "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{fd}")),
    "env": dict(os.environ),
    "cwd": os.getcwd(),
    "argv": sys.argv,
    "path0": sys.path[0],
    "no_new_privs": [ln for ln in open("/proc/self/status") if ln.startswith(("NoNewPrivs", "Seccomp:"))],
    "reads_problem": can_read(PROBLEM),
    "reads_outside": can_read(OUTSIDE),
    "reads_own_job": can_read(sys.argv[1]),
    "threads": len(os.listdir("/proc/self/task")),
    "cgroup": open("/proc/self/cgroup").read().strip(),
    "cpus": sorted(os.sched_getaffinity(0)),
}
print("FACTS " + json.dumps(facts), flush=True)
os._exit(0)
'''


def facts_of(box: sandbox.Sandbox, source: str) -> tuple[dict, object]:
    job = box.stage(source.encode(), CHILD_DIR, {"function": "lax_scan_in_module", "module_class": "LaxScanModule",
                                                 "max_elements": 64, "cases": []})
    child = box.start(job)
    deadline, text = time.monotonic() + 120, b""
    while time.monotonic() < deadline and b"\n" not in text.partition(b"FACTS ")[2]:
        chunk = os.read(child.output_fd, 1 << 16)
        if not chunk:
            break
        text += chunk
    proc = child.proc
    box.kill()
    line = text.partition(b"FACTS ")[2].partition(b"\n")[0]
    assert line, text.decode(errors="replace")[-2000:]
    return json.loads(line), proc


def comparable(facts: dict, box: sandbox.Sandbox) -> dict:
    """What must be the same for a fresh and a forked child (the scratch folder and the fd numbers the
    grader happened to get differ between two Sandboxes)."""
    out = dict(facts)
    out["ids"] = [x if x != box.uid else "slot" for x in facts["ids"][:4]] + [facts["ids"][4]]
    out["cwd"] = facts["cwd"].replace(str(box.scratch), "SCRATCH")
    out["argv"] = [a.replace(str(box.scratch), "SCRATCH") for a in facts["argv"]]
    out["path0"] = facts["path0"].replace(str(box.scratch), "SCRATCH")
    out["env"] = {k: v.replace(str(box.scratch), "SCRATCH") for k, v in facts["env"].items()}
    out["fds"] = len(facts["fds"])
    out.pop("threads")      # a fresh child's NumPy may start an OpenBLAS thread; the server's children never
    out["cgroup"] = facts["cgroup"].replace(box.cgroup.name, "CGROUP") if box.cgroup else facts["cgroup"]
    return out


@pytest.mark.parametrize("level", [pytest.param("uid", marks=needs_root), "process"])
def test_a_forked_runner_is_the_process_a_fresh_one_would_be(test_problem, level, monkeypatch):
    outside = Path(tempfile.mkdtemp(prefix="lax-zygote-outside-"))    # world-readable, outside every grant
    os.chmod(outside, 0o755)
    (outside / "file").write_text("x")
    os.chmod(outside / "file", 0o644)
    source = FACTS.replace("PROBLEM", repr(str(ROOT / "tests" / "data" / "hidden.yaml"))) \
                  .replace("OUTSIDE", repr(str(outside / "file")))
    seen = {}
    for setting in ("0", "1"):
        monkeypatch.setenv("GRADER_ZYGOTE", setting)
        with sandbox.Sandbox(test_problem.limits, level) as box:
            facts, proc = facts_of(box, source)
            assert isinstance(proc, zygote.ForkedProc) == (setting == "1")
            seen[setting] = comparable(facts, box)
    shutil.rmtree(outside)
    fresh, forked = seen["0"], seen["1"]
    assert forked == fresh
    assert facts["threads"] == 1 and forked["session_leader"]
    if level == "uid":
        assert forked["ids"][:4] == ["slot"] * 4 and forked["ids"][4] == []
        assert not forked["reads_problem"] and forked["reads_own_job"]
        assert forked["reads_outside"] == (landlock.abi() is None)     # Landlock's domain holds


# Two submissions graded one after the other by the same grader process: the first plants state in
# the modules every child has imported (JAX's config, NumPy, the runner's own), in its environment and
# in sys.modules; the second, forked from the same server, must find none of it.
PLANT = r'''
import os, sys, jax, numpy, common
numpy._planted = common._planted = "from the student before"
jax.config.update("jax_default_matmul_precision", "highest")
os.environ["PLANTED"] = "1"
sys.modules["planted_module"] = type(sys)("planted_module")
'''
LOOK = r'''
import os, sys, jax, numpy, common
found = [name for name, where in (("numpy", numpy), ("common", common)) if hasattr(where, "_planted")]
found += ["jax.config"] if jax.config.jax_default_matmul_precision is not None else []
found += ["environ"] if "PLANTED" in os.environ else []
found += ["sys.modules"] if "planted_module" in sys.modules else []
if found:
    raise RuntimeError("the child before left: " + ", ".join(found))
'''


@pytest.mark.parametrize("level", [pytest.param("uid", marks=needs_root), "process"])
def test_a_forked_child_knows_nothing_of_the_one_before(test_problem, level, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_ZYGOTE", "1")
    solution = (ACCEPTED / "basic_einsum_length.py").read_text()
    planter, looker = tmp_path / "planter.py", tmp_path / "looker.py"
    planter.write_text(PLANT + solution)
    looker.write_text(LOOK + solution)
    first = json.loads(render(grade(test_problem, planter, "public", level)))
    server = zygote.shared(sandbox.venv_python(), {})
    assert server is not None
    second = json.loads(render(grade(test_problem, looker, "public", level)))
    assert zygote.shared(sandbox.venv_python(), {}) is server       # the same server forked both
    assert first["verdict"] == "AC", first
    assert second["verdict"] == "AC", second


@pytest.mark.parametrize("level", [pytest.param("uid", marks=needs_root), "process"])
def test_a_dead_server_costs_no_grading(test_problem, level, monkeypatch):
    """The server killed between two gradings (at `process` a submission could do it): the next
    child starts from a new server or afresh, and the grading is what it would have been."""
    monkeypatch.setenv("GRADER_ZYGOTE", "1")
    path = ACCEPTED / "basic_einsum_length.py"
    assert json.loads(render(grade(test_problem, path, "public", level)))["verdict"] == "AC"
    server = zygote.shared(sandbox.venv_python(), {})
    os.kill(server.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while server_alive(server.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert json.loads(render(grade(test_problem, path, "public", level)))["verdict"] == "AC"


def test_an_ended_child_keeps_its_pid_until_the_grader_lets_it_go(test_problem, monkeypatch):
    """The server reports an exit without reaping, so the pid the grader may still signal (and the
    process group it may kill) cannot belong to anyone else until ForkedProc.close()."""
    monkeypatch.setenv("GRADER_ZYGOTE", "1")
    with sandbox.Sandbox(test_problem.limits, "process") as box:
        job = box.stage(b"import os\nos._exit(3)\n", CHILD_DIR,
                        {"function": "f", "module_class": "M", "max_elements": 1, "cases": []})
        child = box.start(job)
        proc = child.proc
        assert isinstance(proc, zygote.ForkedProc)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.returncode == 3
        stat = Path(f"/proc/{proc.pid}/stat").read_text()
        assert stat.rsplit(")", 1)[1].split()[0] == "Z"        # a zombie: the pid is still taken
        server = zygote.shared(sandbox.venv_python(), {})
        box.kill()
        deadline = time.monotonic() + 10
        while server_child(proc.pid, server.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not server_child(proc.pid, server.pid)      # reaped once let go


def server_child(pid: int, server: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(server)
    except OSError:
        return False


def server_alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("level", [pytest.param("uid", marks=needs_root), "process"])
def test_a_batch_forks_every_submission_from_its_one_server(tmp_path, test_problem_path, level):
    """Two workers, one after the other, each a grader process of its own: both runners are children
    of the batch's server (not of a server each worker started), which ends with the batch."""
    import re
    from conftest import run_cli
    subs = tmp_path / "class"
    subs.mkdir()
    for name in ("a.py", "b.py"):
        (subs / name).write_text('import os\nraise RuntimeError("parent=%d" % os.getppid())\n')
    out = tmp_path / "results.jsonl"
    code, _out, err = run_cli(["--problem", str(test_problem_path), "batch", str(subs), "--jobs", "1",
                               "--cases", "public", "--isolation", level, "--out", str(out)])
    assert code == 0, err
    parents = {int(p) for p in re.findall(r"parent=(\d+)", out.read_text())}
    assert len(parents) == 1, parents
    (server,) = parents
    assert not server_alive(server)          # closed with the batch


@needs_root
@pytest.mark.parametrize("level", ["uid", "process"])
def test_a_forked_child_that_cannot_become_its_sandbox_is_a_judge_error(test_problem, level, monkeypatch):
    """A step of become() that fails (here joining a memory cgroup that is not there) ends the child
    before a line of the runner runs: the grader's failure (JE), never the student's verdict."""
    monkeypatch.setenv("GRADER_ZYGOTE", "1")
    monkeypatch.delenv("GRADER_NO_CGROUP", raising=False)
    monkeypatch.setattr(sandbox, "make_cgroup", lambda name, mb: Path("/nonexistent/lax-cgroup"))
    monkeypatch.setattr(sandbox, "remove_cgroup", lambda cg: None)
    v = json.loads(render(grade(test_problem, ACCEPTED / "basic_einsum_length.py", "public", level)))
    assert v["verdict"] == "JE", v["verdict"]
    assert "before it started" in v["internal"]["judge_error"]


def test_a_forked_child_runs_on_the_cpus_of_the_grader_that_asked(test_problem, monkeypatch):
    """The server keeps the affinity it started with; a child takes the asking grader's, as one it
    started itself would (validate and bench pin a grading to one CPU)."""
    monkeypatch.setenv("GRADER_ZYGOTE", "1")
    source = FACTS.replace("PROBLEM", repr("/nonexistent")).replace("OUTSIDE", repr("/nonexistent"))
    before = os.sched_getaffinity(0)
    with sandbox.Sandbox(test_problem.limits, "process") as box:
        facts_of(box, source)                  # the server is running now
    try:
        os.sched_setaffinity(0, {min(before)})
        with sandbox.Sandbox(test_problem.limits, "process") as box:
            facts, proc = facts_of(box, source)
    finally:
        os.sched_setaffinity(0, before)
    assert isinstance(proc, zygote.ForkedProc) and facts["cpus"] == [min(before)]
