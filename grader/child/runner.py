"""The runner: load the submission, and for each case export its program (or, where it cannot be
exported, call it plainly), then send that back. It computes nothing the grader believes on its own.

Runs inside the sandbox with only this folder, the venv and the submission visible, and no
compilation cache. Usage: python -I runner.py JOB.json  (frames go to the job's result_fd)

Per case: a `program` frame (the serialized jax.export of `lax_scan_in_module(seed, x, hidden, T)`
with seed, hidden and T static and x abstract, plus what observe.py saw), or where export fails a
`result` frame (the plain call's value, then the exported program of the Module the call applied, if
any), or an `error` frame (the plain call raised).

While a case is traced for export, two things the submission does are taken as what they mean
rather than as reasons to fall back to the slow plain call:
- effect-only debug callbacks (jax.debug.print, jax.debug.callback) are silenced: they change no value
  and cannot be serialized;
- a NumPy conversion of a JAX tracer made by the submission's own code (`numpy.asarray(t)`,
  `numpy.array(t)`, either with a `dtype=`, `copy=` or `order=`) is the tracer itself, or the tracer
  cast to that dtype, the operation NumPy would have applied to the concrete array. Any other use of
  NumPy on a tracer (`np.tanh(t)`, `ndmin=`, `like=`, a list of tracers) still raises and still takes
  the fallback. This cannot help a cheater: nothing the runner computes is believed, the values are
  still those of the executor's run of the exported program, and the program is verified as any
  other; it only spares a correct `return np.asarray(model.apply(...))` the plain call.
The marker of the Module's name scopes (observe.py) is drawn here, for this grading, before the
submission is imported. A jitted helper whose trace JAX cached on an earlier case with the same
shapes runs no Python, so no init is seen: such a case is traced once more after clearing JAX's
trace caches (clearing before every case instead cost 0.04-0.09 s a case: 31 exports of a
reference-like solution on one CPU took 4.8-5.1 s, and 6.4-7.7 s with a clear before each).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (the sandbox's own folder, put on the path just above)

MAX_PROGRAM = 4 << 20                       # bytes of one serialized program


class Exporter:
    """Traces and exports a function with one (hidden,) float32 input. Built before the submission
    is imported, so it holds JAX's own functions."""

    def __init__(self, jax):
        import flax
        import numpy
        import warnings
        from jax._src import config
        from jax._src.export import _export
        from jax._src.interpreters import mlir
        self.jax, self._export, self.mlir, self.config = jax, _export, mlir, config
        self.jit, self.aval, self.f32 = jax.jit, jax.ShapeDtypeStruct, jax.numpy.float32
        self.clear_caches, self.tracer = jax.clear_caches, jax.core.Tracer
        self.numpy, self.warnings, self.getframe, self.isinstance = numpy, warnings, sys._getframe, isinstance
        self.internal = tuple(os.path.dirname(m.__file__) + os.sep for m in (jax, flax, numpy))
        self.silent = False
        self._debug = (jax.debug.print, jax.debug.callback)
        jax.debug.print = self._quiet(self._debug[0])
        jax.debug.callback = self._quiet(self._debug[1])

    def _as_is(self, real, array: bool):
        """numpy.asarray / numpy.array that hand a tracer back as itself (see the module docstring)."""
        allowed = {"dtype", "copy", "order", "subok", "ndmin"} if array else {"dtype", "copy", "order"}

        def conversion(a, *args, **kwargs):
            if not self.isinstance(a, self.tracer) or len(args) > 1 or not set(kwargs) <= allowed \
                    or kwargs.get("ndmin", 0) != 0 or kwargs.get("subok", True) is not True \
                    or self.getframe(1).f_code.co_filename.startswith(self.internal):
                return real(a, *args, **kwargs)
            dtype = args[0] if args else kwargs.get("dtype")
            if dtype is None:
                return a
            with self.warnings.catch_warnings():
                self.warnings.simplefilter("ignore")   # float64 without x64 is float32, as everywhere in JAX
                return a.astype(dtype)
        return conversion

    def _patched(self):
        """Install the conversions for one trace; returns what to put back."""
        np = self.numpy
        saved = (np.asarray, np.array)
        np.asarray, np.array = self._as_is(saved[0], False), self._as_is(saved[1], True)
        return saved

    def _quiet(self, real):
        def wrapper(*args, **kwargs):
            return None if self.silent else real(*args, **kwargs)
        return wrapper

    def trace(self, fn, H: int):
        """(traced, None) or (None, the exception tracing raised)."""
        self.silent = True
        saved = self._patched()
        try:
            return self.jit(fn).trace(self.aval((H,), self.f32)), None
        except BaseException as e:  # noqa: BLE001 - the plain call decides what the student's code does
            return None, e
        finally:
            self.numpy.asarray, self.numpy.array = saved
            self.silent = False

    def export(self, traced) -> bytes:
        """Serialize a traced program (the body of jax.export.export, without tracing twice)."""
        lowered = traced.lower(
            lowering_platforms=("cpu",),
            _private_parameters=self.mlir.LoweringParameters(
                for_export=True, hoist_constants_as_args=False,
                export_ignore_forward_compatibility=self.config.export_ignore_forward_compatibility.value))
        exported = self._export._export_lowered(lowered, traced.jaxpr, traced.fun_name)
        blob = bytes(exported.serialize())
        if len(blob) > MAX_PROGRAM:
            raise ValueError(f"the exported program has {len(blob)} bytes (at most {MAX_PROGRAM})")
        return blob


