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
    for stream in (sys.stdout, sys.stderr):  # what the submission printed arrives before the frame
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - a replaced or closed stream is the submission's business
            pass
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
    """uid isolation's network barrier (libseccomp): socket() fails with EPERM for every family,
    AF_UNIX too (abstract unix sockets reach host services with no permission check), socketpair()
    works for AF_UNIX only (it reaches nobody), and io_uring, which could open sockets behind the
    filter's back, is refused. Syscalls of a foreign ABI (i386 socketcall) kill the process.
    uid isolation shares the host's IPC namespace, where SysV shared memory, queues and semaphores
    and POSIX message queues outlive their creator (and stay charged to the slot's memory cgroup):
    shmget/msgget/semget/mq_open fail with EPERM too (JAX on CPU uses none of them)."""
    import ctypes
    import ctypes.util
    lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2", use_errno=True)

    class Cmp(ctypes.Structure):
        _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                    ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]

    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(Cmp)]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    allow, errno_eperm = 0x7FFF0000, 0x00050000 | 1
    scmp_cmp_ne, af_unix = 1, 1
    ctx = lib.seccomp_init(allow)
    if not ctx:
        raise OSError("seccomp_init failed")
    rules = [(b"socket", []), (b"socketpair", [Cmp(0, scmp_cmp_ne, af_unix, 0)]),
             (b"io_uring_setup", []), (b"shmget", []), (b"msgget", []), (b"semget", []), (b"mq_open", [])]
    for name, cmps in rules:
        nr = lib.seccomp_syscall_resolve_name(name)
        if nr < 0:
            continue  # a syscall this kernel's ABI lacks cannot be used either
        arr = (Cmp * max(1, len(cmps)))(*cmps)
        if lib.seccomp_rule_add_array(ctx, errno_eperm, nr, len(cmps), arr) != 0:
            raise OSError(f"seccomp_rule_add({name!r}) failed")
    if lib.seccomp_load(ctx) != 0:
        raise OSError("seccomp_load failed")


def configure_jax(job):
    import jax
    for key, value in PINNED.items():
        jax.config.update(key, value)
    cache = job.get("compilation_cache")
    if cache and os.path.isdir(cache) and os.access(cache, os.R_OK | os.X_OK):
        import warnings
        # A graded child only reads the cache: JAX writes an entry only when compiling took longer
        # than this, so it never tries (the folder is read-only to it anyway). `warm` writes.
        writable = bool(job.get("cache_writable"))
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0 if writable else 1e9)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        jax.config.update("jax_persistent_cache_enable_xla_caches", "none")
        # An unreadable or half-written entry just means compiling: not the student's output.
        warnings.filterwarnings("ignore", message="Error (reading|writing) persistent compilation cache")
    return jax


class Caller:
    """Calls the submission through jax.jit with (hidden, T) static, else plainly.

    Compiled whole, a case is one program that the persistent cache can serve (~50 ms instead of
    0.2-1 s of eager op-by-op retracing). Built before the submission is imported, so it holds
    JAX's own functions. Whatever goes wrong under jit (untraceable code, an exception, a result
    that is not one float array) falls back to the plain call, whose result or exception is what
    gets reported: a student's error reads exactly as it does eagerly. A traced program bigger than
    MAX_JIT_EQNS (an unrolled Python loop) also runs plainly: compiling it would cost seconds.
    """
    MAX_JIT_EQNS = 200

    def __init__(self, jax, enabled):
        self.enabled, self.jit, self.array = enabled, jax.jit, jax.Array
        self.fn = None
        self.compiled = False      # whether the last case ran compiled (reported with its result)

    def __call__(self, seed, x, hidden, T):
        self.compiled = False
        if self.enabled:
            out = self._compiled(seed, x, hidden, T)
            if out is not None:
                self.compiled = True
                return out
        return self.fn(seed, x, hidden, T)

    def _compiled(self, seed, x, hidden, T):
        fn = self.fn
        try:
            # A fresh function per case: Python side effects run once per case, as they do eagerly.
            traced = self.jit(lambda s, v, h, t: fn(s, v, h, t), static_argnums=(2, 3)).trace(seed, x, hidden, T)
            if count_eqns(traced.jaxpr) > self.MAX_JIT_EQNS:
                return None
            # Only the expected kind of result runs compiled: anything else (a huge broadcast, a
            # tuple, a stacked (T, hidden) array) is left to the plain call, so jit can neither
            # materialise what eager code would not nor change what the grader sees.
            avals = traced.jaxpr.out_avals
            if len(avals) != 1 or tuple(getattr(avals[0], "shape", ())) != (hidden,):
                return None
            out = traced.lower().compile()(seed, x)
            if not isinstance(out, self.array) or out.dtype.kind != "f":
                return None
            out.block_until_ready()
            return out
        except BaseException:  # noqa: BLE001 - the plain call decides what the student's code does
            return None


def count_eqns(jaxpr, depth=0):
    """Equations of a traced program, nested programs included (each counted once)."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    total = 0
    for eqn in jaxpr.eqns:
        total += 1
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                if depth < 8 and hasattr(getattr(sub, "jaxpr", sub), "eqns"):
                    total += count_eqns(sub, depth + 1)
    return total


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
    if (arr.dtype.kind == "f" or arr.dtype.name == "bfloat16") and arr.dtype.name not in SAFE_FLOATS:  # ml_dtypes (bfloat16: kind 'V')
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
    call = Caller(jax, job.get("jit", True))
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
    call.fn = fn
    send({"type": "loaded", "time_s": time.perf_counter() - t0, "settings": current_settings(jax)})

    for case in job["cases"]:
        send({"type": "start", "id": case["id"]})
        x = jnp.asarray(np.asarray(case["x"], dtype=np.float32))
        t = time.perf_counter()
        try:
            result = call(case["seed"], x, case["hidden"], case["T"])
            if hasattr(result, "block_until_ready"):
                result.block_until_ready()
            elapsed = time.perf_counter() - t
            head, data = encode(result, job["max_elements"])
        except BaseException as e:  # noqa: BLE001 - the student's exception is a verdict
            send({"type": "error", "id": case["id"], "time_s": time.perf_counter() - t, **describe(e, path)})
            continue
        send({"type": "result", "id": case["id"], "time_s": elapsed, **head, "compiled": call.compiled,
              "settings": current_settings(jax)}, data)

    if checks is not None:
        for frame in checks.run(module):
            send(frame)
    send({"type": "done"})


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: a submission's atexit hooks or threads cannot linger
