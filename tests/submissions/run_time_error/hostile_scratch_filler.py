"""Hostile: fills its temp folder and the shared /tmp with 1 MiB files until something stops it
(a full private tmpfs under bwrap, the scratch watchdog under uid). RTE; nothing may stay behind."""
# isolation: bwrap uid
import os
import tempfile


def lax_scan_in_module(seed, x, hidden, T):
    if os.geteuid() == 0:  # not sandboxed at all (process level as root): never fill a dev machine
        raise RuntimeError("refusing to run unsandboxed as root")
    block = b"f" * (1 << 20)
    places = [tempfile.gettempdir(), "/tmp/lax-hostile-filler"]
    os.makedirs(places[1], exist_ok=True)
    for i in range(100_000):
        with open(os.path.join(places[i % 2], f"fill-{i}"), "wb") as f:
            f.write(block)
    return None
