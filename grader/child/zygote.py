"""The fork server: one process that has imported JAX, Flax, NumPy and the children's own modules, and
has touched no submission, no case and no backend (no device, no compile, no thread but its own).
Each runner and executor is forked from it and made what grader/host/sandbox.py makes of a fresh
`python -I` (own session, memory cgroup, rlimits, slot uid, death signal, Landlock, the whitelisted
environment, the sandbox's own folders) before its main() runs; from there it is the same program.
A child knows nothing of an earlier one: every child is a copy of this process as it was after its
imports, never of another child (docs/threat-model.md, "The fork server").

Started by grader/host/zygote.py: `python -I zygote.py FD`, FD a listening AF_UNIX SOCK_SEQPACKET
socket in a folder only the grader's user can enter; a grader process (and in a batch each worker)
connects, and a connection from another uid is closed at once.
  -> {"ready": true, "pid": n}            once the imports are done and the process is one thread
  <- a request: JSON {"script", "argv", "cwd", "env", "uid", "cgroup", "rlimits", "result_fd",
     "landlock", "cpus"} with, by SCM_RIGHTS, its stdin, output and result pipes (and the Landlock ruleset)
  -> {"pid": n} with the read end of its status pipe, or {"error": text}
The status pipe receives the child's return code (Popen's: -N for signal N) when it ends. The child
is reaped only once the grader has closed that end, so its pid, hence its process group, cannot be
reused while the grader may still signal it; closed earlier, the child is killed first. A connection
that closes (its grader ended or died) has its children killed.
"""
import array
import json
import os
import select
import signal
import socket
import struct
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
MAX_FDS = 4
LIBRARY_FDS: set[int] = set()   # what the imports left open (none, measured): a child keeps them
IMPORT_ENV: dict[str, str] = {}  # what the imports set in the environment (JAX: TPU_SKIP_MDS_QUERY=1)


def preload():
    """Everything a child imports before its submission, so a fork pays none of it."""
    import jax, jax.export, flax.linen, numpy  # noqa: E401,F401
    import common, runner, executor, observe, hlo  # noqa: E401,F401
    common.initialize_lapack(jax)


def threads() -> int:
    return len(os.listdir("/proc/self/task"))


def receive(sock: socket.socket):
    """One request and its descriptors, or None at end of input (the grader is gone)."""
    msg, anc, _flags, _addr = sock.recvmsg(1 << 16, socket.CMSG_SPACE(MAX_FDS * 4))
    got = array.array("i")
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            got.frombytes(data[: len(data) - len(data) % got.itemsize])
    fds = list(got)
    if not msg:
        for fd in fds:
            os.close(fd)
        return None
    return json.loads(msg), fds


def become(req: dict, fds: list[int]) -> None:
    """In the forked child: the same process Sandbox.start's Popen + preexec would have made. Any
    failure ends the child before a line of its script runs (the grader sees a death before `ready`)."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    import fcntl
    above = max([*fds, req["result_fd"], *LIBRARY_FDS, 2]) + 1   # moved clear of every number laid out below
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, above) for fd in fds]
    stdin, output, result = high[:3]
    ruleset = high[3] if req["landlock"] else None
    os.dup2(stdin, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.dup2(result, req["result_fd"])          # inheritable, as Popen's pass_fds leaves it
    keep = sorted({0, 1, 2, req["result_fd"], *LIBRARY_FDS} | ({ruleset} if ruleset is not None else set()))
    lo = 3
    for fd in keep + [1 << 20]:          # everything else the server held (its socket, other children's pipes)
        if fd >= lo:
            os.closerange(lo, fd)
            lo = fd + 1
    import ctypes
    import resource
    libc = ctypes.CDLL(None, use_errno=True)
    os.setsid()
    os.sched_setaffinity(0, req["cpus"])     # the asking grader's CPUs, as a child it started would inherit
    if req["cgroup"]:
        with open(os.path.join(req["cgroup"], "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    for what, soft, hard in req["rlimits"]:
        try:
            resource.setrlimit(what, (soft, hard))
        except (ValueError, OSError):
            if req["uid"] is not None:     # a sandbox must have every limit; a laptop gets what it allows
                raise
    if req["uid"] is not None:
        os.setgroups([])
        os.setgid(req["uid"])
        os.setuid(req["uid"])
    libc.prctl(1, signal.SIGKILL)      # PR_SET_PDEATHSIG, after setuid (which clears it): dies with the server
    if ruleset is not None:            # last, as in Sandbox._preexec: never run unconfined
        if libc.prctl(38, 1, 0, 0, 0) != 0:       # PR_SET_NO_NEW_PRIVS
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(ctypes.c_long(446), ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
        os.close(ruleset)
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    os.environ.update(IMPORT_ENV)        # as a fresh child's own imports would have set them
    judge = os.path.dirname(req["argv"][0])
    sys.path[:] = [judge if p == HERE else p for p in sys.path]
    sys.argv = list(req["argv"])
    import random
    random.seed()                      # not the state every sibling shares


def child(req: dict, fds: list[int]) -> None:
    """Never returns: the script's main(), then the exit status a fresh interpreter would give."""
    code = 1
    try:
        become(req, fds)
        module = sys.modules[req["script"]]
        try:
            module.main()
            code = 0
        except SystemExit as e:          # as the interpreter ends on it: its code, or its message and 1
            code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
            if not isinstance(e.code, (int, type(None))):
                print(e.code, file=sys.stderr)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
    except BaseException:  # noqa: BLE001 - as an uncaught exception ends python: traceback, status 1
        try:
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(1)
    os._exit(code & 0xFF)


