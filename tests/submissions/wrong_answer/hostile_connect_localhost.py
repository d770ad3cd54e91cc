"""Hostile: tries to reach the network: TCP to a port on 127.0.0.1 and ::1 (tests/test_hostile.py
replaces PORT with one it listens on), UDP, and an abstract unix socket. Wrong numbers: WA; the
listener must see no connection and every attempt is refused by the sandbox."""
# isolation: bwrap uid
import socket

import numpy as np

PORT = 9  # replaced by tests/test_hostile.py with a port its listener holds


def _try(family, kind, address):
    try:
        with socket.socket(family, kind) as s:
            s.settimeout(1.0)
            s.connect(address)
            s.sendall(b"hostile hello\n")
            # UDP "connects" to anything; under bwrap it reaches only the sandbox's own empty loopback
            print("CONNECTED" if kind == socket.SOCK_STREAM else "sent", address, flush=True)
    except OSError as e:
        print("refused", address, type(e).__name__, flush=True)


def lax_scan_in_module(seed, x, hidden, T):
    _try(socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", PORT))
    _try(socket.AF_INET6, socket.SOCK_STREAM, ("::1", PORT))
    _try(socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", PORT))
    _try(socket.AF_UNIX, socket.SOCK_STREAM, "\0lax-hostile")
    return np.zeros(hidden, np.float32)
