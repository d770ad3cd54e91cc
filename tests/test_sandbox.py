"""The sandbox's own guarantees, tested without a hostile example: a sandbox that cannot start is a
judge error (never a student verdict), secrets are unreadable to the slot uids, concurrent slots
cannot read each other's code, files and SysV IPC objects a slot uid left in shared places are
found, bounded and removed with the slot's rights only, every process of a slot dies, the memory
cgroup sits below the grader's own and counts only real OOM kills, and the probe picks a real level."""
from __future__ import annotations

import ctypes
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, SUBMISSIONS

from grader import sandbox
from grader.grade import grade
from grader.memcg import cgroup_oom_count, make_cgroup, own_cgroup
from grader.proctree import ipc_of, kill_uid, pids_of_uid, remove_files_of, remove_ipc_of, shared_usage
from grader.verdict import render

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="slot uids need a root grader")
ACCEPTED = SUBMISSIONS / "wrong_answer" / "hostile_fake_verdict.py"   # any file that loads
SPARE_UID = sandbox.SLOT_UID_BASE + sandbox.SLOTS + 1                    # never a slot's, never the probe's
OTHER_UID = SPARE_UID + 1                                                # a bystander: must be left alone
LIBC = ctypes.CDLL(None, use_errno=True)


def as_uid(uid: int):
    """preexec_fn dropping to uid exactly as the sandbox's child does (gid = uid, no groups)."""
    return lambda: (os.setgroups([]), os.setgid(uid), os.setuid(uid))


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

    def stage(self, source, runner_dir, job, **kw):
        staged = real_stage(self, source, runner_dir, job, **kw)
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
    code = ("import socket, sys; sys.path.insert(0, 'grader/child'); import common; common.apply_seccomp()\n"
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


SYSV_CALLS = ("import ctypes, sys\nlibc = ctypes.CDLL(None, use_errno=True)\n"
              "for name, call, rm in (('shm', lambda: libc.shmget(0, 1 << 20, 0o1600), libc.shmctl),\n"
              "                       ('msg', lambda: libc.msgget(0, 0o1600), libc.msgctl),\n"
              "                       ('sem', lambda: libc.semget(0, 1, 0o1600), lambda i, c, a: libc.semctl(i, 0, c))):\n"
              "    made = call()\n    print(name, 'MADE' if made >= 0 else ctypes.get_errno())\n"
              "    if made >= 0:\n        rm(made, 0, None)\n")     # a failing run leaves nothing either


def test_uid_children_cannot_make_sysv_ipc():
    """No IPC namespace in uid mode: a SysV object would outlive grading, charged to the slot."""
    code = "import sys; sys.path.insert(0, 'grader/child'); import common; common.apply_seccomp()\n" + SYSV_CALLS
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["shm", "1", "msg", "1", "sem", "1"]        # EPERM, each


def test_sysv_ipc_a_slot_left_is_removed_and_no_one_elses(test_problem):
    touch = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.shmat.restype = ctypes.c_void_p\n"
             "i = libc.shmget(0, 8 << 20, 0o1600); assert i >= 0, ctypes.get_errno()\n"
             "ctypes.memset(libc.shmat(i, None, 0), 1, 8 << 20)\n"      # charged, then left behind
             "assert libc.msgget(0, 0o1600) >= 0 and libc.semget(0, 2, 0o1600) >= 0\n")
    made = []
    try:
        with sandbox.Sandbox(test_problem.limits, "uid") as box:
            for uid in (box.uid, OTHER_UID):
                out = subprocess.run([sys.executable, "-c", touch], preexec_fn=as_uid(uid), capture_output=True,
                                     text=True, timeout=60)
                assert out.returncode == 0, out.stderr
            made = ipc_of(OTHER_UID)
            assert sorted(kind for kind, _ in ipc_of(box.uid)) == ["msg", "sem", "shm"]
            box.stage(b"", ROOT / "grader", {})
            assert ipc_of(box.uid) == []
            assert ipc_of(OTHER_UID) == made and len(made) == 3
    finally:
        remove_ipc_of(OTHER_UID)
    assert ipc_of(OTHER_UID) == []


