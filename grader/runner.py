"""Child side of the grader: load the submission, call it per case, send raw arrays back.

Runs inside the sandbox with only this file, the venv and the submission visible. It imports nothing
from the grader package. Usage: python -I runner.py JOB.json  (results go to the job's result_fd)

Frames on fd 3: 4-byte big-endian header length, a UTF-8 JSON header, then `nbytes` raw bytes if the
header says so. Never a pickle: the grader parses the bytes itself with bounds on every size.
"""
import json
import os
import struct
import sys
import time
import traceback

RESULT_FD = 3  # replaced by the job's "result_fd"
PINNED = {  # what the golden vectors were made with; never inherited from the environment
    "jax_enable_x64": False,
    "jax_threefry_partitionable": True,
    "jax_default_prng_impl": "threefry2x32",
    "jax_random_seed_offset": 0,
}
SAFE_FLOATS = ("float16", "float32", "float64")


def send(header, payload=b""):
    data = json.dumps(header).encode()
    frame = struct.pack(">I", len(data)) + data + payload
    view = memoryview(frame)
    while view:
        view = view[os.write(RESULT_FD, view):]


def student_frames(exc, path):
    """The traceback trimmed to frames in the submission file, plus the exception line."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
    lines = [f"line {f.lineno}, in {f.name}: {(f.line or '').strip()}" for f in frames[-6:]]
    return lines


def describe(exc, path):
    text = str(exc)
    if isinstance(exc, SyntaxError):
        text = f"{exc.msg} (line {exc.lineno})"
    return {"etype": type(exc).__name__, "message": text[:2000], "frames": student_frames(exc, path),
            "memory": isinstance(exc, MemoryError) or "RESOURCE_EXHAUSTED" in text[:2000]}


def apply_seccomp():
    """uid isolation: no network. socket() is refused for every family but AF_UNIX (libseccomp)."""
    import ctypes
    import ctypes.util
    lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]

    class Cmp(ctypes.Structure):
        _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                    ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]

    allow, errno_eperm = 0x7FFF0000, 0x00050000 | 1
    scmp_cmp_ne = 1
    ctx = lib.seccomp_init(allow)
    if not ctx:
        raise OSError("seccomp_init failed")
    add_cmp = lib.seccomp_rule_add
    add_cmp.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, Cmp]
    not_unix = Cmp(0, scmp_cmp_ne, 1, 0)  # arg0 (domain) != AF_UNIX
    for name in (b"socket", b"socketpair"):
        nr = lib.seccomp_syscall_resolve_name(name)
        if add_cmp(ctx, errno_eperm, nr, 1, not_unix) != 0:
            raise OSError(f"seccomp_rule_add({name!r}) failed")
    if lib.seccomp_load(ctx) != 0:
        raise OSError("seccomp_load failed")


def configure_jax(job):
    import jax
    for key, value in PINNED.items():
        jax.config.update(key, value)
    cache = job.get("compilation_cache")
    if cache:
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return jax


def current_settings(jax):
    return {k: getattr(jax.config, k) for k in PINNED}


def encode(result, max_elements):
    """Header (and bytes) describing what the submission returned; the grader judges it."""
    import numpy as np
    head = {"pytype": f"{type(result).__module__}.{type(result).__qualname__}"}
    if result is None:
        return {**head, "kind": "none"}, b""
    try:
        arr = np.asarray(result)
    except Exception as e:  # noqa: BLE001 - anything the student returned
        return {**head, "kind": "unconvertible", "error": f"{type(e).__name__}: {str(e)[:200]}"}, b""
    head.update(kind="array", shape=[int(n) for n in arr.shape], dtype=str(arr.dtype))
    if arr.dtype.kind == "f" and arr.dtype.name not in SAFE_FLOATS:  # bfloat16 and other ml_dtypes
        head["orig_dtype"] = arr.dtype.name
        arr = arr.astype(np.float32) if arr.size <= max_elements else arr
        head["dtype"] = str(arr.dtype)
    if arr.dtype.kind != "f" or arr.dtype.name not in SAFE_FLOATS or arr.size > max_elements:
        return head, b""
    data = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
    head.update(dtype=arr.dtype.newbyteorder("<").str, nbytes=len(data))
    return head, data


def main():
    job_path = sys.argv[1]
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    global RESULT_FD
    RESULT_FD = job["result_fd"]
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    path = job["submission"]
    if job.get("seccomp"):
        apply_seccomp()
    jax = configure_jax(job)
    import flax.linen  # noqa: F401  (imported now, so its import time is not a case's)
    import jax.numpy as jnp
    import numpy as np
    checks = None
    if job.get("checks"):  # imported before the submission, so it holds JAX's own functions
        import structure
        checks = structure.Checks(job)
    # Everything above is the judge's; a death before this frame is a judge error, after it the
    # submission's code is running.
    send({"type": "ready", "pid": os.getpid()})

    t0 = time.perf_counter()
    try:
        with open(path, "rb") as f:
            code = compile(f.read(), path, "exec", dont_inherit=True)
    except BaseException as e:  # noqa: BLE001
        send({"type": "load_error", **describe(e, path)})
        return
    sys.path.insert(0, os.path.dirname(path))
    module = type(sys)("solution")
    module.__file__ = path
    sys.modules["solution"] = module
    try:
        exec(code, module.__dict__)
        fn = getattr(module, job["function"], None)
        if fn is None:
            raise NameError(f"{job['function']} is not defined at the top level of your file")
        if not callable(fn):
            raise TypeError(f"{job['function']} is not a function")
    except BaseException as e:  # noqa: BLE001 - SystemExit and KeyboardInterrupt too
        send({"type": "load_error", **describe(e, path)})
        return
    send({"type": "loaded", "time_s": time.perf_counter() - t0, "settings": current_settings(jax)})

    for case in job["cases"]:
        send({"type": "start", "id": case["id"]})
        x = jnp.asarray(np.asarray(case["x"], dtype=np.float32))
        t = time.perf_counter()
        try:
            result = fn(case["seed"], x, case["hidden"], case["T"])
            if hasattr(result, "block_until_ready"):
                result.block_until_ready()
            elapsed = time.perf_counter() - t
            head, data = encode(result, job["max_elements"])
        except BaseException as e:  # noqa: BLE001 - the student's exception is a verdict
            send({"type": "error", "id": case["id"], "time_s": time.perf_counter() - t, **describe(e, path)})
            continue
        send({"type": "result", "id": case["id"], "time_s": elapsed, **head,
              "settings": current_settings(jax)}, data)

    if checks is not None:
        for frame in checks.run(module):
            send(frame)
    send({"type": "done"})


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: a submission's atexit hooks or threads cannot linger
