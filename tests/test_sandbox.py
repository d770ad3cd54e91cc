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
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import ROOT, SUBMISSIONS

from grader.host import sandbox
from grader.grade import grade
from grader.host.isolation import CLAIMS, UID_RANGE, UidClaim, sweep_stale_claims
from grader.host.memcg import cgroup_oom_count, make_cgroup, own_cgroup, remove_cgroup
from grader.host.proctree import ipc_of, kill_uid, pids_of_uid, remove_files_of, remove_ipc_of, rss_bytes, shared_usage
from grader.judge.verdict import render

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="slot uids need a root grader")
ACCEPTED = SUBMISSIONS / "wrong_answer" / "hostile_fake_verdict.py"   # any file that loads
SPARE_UID = OTHER_UID = -1     # drawn and held like a sandbox's (below): no other grader's, ever
LIBC = ctypes.CDLL(None, use_errno=True)


@pytest.fixture(scope="module", autouse=True)
def _spare_uids():
    """SPARE_UID (a stand-in for a sandbox's) and OTHER_UID (a bystander that must be left alone),
    claimed like a Sandbox's uid so no concurrent grader or test on this kernel uses them."""
    global SPARE_UID, OTHER_UID
    claims = [UidClaim.take(), UidClaim.take()]
    SPARE_UID, OTHER_UID = (c.uid for c in claims)
    yield
    for c in claims:
        kill_uid(c.uid)
        c.release()


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


@pytest.mark.parametrize("level, zygote, unreadable", [("bwrap", "1", "runner.py"), ("uid", "0", "runner.py"),
                                                       ("uid", "1", "job.json")])
def test_unreadable_runner_is_a_judge_error(test_problem, level, zygote, unreadable, monkeypatch):
    """A runner that cannot read what the grader staged for it dies before `ready`: the grader's
    failure. One forked from the fork server runs the server's copy of the code: there it is its job."""
    monkeypatch.setenv("GRADER_ZYGOTE", zygote)
    real_for_slot = sandbox.Sandbox._for_slot

    def for_slot(self, path, mode):
        real_for_slot(self, path, mode)
        runners = unreadable == "runner.py" or (self.scratch / "submission" / "solution.py").exists()
        if path == self.scratch / "judge" / unreadable and runners:      # the executor reads its own job
            os.chmod(path, 0)
    monkeypatch.setattr(sandbox.Sandbox, "_for_slot", for_slot)
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
    name = f"lax-test-shared-{os.getpid()}"       # never another checkout's concurrent run
    made = [Path("/tmp") / name, Path("/var/tmp") / name, Path("/dev/shm") / name]
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
            "print(json.dumps([v.verdict, int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) / 1024]))\n")
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
    guarded, own = Path(f"/tmp/lax-test-guarded-{os.getpid()}"), Path(f"/tmp/lax-test-own-{os.getpid()}")
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


# -- helpers for children that are not the runner -------------------------------------------------
def start_script(box: sandbox.Sandbox, code: str, ready: int = 1) -> sandbox.Child:
    """Start `code` as box's child (the runner's argv, uid, limits and Landlock domain) and wait
    until it has printed `ready` lines."""
    runner = Path(tempfile.mkdtemp(prefix="lax-test-runner-"))
    try:
        (runner / "runner.py").write_text(code)
        child = box.start(box.stage(b"", runner, {}))
    finally:
        shutil.rmtree(runner)
    seen, deadline = b"", time.monotonic() + 60
    while seen.count(b"\n") < ready and time.monotonic() < deadline:
        chunk = os.read(child.output_fd, 4096)
        if not chunk:
            break
        seen += chunk
    assert seen.count(b"\n") >= ready, seen
    return child


# -- uids that cannot collide ---------------------------------------------------------------------
def test_each_sandbox_draws_its_own_uid_and_releases_it(test_problem):
    with sandbox.Sandbox(test_problem.limits, "uid") as a, sandbox.Sandbox(test_problem.limits, "bwrap") as b:
        uids = (a.uid, b.uid)
        assert a.uid != b.uid and all(UID_RANGE[0] <= u < UID_RANGE[1] for u in uids)
        assert all((CLAIMS / f"uid-{u}").exists() for u in uids)
    assert not any((CLAIMS / f"uid-{u}").exists() for u in uids)


class _Draws(random.Random):
    """Draws fixed in advance: which candidates take() rejects is then visible."""

    def __init__(self, *values):
        super().__init__(0)
        self.values = list(values)

    def randrange(self, *_args):
        return self.values.pop(0)


def test_a_uid_that_owns_anything_or_is_claimed_is_never_drawn():
    held = UidClaim.take()
    sleeper = subprocess.Popen(["sleep", "60"], preexec_fn=as_uid(SPARE_UID))
    fd, owned = tempfile.mkstemp(prefix="lax-test-owned-", dir="/tmp")
    os.close(fd)
    os.chown(owned, OTHER_UID, OTHER_UID)
    fresh = random.SystemRandom().randrange(*UID_RANGE)
    try:
        draws = _Draws(SPARE_UID, OTHER_UID, held.uid, 0, fresh)     # 0: root, a named account
        claim = UidClaim.take(draws)
        assert claim.uid == fresh and draws.values == []
        claim.release()
    finally:
        held.release()
        sleeper.kill()
        sleeper.wait()
        os.unlink(owned)