class Server:
    """Accepts the grader processes that connect (its starter, and in a batch each worker); forks for
    each, reports exits, reaps, and kills what a connection still runs when it closes (its grader
    died), so no child outlives the grader that asked for it."""

    def __init__(self, listener: socket.socket):
        self.listener = listener
        self.conns: dict[int, socket.socket] = {}
        self.owner: dict[int, int] = {}          # child pid -> the connection's fd that asked for it
        self.children: dict[int, int] = {}       # pid -> status write end
        self.reported: set[int] = set()
        self.wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.poller = select.poll()
        self.poller.register(listener.fileno(), select.POLLIN)
        self.poller.register(self.wake_r, select.POLLIN)

    def accept(self) -> None:
        conn, _ = self.listener.accept()
        uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
        if uid != os.getuid():         # only the grader's own user may ask for a child
            conn.close()
            return
        self.conns[conn.fileno()] = conn
        self.poller.register(conn.fileno(), select.POLLIN)
        conn.sendmsg([json.dumps({"ready": True, "pid": os.getpid()}).encode()])

    def hang_up(self, fd: int) -> None:
        self.poller.unregister(fd)
        self.conns.pop(fd).close()
        for pid, by in self.owner.items():
            if by == fd and pid not in self.reported:
                os.kill(pid, signal.SIGKILL)

    def spawn(self, conn: socket.socket, req: dict, fds: list[int]) -> None:
        try:
            if req.get("script") not in ("runner", "executor") or len(fds) != 3 + bool(req.get("landlock")):
                raise ValueError("a malformed request")
            if not 2 < req["result_fd"] < 1 << 16 or req["result_fd"] in LIBRARY_FDS:
                raise ValueError(f"result fd {req['result_fd']} is taken")
            if threads() != 1:
                raise RuntimeError(f"the server runs {threads()} threads: a fork would not be safe")
            status_r, status_w = os.pipe2(os.O_CLOEXEC)
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            pid = os.fork()
            if pid == 0:
                child(req, fds)
            self.children[pid] = status_w
            self.owner[pid] = conn.fileno()
            self.poller.register(status_w, 0)          # POLLERR: the grader closed its end
            try:
                conn.sendmsg([json.dumps({"pid": pid}).encode()],
                             [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [status_r]))])
            finally:
                os.close(status_r)
        except Exception as e:  # noqa: BLE001 - the grader starts this child the plain way instead
            try:
                conn.sendmsg([json.dumps({"error": f"{type(e).__name__}: {e}"}).encode()])
            except OSError:
                pass
        finally:
            for fd in fds:
                os.close(fd)

    def exits(self) -> None:
        """Report each child that ended (without reaping it); reap the orphans of its tree that were
        reparented here (this process is their subreaper)."""
        for pid, status_w in self.children.items():
            if pid in self.reported:
                continue
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if info is None or info.si_pid == 0:
                continue
            killed = info.si_code in (os.CLD_KILLED, os.CLD_DUMPED)
            code = -info.si_status if killed else info.si_status
            try:
                os.write(status_w, f"{code}\n".encode())
            except OSError:
                pass
            self.reported.add(pid)
        me = str(os.getpid())
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in self.children:
                try:
                    fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if fields[0] == "Z" and fields[1] == me:
                    try:
                        os.waitpid(int(entry), os.WNOHANG)
                    except ChildProcessError:
                        pass

    def release(self, status_w: int) -> None:
        """The grader is done with this child: kill it if it still runs, reap it, forget it."""
        pid = next(p for p, fd in self.children.items() if fd == status_w)
        if pid not in self.reported:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        self.poller.unregister(status_w)
        os.close(status_w)
        del self.children[pid], self.owner[pid]
        self.reported.discard(pid)

    def serve(self) -> None:
        while True:
            for fd, _event in self.poller.poll():
                try:
                    self.handle(fd)
                except Exception:  # noqa: BLE001 - the server must outlive any one event: its death kills every child
                    traceback.print_exc()

    def handle(self, fd: int) -> None:
        if fd == self.listener.fileno():
            self.accept()
        elif fd in self.conns:
            try:
                got = receive(self.conns[fd])
            except (OSError, ValueError):
                got = None           # a connection that sends garbage is hung up on
            if got is None:
                self.hang_up(fd)
            else:
                self.spawn(self.conns[fd], *got)
        elif fd == self.wake_r:
            while True:
                try:
                    if not os.read(self.wake_r, 4096):
                        break
                except BlockingIOError:
                    break
            self.exits()
        elif fd in self.children.values():
            self.exits()
            self.release(fd)


def main() -> None:
    listener = socket.socket(fileno=int(sys.argv[1]))
    before = dict(os.environ)
    preload()
    IMPORT_ENV.update({k: v for k, v in os.environ.items() if before.get(k) != v and k != "OPENBLAS_NUM_THREADS"})
    LIBRARY_FDS.update(int(fd) for fd in os.listdir("/proc/self/fd")
                       if int(fd) > 2 and int(fd) != listener.fileno() and os.path.exists(f"/proc/self/fd/{fd}"))
    if threads() != 1:
        return                   # the graders waiting for `ready` see the end instead: they start children afresh
    import ctypes
    ctypes.CDLL(None).prctl(36, 1)        # PR_SET_CHILD_SUBREAPER: orphans of its children come here
    Server(listener).serve()


if __name__ == "__main__":
    main()
    os._exit(0)
