"""The executor: check and run the programs the runner exported, on each case's real input. It never
loads submission code and holds no secrets; it alone reads the (read-only) compilation cache.

Usage: python -I executor.py JOB.json. Requests arrive as frames on fd 0 (`run`: the case's id, hidden,
T and x, then the serialized program; `end`), answers go to the job's result_fd: `start`, then
`compiled` once XLA has compiled the program (a cache read where the cache holds it; `compile_s`),
then `result` (the output as a raw array, with the structure hlo.py read from the program, `compile_s`
and `run_s`) or `error` (the program is unfit, or deserializing, compiling or running it failed). The
grader times the compile and the run apart, each against its own limit. A program is screened before
anything compiles it: host callbacks, host transfers and unknown custom calls never reach XLA.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (the sandbox's own folder, put on the path just above)

PROGRAM = "<exported program>"


def unfit(head: dict, exp, H: int) -> str | None:
    """Why the deserialized program is not the function the case asked for, or None."""
    if "cpu" not in tuple(exp.platforms):
        return "not_for_cpu"
    ins = [(tuple(a.shape), str(a.dtype)) for a in exp.in_avals]
    if ins != [((H,), "float32")] or len(exp.out_avals) != 1:
        return "wrong_signature"
    if tuple(exp.ordered_effects) or tuple(exp.unordered_effects):
        return "effects"
    if not 1 <= int(exp.nr_devices) <= common.HOST_DEVICES:
        return "too_many_devices"
    return None


def placed(x, exp, jax, np):
    """The input where the program expects it: a program exported for N devices (a submission that
    sharded its result over N host devices) is called on a mesh of N of the executor's host devices,
    with x replicated; the values are the same as on one device (docs/tolerance.md)."""
    n = int(exp.nr_devices)
    if n == 1:
        return x
    from jax.sharding import Mesh, NamedSharding, PartitionSpec
    mesh = Mesh(np.array(jax.devices()[:n]), ("d",))
    return jax.device_put(x, NamedSharding(mesh, PartitionSpec()))


def run(head: dict, blob: bytes, jax, np, hlo, chan):
    H, T, cid = head["hidden"], head["T"], head["id"]
    chan.send({"type": "start", "id": cid})
    t = time.perf_counter()
    try:
        exp = jax.export.deserialize(bytearray(blob))
    except BaseException as e:  # noqa: BLE001 - a malformed program is the submission's
        chan.send({"type": "error", "id": cid, "stage": "deserialize", **common.describe(e, PROGRAM)})
        return
    why = unfit(head, exp, H)
    if why is None:
        try:
            structure = hlo.check(exp.mlir_module_serialized, T).as_dict()
        except hlo.Unfit as e:
            why = e.reason
        except RecursionError:
            structure = {"ok": False, "reason": "too_large"}
        except Exception as e:  # noqa: BLE001 - a program the reader cannot follow fails the check
            structure = {"ok": False, "reason": "unreadable", "detail": f"{type(e).__name__}: {str(e)[:200]}"}
    if why is not None:
        chan.send({"type": "error", "id": cid, "stage": "screen", "etype": "UnfitProgram", "message": why,
                   "frames": [], "memory": False})
        return
    size = 1
    for n in exp.out_avals[0].shape:
        size *= int(n)
    if size > head["max_elements"]:   # judged from its shape (WA), never computed nor sent
        chan.send({"type": "result", "id": cid, "time_s": time.perf_counter() - t, "structure": structure,
                   "kind": "array", "shape": [int(n) for n in exp.out_avals[0].shape],
                   "dtype": str(exp.out_avals[0].dtype), "pytype": "jax.Array"})
        return
    x = placed(jax.numpy.asarray(np.asarray(head["x"], dtype=np.float32)), exp, jax, np)
    t_compile = time.perf_counter()
    try:
        compiled = jax.jit(exp.call).lower(x).compile()
    except BaseException as e:  # noqa: BLE001 - XLA failing on the submission's program
        chan.send({"type": "error", "id": cid, "stage": "compile", **common.describe(e, PROGRAM)})
        return
    compile_s = time.perf_counter() - t_compile
    chan.send({"type": "compiled", "id": cid, "compile_s": compile_s})
    t_run = time.perf_counter()
    try:
        out = compiled(x)
        out.block_until_ready()
        result = np.asarray(out)
    except BaseException as e:  # noqa: BLE001 - running the submission's program
        chan.send({"type": "error", "id": cid, "stage": "run", **common.describe(e, PROGRAM)})
        return
    run_s = time.perf_counter() - t_run
    hdr, data = common.encode(result, head["max_elements"])
    chan.send({"type": "result", "id": cid, "time_s": time.perf_counter() - t, "compile_s": compile_s,
               "run_s": run_s, "structure": structure, **hdr}, data)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        job = json.load(f)
    chan = common.Channel(job["result_fd"])
    if job.get("seccomp"):
        common.apply_seccomp()
    jax = common.configure_jax(job.get("compilation_cache"), bool(job.get("cache_writable")),
                              devices=common.HOST_DEVICES)   # a program exported for up to 8 devices runs
    import numpy as np
    import hlo
    hlo.allowed_custom_calls()
    hlo._context()      # paid now, while the runner loads the submission
    common.initialize_lapack(jax)
    chan.send({"type": "ready", "pid": os.getpid()})
    while True:
        frame = common.read_frame(0)
        if frame is None or frame[0].get("type") != "run":
            break
        run(frame[0], frame[1], jax, np, hlo, chan)
    chan.send({"type": "done"})


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)