def test_a_dead_graders_claim_is_swept_and_a_live_ones_is_not():
    live, dead = UidClaim.take(), UidClaim.take()
    procs = [subprocess.Popen(["sleep", "60"], preexec_fn=as_uid(c.uid)) for c in (live, dead)]
    try:
        dead._handle.close()             # its grader died: the claim file stays, its flock is gone
        dead._handle = None
        sweep_stale_claims()
        assert procs[1].wait(timeout=10) == -9 and not (CLAIMS / f"uid-{dead.uid}").exists()
        assert procs[0].poll() is None and (CLAIMS / f"uid-{live.uid}").exists()
    finally:
        live.release()
        for p in procs:
            p.kill()
            p.wait()


SWARM = "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        break\n" \
        "print('full', flush=True)\ntime.sleep(60)\n"
FORK_FIVE = "import os, time\nfor _ in range(5):\n    if os.fork() == 0:\n        time.sleep(60)\n" \
            "print('forked five', flush=True)\ntime.sleep(60)\n"


def test_one_sandboxs_fork_swarm_leaves_another_free_to_fork(test_problem):
    """RLIMIT_NPROC counts a uid's processes across the kernel: with a uid per Sandbox a swarm that
    fills its own count cannot make another grading's fork fail (fixed slot uids shared it)."""
    limits = replace(test_problem.limits, processes=40)
    with sandbox.Sandbox(limits, "uid") as a, sandbox.Sandbox(limits, "uid") as b:
        start_script(a, SWARM)
        assert len(pids_of_uid(a.uid)) >= 30
        start_script(b, FORK_FIVE)
        assert len(pids_of_uid(b.uid)) == 6


# -- memory measured, not summed -------------------------------------------------------------------
SHARED = ("import os, time\nblob = bytearray({mb} << 20)\nfor i in range(0, len(blob), 4096):\n"
          "    blob[i] = 1\nfor _ in range({forks}):\n    if os.fork() == 0:\n        break\n"
          "print('up', flush=True)\ntime.sleep(60)\n")


@pytest.mark.parametrize("level", ["uid", "bwrap"])
def test_forks_sharing_their_pages_count_once_without_a_cgroup(test_problem, level, monkeypatch):
    monkeypatch.setenv("GRADER_NO_CGROUP", "1")
    limits = replace(test_problem.limits, memory_mb=400)
    with sandbox.Sandbox(limits, level) as box:
        assert box.cgroup is None
        start_script(box, SHARED.format(mb=150, forks=4), ready=5)
        summed, measured = rss_bytes(box.tree_pids()), box.memory_bytes()
        assert summed > 700 << 20, summed >> 20         # five copies of the same 150 MiB
        assert measured < 300 << 20, measured >> 20     # counted once (PSS), under the 400 MiB limit


@pytest.mark.parametrize("level", ["uid", "bwrap"])
def test_a_private_hog_is_still_over_the_limit_without_a_cgroup(test_problem, level, monkeypatch):
    monkeypatch.setenv("GRADER_NO_CGROUP", "1")
    limits = replace(test_problem.limits, memory_mb=400)
    with sandbox.Sandbox(limits, level) as box:
        start_script(box, SHARED.format(mb=450, forks=0))
        assert box.memory_bytes() > 400 << 20


# -- the memory cgroup never outlives its sandbox ---------------------------------------------------
EXITING = ("import os, threading, time\nblob = bytearray(64 << 20)\nfor i in range(0, len(blob), 4096):\n"
           "    blob[i] = 1\nfor _ in range(3):\n    if os.fork() == 0:\n        break\n"
           "def spin():\n    while True:\n        pass\n"
           "for _ in range(8):\n    threading.Thread(target=spin, daemon=True).start()\n"
           "print('up', flush=True)\ntime.sleep(60)\n")


def test_memory_cgroup_is_gone_after_close_every_time(test_problem):
    """The race behind "the memory cgroup outlived grading": SIGKILLed, a multi-threaded process's
    leader turns zombie (so the uid's kill sees nothing left) while its other threads are still
    exiting in the cgroup, and rmdir fails with EBUSY. Seen 2 times in 15 before the fix."""
    for attempt in range(20):
        with sandbox.Sandbox(test_problem.limits, "uid") as box:
            if box.cgroup is None:
                pytest.skip("no writable memory cgroup on this machine")
            start_script(box, EXITING)
            cg = box.cgroup
        assert not cg.exists(), f"attempt {attempt}: {cg} outlived its sandbox"


def test_remove_cgroup_waits_for_the_last_task(tmp_path):
    cg = tmp_path / "cg"
    cg.mkdir()
    (cg / "inner").mkdir()                  # a plain folder that never empties: rmdir keeps failing
    t0 = time.monotonic()
    assert remove_cgroup(cg, timeout_s=0.2) is False and cg.exists()
    assert 0.2 <= time.monotonic() - t0 < 2
    (cg / "inner").rmdir()
    assert remove_cgroup(cg) is True and not cg.exists()


def test_uids_are_drawn_only_where_the_user_namespace_maps_them(monkeypatch):
    from grader.host import isolation
    maps = {"uid": [(0, 1 << 32)], "gid": [(0, 1 << 32)]}
    monkeypatch.setattr(isolation, "_mapped", lambda kind: maps[kind])
    assert isolation.uid_ranges() == [UID_RANGE]
    maps["uid"] = maps["gid"] = [(0, 65536)]                 # userns-remap / rootless: 65536 ids
    assert isolation.uid_ranges() == [(isolation.FALLBACK_FLOOR, 65536)]
    maps["gid"] = [(0, 1000)]                                # no id both maps share above the floor
    assert isolation.uid_ranges() == []
    with pytest.raises(sandbox.JudgeError, match="maps no uid"):
        UidClaim.take()