def test_concurrent_slots_cannot_read_each_others_code(test_problem):
    probe = ("import os, sys\nfor p in sys.argv[1:]:\n    try:\n"
             "        print('READ' if os.path.isfile(p) and open(p).read() is not None else os.listdir(p) and 'LISTED')\n"
             "    except OSError:\n        print('DENIED')\n")
    with sandbox.Sandbox(test_problem.limits, "uid") as a, sandbox.Sandbox(test_problem.limits, "uid") as b:
        assert a.uid != b.uid
        for box in (a, b):
            box.start(box.stage(f"SECRET = {box.uid}".encode(), ROOT / "grader", {}))   # writes job.json
            box.kill()                           # the child itself is not needed
        theirs = [b.scratch / "submission" / "solution.py", b.scratch / "judge" / "runner.py",
                  b.scratch / "judge" / "job.json", b.scratch / "submission", b.scratch]
        mine = [a.scratch / "submission" / "solution.py", a.scratch / "judge" / "job.json"]
        out = subprocess.run([sys.executable, "-I", "-c", probe, *map(str, theirs + mine)],
                             preexec_fn=as_uid(a.uid), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["DENIED"] * len(theirs) + ["READ"] * len(mine)


def test_leftover_cleanup_holds_only_the_slot_uids_rights():
    """The walk and delete run as the slot uid, not root: a folder swapped for a link mid-walk can
    make it delete nothing the uid could not. Shown with a folder whose group (the uid's) may not
    write: root would delete the uid's file in it, the uid cannot."""
    guarded, own = Path("/tmp/lax-test-guarded"), Path("/tmp/lax-test-own")
    try:
        for d in (guarded, own):
            d.mkdir()
            (d / "f").write_text("x")
            os.chown(d / "f", SPARE_UID, SPARE_UID)
        os.chown(guarded, 0, SPARE_UID)
        os.chmod(guarded, 0o707)        # others may write; the uid's group (its own gid) may not
        os.chown(own, SPARE_UID, SPARE_UID)
        os.chmod(own, 0)                # its owner made it unreadable: the helper, as owner, undoes that
        assert remove_files_of(SPARE_UID)
        assert (guarded / "f").exists() and not own.exists()
    finally:
        for d in (guarded, own):
            subprocess.run(["rm", "-rf", str(d)], check=False)


def test_kill_uid_ends_every_process_of_the_uid_only():
    def limit():
        import resource
        resource.setrlimit(resource.RLIMIT_NPROC, (40, 40))
        as_uid(SPARE_UID)()
    forker = "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)\n"
    procs = [subprocess.Popen([sys.executable, "-c", forker], preexec_fn=limit),
             subprocess.Popen(["setsid", "sleep", "60"], preexec_fn=as_uid(SPARE_UID)),
             subprocess.Popen(["sleep", "60"], preexec_fn=as_uid(OTHER_UID))]
    try:
        deadline = time.monotonic() + 20
        while len(pids_of_uid(SPARE_UID)) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(pids_of_uid(SPARE_UID)) >= 20
        assert kill_uid(SPARE_UID) and pids_of_uid(SPARE_UID) == set()
        assert procs[2].poll() is None and pids_of_uid(OTHER_UID) == {procs[2].pid}
    finally:
        kill_uid(SPARE_UID)
        for p in procs:
            p.kill()
            p.wait()


CGROUP_V2 = "0::/user.slice/grader.scope\n"
MOUNT_V2 = "30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n"
CGROUP_DOCKER_V1 = "4:memory:/docker/abc\n3:cpu:/docker/abc\n0::/\n"
MOUNT_DOCKER_V1 = ("35 31 0:32 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n"
                   "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n")


def test_own_cgroup_is_found_from_proc():
    assert own_cgroup(CGROUP_V2, MOUNT_V2) == (Path("/sys/fs/cgroup/user.slice/grader.scope"), True)
    assert own_cgroup(CGROUP_DOCKER_V1, MOUNT_DOCKER_V1) == (Path("/sys/fs/cgroup/memory"), False)
    assert own_cgroup(CGROUP_V2, "") is None


def test_memory_cgroup_is_made_below_the_graders_own(tmp_path):
    own = own_cgroup()
    if own is None:
        pytest.skip("no memory cgroup mounted")
    cg = make_cgroup(f"test-{os.getpid()}", 64)
    if cg is None:
        pytest.skip(f"the grader's own cgroup {own[0]} is not writable")
    cg.rmdir()
    assert cg.is_relative_to(own[0]), f"{cg} escapes the grader's cgroup {own[0]}"
    # Where memory cannot be delegated (v2 without the controller, EBUSY, read-only): None, no error.
    (tmp_path / "cgroup.controllers").write_text("cpu io\n")
    assert make_cgroup("x", 64, parent=(tmp_path, True)) is None
    assert make_cgroup("x", 64, parent=(Path("/proc/self"), False)) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cgroup.controllers"]


@pytest.mark.parametrize("files,count", [
    ({"memory.events": "low 0\nhigh 0\nmax 17\noom 1\noom_kill 0\n"}, 0),
    ({"memory.events": "low 0\nhigh 0\nmax 17\noom 2\noom_kill 2\n"}, 2),
    ({"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n", "memory.failcnt": "9\n"}, 1),
    ({"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\n", "memory.failcnt": "9\n"}, 9),   # kernel < 4.13
])
def test_oom_count_counts_kills_not_reaching_the_limit(tmp_path, files, count):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert cgroup_oom_count(tmp_path) == count


def test_page_cache_at_the_limit_is_not_an_oom_but_a_hog_is(tmp_path):
    cg = make_cgroup(f"test-oom-{os.getpid()}", 48)
    if cg is None:
        pytest.skip("no writable memory cgroup")

    def run(argv):
        return subprocess.run(argv, preexec_fn=lambda: (cg / "cgroup.procs").write_text(str(os.getpid())),
                              capture_output=True, timeout=120).returncode
    try:
        assert run(["dd", "if=/dev/zero", f"of={tmp_path / 'blob'}", "bs=1M", "count=160"]) == 0
        reached = (cg / "memory.failcnt").read_text() if (cg / "memory.failcnt").exists() else \
            dict(line.split() for line in (cg / "memory.events").read_text().splitlines())["max"]
        assert int(reached) > 0, "160 MB of page cache never reached a 48 MB limit"
        assert cgroup_oom_count(cg) == 0
        assert run([sys.executable, "-c", "b = b'x' * (200 << 20)"]) == -9
        assert cgroup_oom_count(cg) >= 1
    finally:
        cg.rmdir()
