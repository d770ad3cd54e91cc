"""Hostile: allocates and touches 64 MiB blocks until stopped (cgroup OOM kill, the RSS watchdog,
or a MemoryError at RLIMIT_AS): MLE either way, never RTE."""
# isolation: bwrap uid


def lax_scan_in_module(seed, x, hidden, T):
    hoard = []
    while True:
        hoard.append(b"m" * (64 << 20))
