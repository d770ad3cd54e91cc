"""Hostile: SIGKILLs its parent, its whole process group, every process it can see and every
process it may signal (kill -1), then dies. The grader must survive and report RTE."""
# isolation: bwrap uid
import os
import signal


def lax_scan_in_module(seed, x, hidden, T):
    if os.geteuid() == 0:  # not sandboxed at all (process level as root): never kill a dev machine
        raise RuntimeError("refusing to run unsandboxed as root")
    targets = {os.getppid(), 1} | {int(p) for p in os.listdir("/proc") if p.isdigit()}
    for pid in targets - {os.getpid()}:
        for sig in (signal.SIGKILL, signal.SIGSTOP):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
    for call in (lambda: os.killpg(0, signal.SIGKILL), lambda: os.kill(-1, signal.SIGKILL)):
        try:
            call()
        except OSError:
            pass
    os._exit(3)
