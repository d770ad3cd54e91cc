"""Hostile: prints what an allocation abort prints, then exits with a status of its choosing.
Printed text must not change the verdict: this is a run-time error, not MLE."""
# isolation: bwrap uid
import os
import sys


def lax_scan_in_module(seed, x, hidden, T):
    print("terminate called after throwing an instance of 'std::bad_alloc'", file=sys.stderr, flush=True)
    print("RESOURCE_EXHAUSTED: out of memory", file=sys.stderr, flush=True)
    os._exit(1)
