"""The sandbox's own guarantees, tested without a hostile example: a sandbox that cannot start is a
judge error (never a student verdict), secrets are unreadable to the slot uids, files a slot uid left
in the shared scratch places are found, bounded and removed, and the probe picks a real level."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SUBMISSIONS

from grader import sandbox
from grader.grade import grade
from grader.proctree import remove_files_of, shared_usage
from grader.verdict import render

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="slot uids need a root grader")
ACCEPTED = SUBMISSIONS / "wrong_answer" / "hostile_fake_verdict.py"   # any file that loads
SPARE_UID = sandbox.SLOT_UID_BASE + sandbox.SLOTS + 1                    # never a slot's, never the probe's


def _verdict(problem, path, level) -> dict:
    return json.loads(render(grade(problem, path, "public", level)))


def test_bwrap_missing_is_a_judge_error(test_problem, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    v = _verdict(test_problem, ACCEPTED, "bwrap")
    assert v["verdict"] == "JE" and "bubblewrap" in v["internal"]["judge_error"]
    assert all(c["verdict"] == "JE" for c in v["cases"])


@pytest.mark.parametrize("level", ["bwrap", "uid"])
def test_unreadable_runner_is_a_judge_error(test_problem, level, monkeypatch):
    real_stage = sandbox.Sandbox.stage

    def stage(self, source, runner_dir, job):
        staged = real_stage(self, source, runner_dir, job)
        os.chmod(self.scratch / "judge" / "runner.py", 0)
        return staged
    monkeypatch.setattr(sandbox.Sandbox, "stage", stage)
    v = _verdict(test_problem, ACCEPTED, level)
    assert v["verdict"] == "JE" and "before it started" in v["internal"]["judge_error"]


def test_uid_children_cannot_read_the_secrets(test_problem):
    with sandbox.Sandbox(test_problem.limits, "uid", secrets_root=ROOT) as box:
        uid = box.uid
    for name in ("reference", "tests", ".git"):
        mode = (ROOT / name).stat().st_mode
        assert not mode & 0o007, f"{name} is readable by others: {stat.filemode(mode)}"
    probe = ("import sys\nfor p in sys.argv[1:]:\n    try:\n        open(p).read(1); print('READ', p)\n"
             "    except OSError:\n        pass\n")
    secrets = [ROOT / "reference" / "solution.py", ROOT / "tests" / "data" / "hidden.yaml", ROOT / ".git" / "HEAD"]
    out = subprocess.run([sys.executable, "-I", "-c", probe, *map(str, secrets)], capture_output=True, text=True,
                         preexec_fn=lambda: (os.setgroups([]), os.setgid(uid), os.setuid(uid)), timeout=60)
    assert out.returncode == 0, out.stderr
    assert "READ" not in out.stdout


def test_uid_children_get_the_seccomp_filter(test_problem):
    with sandbox.Sandbox(test_problem.limits, "uid") as box:
        job = box.stage(b"", ROOT / "grader", {})
    assert job["seccomp"] is True
    code = ("import socket, sys; sys.path.insert(0, 'grader'); import runner; runner.apply_seccomp()\n"
            "for fam in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX, socket.AF_NETLINK):\n"
            "    try:\n        socket.socket(fam, socket.SOCK_DGRAM); print('OPEN', fam)\n"
            "    except PermissionError:\n        pass\n"
            "a, b = socket.socketpair(); print('PAIR OK')\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "OPEN" not in out.stdout and "PAIR OK" in out.stdout


def test_shared_scratch_is_measured_and_removed():
    made = [Path("/tmp/lax-test-shared"), Path("/var/tmp/lax-test-shared"), Path("/dev/shm/lax-test-shared")]
    root_file = made[0] / "root-owned"
    try:
        for d in made:
            d.mkdir()
            (d / "sub").mkdir()
            (d / "sub" / "blob").write_bytes(b"x" * (1 << 20))
            (d / "link").symlink_to(ROOT / "problem.yaml")
            for p in (d, d / "sub", d / "sub" / "blob", d / "link"):
                os.lchown(p, SPARE_UID, SPARE_UID)
        root_file.write_text("not the uid's")
        used, entries = shared_usage(SPARE_UID)
        assert used >= 3 << 20 and entries == 12
        remove_files_of(SPARE_UID)
        assert shared_usage(SPARE_UID)[1] == 1          # only the folder still holding root's file
        assert root_file.exists() and (ROOT / "problem.yaml").exists()   # never someone else's, never a link's target
        assert not (made[1]).exists() and not (made[2]).exists()
    finally:
        for d in made:
            subprocess.run(["rm", "-rf", str(d)], check=False)


def test_probe_names_a_working_level():
    assert sandbox.probe() in ("bwrap", "uid")


def test_grader_rss_leaves_room_in_a_768_mb_box(test_problem):
    """The grader beside its child: grader peak RSS + the default memory limit must fit 768 MB."""
    code = ("import json, resource, sys\nfrom grader.grade import grade\nfrom grader.problem import load_problem\n"
            "v = grade(load_problem(sys.argv[1]), sys.argv[2], 'public')\n"
            "print(json.dumps([v.verdict, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))\n")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "problem.yaml"), str(ROOT / "reference" / "solution.py")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    verdict, rss_mb = json.loads(out.stdout.strip().splitlines()[-1])
    from grader.problem import load_problem
    default = load_problem(ROOT / "problem.yaml").limits.memory_mb
    assert verdict == "AC"
    assert rss_mb + default <= 768, f"grader {rss_mb:.0f} MB + child limit {default} MB"
