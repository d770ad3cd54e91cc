"""What the runner and the executor share: the frame channel, the pinned JAX settings and XLA options,
the network filter, and how an exception and an array are described. Imports no JAX at module level
(the grader reads PINNED and PINNED_XLA_FLAGS from here).

Frames: 4-byte big-endian header length, a UTF-8 JSON header, then `nbytes` raw bytes if the header
says so. Never a pickle: the grader parses the bytes itself with bounds on every size.
"""
import json
import os
import struct
import sys
import traceback

PINNED = {  # what the golden vectors were made with; never inherited from the environment
    "jax_enable_x64": False,
    "jax_threefry_partitionable": True,
    "jax_default_prng_impl": "threefry2x32",
    "jax_random_seed_offset": 0,
}
# XLA's options for the children's compiles (the executor's above all), chosen by
# tools/measure_compile.py on one CPU (docs/tolerance.md): LLVM at -O0 and the loop emitters instead
# of the MLIR fusion emitters compile the reference's 31 case programs in 2.65 s (XLA's defaults:
# 9.47; -O1 5.09) and an unrolled scan's in 12.0 (defaults 36.2; -O1 38.1); the run, 0.05 s for all
# 31, stays negligible. They move W's and the outputs' last bits (<= 0.092 of the tolerance): the golden
# vectors and the wrong variants are made with them, and judge/cases.py puts them in the golden
# fingerprint (where its schema has the field), so a change is drift, not graded.
PINNED_XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"
# Host devices the executor's CPU backend offers: a program exported for up to this many (a submission
# that set --xla_force_host_platform_device_count and sharded its result) runs; 2 threads each, no
# memory, and one-device programs compile and run the same bits as with one device (measured).
HOST_DEVICES = 8
SAFE_FLOATS = ("float16", "float32", "float64")
TRACEBACK_FRAMES = 200          # a traceback is walked this deep at most (a deep recursion is cheap)
MESSAGE_CHARS = 2000


class Channel:
    """Frames to the grader on one inherited fd."""

    def __init__(self, fd: int):
        self.fd = fd

    def send(self, header: dict, payload: bytes = b"") -> None:
        for stream in (sys.stdout, sys.stderr):  # what the submission printed arrives before the frame
            try:
                stream.flush()
            except BaseException:  # noqa: BLE001 - a replaced or closed stream is the submission's business
                pass
        data = json.dumps(header).encode()
        view = memoryview(struct.pack(">I", len(data)) + data + payload)
        while view:
            view = view[os.write(self.fd, view):]


def read_frame(fd: int, max_header: int = 1 << 20, max_payload: int = 64 << 20):
    """One frame from the grader (the executor's input), or None at end of input."""
    def exact(n):
        buf = bytearray()
        while len(buf) < n:
            chunk = os.read(fd, min(n - len(buf), 1 << 20))
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)
    size = exact(4)
    if size is None:
        return None
    (n,) = struct.unpack(">I", size)
    if not 0 < n <= max_header:
        raise ValueError("bad frame header size")
    head = json.loads(exact(n) or b"null")
    nbytes = head.get("nbytes", 0)
    if not 0 <= nbytes <= max_payload:
        raise ValueError("bad frame payload size")
    return head, (exact(nbytes) or b"") if nbytes else b""


def _type_name(exc: BaseException) -> str:
    name = type(exc).__name__
    return name if isinstance(name, str) else "Exception"


def describe(exc: BaseException, path: str) -> dict:
    """Type, message and the submission's own frames of an exception: bounded in time and size. The
    traceback is walked at most TRACEBACK_FRAMES deep (a million-frame recursion is not walked), and
    str() of a hostile exception may itself raise."""
    try:
        text = f"{exc.msg} (line {exc.lineno})" if isinstance(exc, SyntaxError) else str(exc)
    except BaseException:  # noqa: BLE001 - a __str__ that raises is the submission's
        text = "<the exception's message could not be read>"
    text = text[:MESSAGE_CHARS] if isinstance(text, str) else ""
    frames, tb = [], exc.__traceback__
    for _ in range(TRACEBACK_FRAMES):
        if tb is None:
            break
        if tb.tb_frame.f_code.co_filename == path:
            frames.append(tb)
        tb = tb.tb_next
    lines = []
    for t in frames[-6:]:
        try:
            line = traceback.FrameSummary(path, t.tb_lineno, t.tb_frame.f_code.co_name).line or ""
        except BaseException:  # noqa: BLE001
            line = ""
        lines.append(f"line {t.tb_lineno}, in {t.tb_frame.f_code.co_name}: {line.strip()}"[:300])
    return {"etype": _type_name(exc)[:200], "message": text, "frames": lines,
            "memory": isinstance(exc, MemoryError) or "RESOURCE_EXHAUSTED" in text}


