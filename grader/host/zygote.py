"""The grader's side of the fork server (grader/child/zygote.py): one per grader process, started on
first use, from which Sandbox.start forks its runners and executors at the `uid` and `process` levels
instead of starting a fresh Python that imports JAX and Flax again (0.6-0.9 s of CPU each on this
machine kind: docs/speed-and-batch.md). `bwrap` children still start afresh: each needs namespaces of
its own, which a fork cannot enter.

The server runs the bundle's own code only (it imports libraries and the child modules, then forks);
it is started with the children's whitelisted environment, `python -I`, in a folder only the grader
can read, in its own session, and dies with the grader (PR_SET_PDEATHSIG, from the main thread so the
signal means the process). Whatever fails here (the server cannot start, dies, refuses a fork) only
means Sandbox.start starts that child the plain way: never a verdict of the student's.
GRADER_ZYGOTE=0 turns it off (every child starts afresh, as `bwrap` ones do).
"""
from __future__ import annotations

import array
import atexit
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from .. import BUNDLE_ROOT
from .isolation import child_env, probe, venv_python

CHILD = BUNDLE_ROOT / "grader" / "child"
SCRIPTS = ("runner.py", "executor.py")
READY_S = 120.0              # the server's imports, on a loaded machine; past it children start afresh
REPLY_S = 10.0               # one fork's reply


class ForkedProc:
    """What Sandbox and the watch ask of a Popen, for a child the server forked: its pid (safe to
    signal until close(): the server reaps it only then), its return code from the status pipe."""

    def __init__(self, pid: int, status_fd: int, args: list[str]):
        self.pid = pid
        self.args = args
        self.returncode: int | None = None
        self._status = status_fd
        self._buf = b""

    def _read(self, timeout: float | None) -> None:
        if self.returncode is not None or self._status < 0:
            return
        if not select.select([self._status], [], [], timeout)[0]:
            return
        data = os.read(self._status, 64)
        if not data:            # the server died: its children die of PR_SET_PDEATHSIG
            self.returncode = self._parse() if self._buf else -signal.SIGKILL
            return
        self._buf += data
        if self._buf.endswith(b"\n"):
            self.returncode = self._parse()

    def _parse(self) -> int:
        try:
            return int(self._buf.strip())
        except ValueError:
            return -signal.SIGKILL

    def poll(self) -> int | None:
        self._read(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout)
            self._read(left)
        self.close()
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass

    def close(self) -> None:
        """Done with it: the server may reap it now (and kills it first if it still runs)."""
        if self._status >= 0:
            os.close(self._status)
            self._status = -1
            if self.returncode is None:
                self.returncode = -signal.SIGKILL


