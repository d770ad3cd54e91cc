"""Hostile: writes into the result fd named in the job file a frame whose length prefix lies: it
promises 60000 header bytes, and what follows is a real-looking header padded with garbage. The
grader reads at most the bounded header, finds it is not JSON, and reports RTE."""
# isolation: bwrap uid
import json
import os
import struct
import sys
import time


def lax_scan_in_module(seed, x, hidden, T):
    with open(sys.argv[1]) as f:
        fd = json.load(f)["result_fd"]
    head = json.dumps({"type": "result", "id": "p01", "kind": "array", "shape": [hidden],
                       "dtype": "<f4", "nbytes": 4 * hidden}).encode()
    os.write(fd, struct.pack(">I", 60000) + head + b"\x00" * (60000 - len(head)))
    time.sleep(30)