def encode(result, max_elements: int):
    """Header (and bytes) describing a returned value; the grader judges it."""
    import numpy as np
    cls = type(result)
    head = {"pytype": f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', '?')}"[:300]}
    if result is None:
        return {**head, "kind": "none"}, b""
    try:
        arr = np.asarray(result)
    except Exception as e:  # noqa: BLE001 - anything the student returned
        return {**head, "kind": "unconvertible", "error": f"{_type_name(e)[:100]}: {str(e)[:200]}"}, b""
    head.update(kind="array", shape=[int(n) for n in arr.shape], dtype=str(arr.dtype))
    if arr.dtype.name not in SAFE_FLOATS and _is_real_float(arr.dtype) and arr.size <= max_elements:
        # bfloat16 and the other ml_dtypes floats (bfloat16 has NumPy kind 'V'): sent as float32,
        # which holds them exactly, with the original name; the grader judges the original dtype.
        head["orig_dtype"] = arr.dtype.name
        arr = arr.astype(np.float32)
        head["dtype"] = str(arr.dtype)
    if arr.dtype.kind != "f" or arr.dtype.name not in SAFE_FLOATS or arr.size > max_elements:
        return head, b""
    data = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
    head.update(dtype=arr.dtype.newbyteorder("<").str, nbytes=len(data))
    return head, data


def _is_real_float(dtype) -> bool:
    if dtype.kind in "biucOSUM":
        return False
    try:
        import ml_dtypes
        ml_dtypes.finfo(dtype)
        return True
    except Exception:  # noqa: BLE001 - not a floating type ml_dtypes or NumPy knows
        return False


def configure_jax(cache: str | None, writable: bool, xla_flags: str = PINNED_XLA_FLAGS,
                  devices: int | None = None):
    """The pinned settings, and XLA's options from a fixed value, never inherited: XLA reads XLA_FLAGS
    once, when the backend starts at the first computation, so it is set here, before anything
    computes (a submission that sets it at import time sets the runner's own, as before). The flags are
    in JAX's cache key, so warm and grading must agree on them. `devices`: the CPU backend's host
    devices (the executor's HOST_DEVICES); None leaves JAX's default (one, or what XLA_FLAGS says)."""
    os.environ["XLA_FLAGS"] = xla_flags
    import jax
    for key, value in PINNED.items():
        jax.config.update(key, value)
    # JAX filters every traceback that crosses its API, walking it whole: a million-frame recursion
    # would cost seconds per boundary. describe() keeps only the submission's own frames anyway.
    jax.config.update("jax_traceback_filtering", "off")
    if devices is not None:
        jax.config.update("jax_num_cpu_devices", devices)
    if cache and os.path.isdir(cache) and os.access(cache, os.R_OK | os.X_OK):
        import warnings
        # A graded executor only reads the cache: JAX writes an entry only when compiling took longer
        # than this, so it never tries (the folder is read-only to it anyway). `warm` writes.
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0 if writable else 1e9)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        jax.config.update("jax_persistent_cache_enable_xla_caches", "none")
        # An unreadable or half-written entry just means compiling: not the student's output.
        warnings.filterwarnings("ignore", message="Error (reading|writing) persistent compilation cache")
    return jax


def initialize_lapack(jax) -> None:
    """What jax.export's call of a CPU program does first (registering LAPACK's kernels: 0.09-0.11 s
    on one CPU), done before any program arrives; needs no backend, starts no thread."""
    try:
        from jax._src.lax import linalg
        linalg.initialize_lapack()
    except (ImportError, AttributeError):    # another JAX: its first call pays it, as before
        pass


def current_settings(jax) -> dict:
    return {k: getattr(jax.config, k) for k in PINNED}
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

