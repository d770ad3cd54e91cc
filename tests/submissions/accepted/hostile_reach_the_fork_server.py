"""Hostile, then correct: at import it goes after the fork server its runner was forked from (its
parent at `uid`): SIGKILL and SIGSTOP to it, its memory and environment, its folder, and a connection
to its socket asking for a child as root. Any of these that worked would end this grading (the server
dead: this runner dies with it), or make the file raise; since none can (another uid, seccomp,
Landlock, a 0700 folder, the server's peer check), the solution below runs and is AC."""
# isolation: uid
import json
import os
import signal
import socket

import jax
import jax.numpy as jnp
import flax.linen as nn

server = os.getppid()
cmdline = open(f"/proc/{server}/cmdline", "rb").read().split(b"\0")
if any(arg.endswith(b"zygote.py") for arg in cmdline):
    folder = os.path.dirname(next(a for a in cmdline if a.endswith(b"zygote.py")).decode())
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        try:
            os.kill(server, sig)
        except OSError:
            pass
    for path in (f"/proc/{server}/mem", f"/proc/{server}/environ", os.path.join(folder, "zygote.py")):
        try:
            open(path, "rb").read(1)
            raise RuntimeError(f"read {path}")
        except OSError:
            pass
    try:
        os.listdir(folder)
        raise RuntimeError(f"listed {folder}")
    except OSError:
        pass
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(os.path.join(folder, "socket"))
        s.sendmsg([json.dumps({"script": "runner", "uid": None}).encode()])
        raise RuntimeError("connected to the fork server")
    except OSError:
        pass


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        carry = jnp.tanh(x @ W)

        def step(c, _):
            return jnp.tanh(c @ W), None

        carry, _ = jax.lax.scan(step, carry, None, length=self.T)
        return carry


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    params = model.init(jax.random.PRNGKey(seed), x)
    return model.apply(params, x)