class Server:
    """The fork server process this grader process started (or, in a batch, the batch process), in a
    folder of its own (0700: no slot uid can reach its socket)."""

    def __init__(self, python: Path, env: dict[str, str]):
        self.folder = Path(tempfile.mkdtemp(prefix="lax-zygote-"))
        for path in sorted(CHILD.glob("*.py")):
            shutil.copyfile(path, self.folder / path.name)
        self.socket = self.folder / "socket"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # One BLAS thread: OpenBLAS starts its pool when NumPy loads, and a process with a second
        # thread is never forked (the children's NumPy is single-threaded; XLA does not use it).
        env = {**env, "HOME": str(self.folder), "TMPDIR": str(self.folder), "OPENBLAS_NUM_THREADS": "1"}
        try:
            listener.bind(str(self.socket))
            listener.listen(64)
            self.proc = subprocess.Popen(
                [str(python), "-I", str(self.folder / "zygote.py"), str(listener.fileno())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                pass_fds=(listener.fileno(),), cwd=self.folder, env=env, start_new_session=True,
                preexec_fn=_die_with_parent)
        except OSError:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        finally:
            listener.close()
        atexit.register(self.close)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()          # its children die with it (PR_SET_PDEATHSIG)
        self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


class Zygote:
    """One grader process's connection to a fork server."""

    def __init__(self, path: Path, ready_s: float = READY_S):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.lock = threading.Lock()
        try:
            self.sock.connect(str(path))
        except OSError:
            self.sock.close()
            raise
        reply = self._reply(ready_s)
        if not reply.get("ready"):
            self.sock.close()
            raise OSError("the fork server did not start")
        self.pid = reply["pid"]
        self.broken = False

    def _reply(self, timeout: float) -> dict:
        if not select.select([self.sock], [], [], timeout)[0]:
            return {}
        try:
            msg, anc, _flags, _addr = self.sock.recvmsg(1 << 16, socket.CMSG_SPACE(4))
        except OSError:
            return {}
        fds = array.array("i")
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
        try:
            reply = json.loads(msg) if msg else {}
        except ValueError:
            reply = {}
        if len(fds) == 1 and isinstance(reply.get("pid"), int) and not reply.get("ready"):
            reply["status_fd"] = fds[0]
        else:
            for fd in fds:
                os.close(fd)
        return reply

    def spawn(self, request: dict, fds: list[int], args: list[str]) -> ForkedProc | None:
        """Fork one child as `request` says (grader/child/zygote.py), or None: start it afresh."""
        with self.lock:
            if self.broken:
                return None
            try:
                self.sock.sendmsg([json.dumps(request).encode()],
                                  [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
            except OSError:
                self.broken = True
                return None
            reply = self._reply(REPLY_S)
            if not reply:
                self.broken = True       # no answer: a reply that came late would be read as the next one's
        if "status_fd" not in reply:
            return None
        return ForkedProc(reply["pid"], reply["status_fd"], args)

    def close(self) -> None:
        self.broken = True
        self.sock.close()


def _die_with_parent() -> None:
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)


_own: Server | None = None
_conn: Zygote | None = None
_failed = False
_guard = threading.Lock()


def batch_server(isolation: str | None) -> Server | None:
    """One fork server for all of a batch's workers (they connect through GRADER_ZYGOTE_SOCKET), so a
    submission pays no JAX import at all; None at `bwrap`, with GRADER_ZYGOTE=0, or where it cannot
    start (each worker then starts its own). Call it from the main thread."""
    if (isolation or os.environ.get("GRADER_ISOLATION") or probe()) == "bwrap" or \
            os.environ.get("GRADER_ZYGOTE", "1") == "0":
        return None
    try:
        return Server(venv_python(), child_env("/nonexistent", "/nonexistent"))
    except OSError:
        return None


def fork(request: dict, stdin_fd: int | None, out_w: int, result_w: int, ruleset_fd: int | None,
         args: list[str]) -> ForkedProc | None:
    """The child `request` describes (grader/child/zygote.py), forked from this process's server with
    these pipes (stdin None: /dev/null), or None: then the caller starts it afresh."""
    server = shared(Path(args[0]), request["env"])
    if server is None:
        return None
    devnull = os.open(os.devnull, os.O_RDONLY) if stdin_fd is None else None
    try:
        fds = [stdin_fd if devnull is None else devnull, out_w, result_w]
        return server.spawn(request, fds + ([ruleset_fd] if ruleset_fd is not None else []), args)
    finally:
        if devnull is not None:
            os.close(devnull)


def shared(python: Path, env: dict[str, str]) -> Zygote | None:
    """This process's connection to a fork server: the one GRADER_ZYGOTE_SOCKET names (a batch's),
    else one it starts on first use. None where there is none (GRADER_ZYGOTE=0, asked from a thread
    other than the main one before anything started, a server that failed or went away)."""
    global _own, _conn, _failed
    if os.environ.get("GRADER_ZYGOTE", "1") == "0":
        return None
    with _guard:
        if _conn is not None and not _conn.broken:
            return _conn
        if _failed or threading.current_thread() is not threading.main_thread():
            return None
        given = os.environ.get("GRADER_ZYGOTE_SOCKET")
        try:
            if given is None and (_own is None or _own.proc.poll() is not None):
                if _own is not None:
                    _own.close()
                _own = Server(python, env)
            _conn = Zygote(Path(given) if given else _own.socket)
        except OSError:
            _failed, _conn = True, None
            return None
        return _conn
