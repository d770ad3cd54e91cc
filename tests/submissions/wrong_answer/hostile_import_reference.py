"""Hostile: tries to use the instructor's reference and the golden data. If any route works it
returns the expected answer (so a leak turns into AC and the test fails); otherwise it returns
zeros, and the expected verdict is WA. It prints LEAK lines for whatever it could read."""
# grade: all
# isolation: bwrap uid
import glob
import importlib.util
import os
import sys

import numpy as np


def _roots():
    roots = {os.path.dirname(sys.prefix), "/work/main", os.getcwd(), "/"}
    for pid in (os.getppid(), 1):
        for link in ("cwd", "root"):
            try:
                roots.add(os.readlink(f"/proc/{pid}/{link}"))
            except OSError:
                pass
            roots.add(f"/proc/{pid}/{link}")
    roots.update(glob.glob("/tmp/pytest-of-*/*/*"))
    roots.update(glob.glob("/tmp/*") + glob.glob("/work/*") + glob.glob("/work/wt/*"))   # other copies
    return [r for r in roots if r]


def _reference():
    for root in _roots():
        path = os.path.join(root, "reference", "solution.py")
        try:
            spec = importlib.util.spec_from_file_location("leaked_reference", path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            print("LEAK reference", path, flush=True)
            return mod.lax_scan_in_module
        except Exception:  # noqa: BLE001
            continue
    try:
        import reference.solution as mod  # noqa: PLC0415
        print("LEAK reference by import", flush=True)
        return mod.lax_scan_in_module
    except Exception:  # noqa: BLE001
        return None


def _golden(seed, hidden, T):
    import yaml
    for root in _roots():
        for name in ("hidden.yaml", "public.yaml"):
            try:
                with open(os.path.join(root, "tests", "data", name)) as f:
                    data = yaml.safe_load(f)
            except Exception:  # noqa: BLE001
                continue
            print("LEAK golden", root, name, flush=True)
            for case in data["cases"]:
                if (case["seed"], case["hidden"], case["T"]) == (seed, hidden, T):
                    return np.asarray(case["expected"], np.float32)
    for secret in (".git/HEAD", ".git/config"):
        for root in _roots():
            try:
                with open(os.path.join(root, secret)) as f:
                    print("LEAK git", root, f.read(40), flush=True)
            except OSError:
                pass
    return None


def lax_scan_in_module(seed, x, hidden, T):
    ref = _reference()
    if ref is not None:
        return ref(seed, x, hidden, T)
    got = _golden(seed, hidden, T)
    return got if got is not None else np.zeros(hidden, np.float32)