def why_not_exported(exc: BaseException) -> str:
    """A reason code for the grader: why this case's program could not be exported."""
    name = type(exc).__name__
    text = str(exc)[:500]
    if "host_callback" in text or "callback" in name.lower():
        return "callback"
    if name in ("TracerArrayConversionError", "TracerIntegerConversionError", "TracerBoolConversionError",
                "ConcretizationTypeError"):
        return "concrete_values"
    if "numpy" in text.lower() or name == "TracerArrayConversionError":
        return "numpy"
    return "untraceable"


def load(path: str, function: str, chan: common.Channel):
    t0 = time.perf_counter()
    try:
        with open(path, "rb") as f:
            code = compile(f.read(), path, "exec", dont_inherit=True)
    except BaseException as e:  # noqa: BLE001
        chan.send({"type": "load_error", **common.describe(e, path)})
        return None
    sys.path.insert(0, os.path.dirname(path))
    module = type(sys)("solution")
    module.__file__ = path
    sys.modules["solution"] = module
    try:
        exec(code, module.__dict__)
        fn = getattr(module, function, None)
        if fn is None:
            raise NameError(f"{function} is not defined at the top level of your file")
        if not callable(fn):
            raise TypeError(f"{function} is not a function")
    except BaseException as e:  # noqa: BLE001 - SystemExit and KeyboardInterrupt too
        chan.send({"type": "load_error", **common.describe(e, path)})
        return None
    return module, fn, time.perf_counter() - t0


def run_case(case, fn, exporter, observer, chan, path, max_elements, jax, np):
    H, T, seed = case["hidden"], case["T"], case["seed"]
    t = time.perf_counter()
    with observer.spy():
        traced, failure = exporter.trace(lambda v: fn(seed, v, H, T), H)
    if traced is not None and observer.cls is not None and not observer.saw_init():
        exporter.clear_caches()          # a cached jitted helper ran no Python: see its init once more
        with observer.spy():
            again = exporter.trace(lambda v: fn(seed, v, H, T), H)
        traced, failure = again if again[0] is not None else (traced, failure)
    avals = traced.jaxpr.out_avals if traced is not None else ()
    if traced is not None and len(avals) == 1 and hasattr(avals[0], "shape"):
        evidence = observer.report(traced.jaxpr, T)
        try:
            blob = exporter.export(traced)
        except BaseException as e:  # noqa: BLE001 - a program that lowers but cannot be serialized
            failure = e
        else:
            chan.send({"type": "program", "id": case["id"], "time_s": time.perf_counter() - t,
                       "observed": evidence, "settings": common.current_settings(jax), "nbytes": len(blob)}, blob)
            return
    if isinstance(failure, (RecursionError, MemoryError)):
        # The plain call would only repeat it (a million-frame recursion costs seconds each time).
        chan.send({"type": "error", "id": case["id"], "time_s": time.perf_counter() - t,
                   **common.describe(failure, path)})
        return
    # The fallback: the plain call's value is judged, and the Module it applied (seen now or while
    # tracing: a jitted inner function may not run its Python again) is exported, initialised and
    # applied the intended way with the case's seed, so the check points rest on a program the grader
    # ran itself, and on its values agreeing with the plain ones.
    seen_params, seen_bound = observer.report(None, T)["params"], observer.bound
    reason = why_not_exported(failure) if failure is not None else "not_one_array"
    x = jax.numpy.asarray(np.asarray(case["x"], dtype=np.float32))
    t = time.perf_counter()
    try:
        with observer.spy():
            result = fn(seed, x, H, T)
            if hasattr(result, "block_until_ready"):
                result.block_until_ready()
        elapsed = time.perf_counter() - t
        head, data = common.encode(result, max_elements)
    except BaseException as e:  # noqa: BLE001 - the student's exception is a verdict
        chan.send({"type": "error", "id": case["id"], "time_s": time.perf_counter() - t,
                   **common.describe(e, path)})
        return
    params = observer.report(None, T)["params"] or seen_params
    bound = observer.bound or seen_bound
    program, evidence = b"", {**observer.report(None, T), "params": params}
    if bound is not None:
        model, method = bound
        key = jax.random.PRNGKey(seed)
        with observer.spy():
            traced, _err = exporter.trace(
                lambda v: model.apply(model.init(key, v, method=method), v, method=method), H)
        if traced is not None and len(traced.jaxpr.out_avals) == 1:
            evidence = {**observer.report(traced.jaxpr, T), "params": params}
            try:
                program = exporter.export(traced)
            except BaseException:  # noqa: BLE001 - no program: the checks cannot pass
                program = b""
    chan.send({"type": "result", "id": case["id"], "time_s": elapsed, **head, "fallback": reason,
               "observed": evidence, "settings": common.current_settings(jax),
               "data_nbytes": len(data), "nbytes": len(data) + len(program)}, data + program)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        job = json.load(f)
    chan = common.Channel(job["result_fd"])
    path = job["submission"]
    if job.get("seccomp"):
        common.apply_seccomp()
    jax = common.configure_jax(None, False)        # the runner compiles nothing: no cache
    import flax.linen  # noqa: F401  (imported now, so its import time is not a case's)
    import numpy as np
    import observe
    exporter = Exporter(jax)
    observer = observe.Observer(job["module_class"], "m" + os.urandom(16).hex())   # drawn per grading
    # Everything above is the judge's; a death before this frame is a judge error, after it the
    # submission's code is running.
    chan.send({"type": "ready", "pid": os.getpid()})
    loaded = load(path, job["function"], chan)
    if loaded is None:
        return
    module, fn, load_time = loaded
    chan.send({"type": "loaded", "time_s": load_time, "settings": common.current_settings(jax),
               "module": observer.module_class(module)})
    for case in job["cases"]:
        chan.send({"type": "start", "id": case["id"]})
        run_case(case, fn, exporter, observer, chan, path, job["max_elements"], jax, np)
    chan.send({"type": "done"})


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: a submission's atexit hooks or threads cannot linger
