"""Why a case got its verdict and why a hint was given, as typed values with their parameters.

A reason is found once (compare.judge, the error pitfalls, the variant diagnosis, the checks) and
travels as a `Found` to where the verdict is assembled; its sentence is rendered here, from the
table below, and nowhere else. No grader code reads the wording of another message to decide
anything: it reads the reason. The codes are the verdict JSON's `reason` values (closed: the enum in
grader/schemas/verdict.schema.json lists them, docs/feedback.md shows one sentence of each).
"""
from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum


class Reason(str, Enum):
    # -- case reasons --------------------------------------------------------------------------
    CORRECT = "correct"
    WRONG_VALUES = "wrong_values"
    PRECISION_TOO_LOW = "precision_too_low"
    WRONG_SHAPE = "wrong_shape"
    STACKED_OUTPUTS = "stacked_outputs"
    OVERSIZED = "oversized"
    WRONG_DTYPE = "wrong_dtype"
    NOT_FINITE = "not_finite"
    RETURNED_NONE = "returned_none"
    NOT_AN_ARRAY = "not_an_array"
    MALFORMED_DATA = "malformed_data"
    EXCEPTION = "exception"
    NOT_IMPLEMENTED = "not_implemented"
    OUT_OF_MEMORY = "out_of_memory"
    TIME_LIMIT = "time_limit"
    TOTAL_TIME_LIMIT = "total_time_limit"
    TIME_DOMINATED = "time_dominated"
    DIED_AFTER_ANSWERING = "died_after_answering"
    CRASH_RUN = "crash_run"
    UNFIT_PROGRAM = "unfit_program"
    NOT_EXPORTED = "not_exported"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"
    SCRATCH_LIMIT = "scratch_limit"
    CHANNEL_CORRUPTED = "channel_corrupted"
    CRASHED = "crashed"
    NOT_RUN = "not_run"
    NOT_LOADED = "not_loaded"
    JUDGE_ERROR = "judge_error"
    # -- hint reasons --------------------------------------------------------------------------
    PITFALL_TRACER_IN_SCAN = "pitfall_tracer_in_scan"
    PITFALL_CARRY_TYPE = "pitfall_carry_type"
    PITFALL_CARRY_STRUCTURE = "pitfall_carry_structure"
    PITFALL_BODY_NOT_PAIR = "pitfall_body_not_pair"
    PITFALL_CONTRACTING_DIMS = "pitfall_contracting_dims"
    PITFALL_NOT_IMPLEMENTED = "pitfall_not_implemented"
    PITFALL_IMPORT = "pitfall_import"
    PITFALL_STACKED_OUTPUTS = "pitfall_stacked_outputs"
    PITFALL_JAX_SETTINGS = "pitfall_jax_settings"
    PITFALL_LOW_PRECISION = "pitfall_low_precision"
    VARIANT_T_MINUS_1 = "variant_t_minus_1"
    VARIANT_T_PLUS_1 = "variant_t_plus_1"
    VARIANT_NO_INITIAL_TANH = "variant_no_initial_tanh"
    VARIANT_TRANSPOSED_W = "variant_transposed_w"
    VARIANT_SEED_IGNORED = "variant_seed_ignored"
    VARIANT_X_IGNORED = "variant_x_ignored"
    VARIANT_RELU = "variant_relu"
    VARIANT_INIT_SCALE = "variant_init_scale"
    VARIANT_LECUN_UNIFORM = "variant_lecun_uniform"
    VARIANT_NONE = "variant_none"
    CHECK_FAILED = "check_failed"
    NOT_GRADED = "not_graded"
    NOTEBOOK_LINES_DROPPED = "notebook_lines_dropped"
    NOTEBOOK_CELLS_SKIPPED = "notebook_cells_skipped"
    LIBRARY_VERSIONS = "library_versions"

    @classmethod
    def variant(cls, vid: str) -> "Reason":
        """The hint reason of a known wrong variant (grader/judge/variants.py ids); ValueError if unknown."""
        return cls("variant_" + vid)


def _wrong_values(p: Mapping) -> str:
    tol = f"(tolerance {p['atol']:g} + {p['rtol']:g}·|expected|){p.get('as_dtype', '')}"
    if p.get("shown"):
        return f"wrong values in {p['n_bad']} of {p['size']} entries: {p['shown']}; max abs error {p['err']} {tol}"
    return f"wrong values: max abs error {p['err']}, max rel error {p['rel']} {tol}"


_ALLOWED = "jax, flax, numpy and the Python standard library"
# The runner's codes for why a function could not be exported (grader/child/runner.py) and the
# executor's for refusing a program (grader/child/executor.py, hlo.py), as the student reads them.
NOT_EXPORTED_BECAUSE = {
    "numpy": "it converts traced values to NumPy",
    "concrete_values": "it needs concrete values (Python control flow or float() on arrays)",
    "callback": "it uses a host callback",
    "not_one_array": "it does not return one array",
    "untraceable": "it cannot be traced with jax.jit",
}
UNFIT = {
    "host_callback": "your program calls back into Python (jax.pure_callback / io_callback), which the "
                     "grader does not run: compute with jax.numpy only",
    "custom_call": "your program uses a custom call the grader does not run",
    "host_transfer": "your program sends or receives data from the host, which the grader does not run",
    "effects": "your program has side effects the grader does not run (callbacks)",
    "wrong_signature": "the exported program does not take one (hidden,) float32 input and return one array",
    "not_for_cpu": "the exported program was not made for the CPU",
    "too_many_devices": "your program was exported for more devices than the grader runs (at most 8 host "
                        "devices): return the result without sharding it over more",
    "external_function": "your program calls a function it does not define",
    "too_large": "your program is too large to run",
}
TEMPLATES: dict[Reason, str | Callable[[Mapping], str]] = {
    Reason.CORRECT: "correct{as_dtype}",
    Reason.WRONG_VALUES: _wrong_values,
    Reason.PRECISION_TOO_LOW: ("precision too low: returned as {dtype}, whose rounding (≈{eps:.0e} "
                               "relative) is coarser than the tolerance ({atol:g} + {rtol:g}·|expected|); "
                               "max abs error {err}. Compute and return float32"),
    Reason.WRONG_SHAPE: "shape {shape}, expected {want}",
    Reason.STACKED_OUTPUTS: ("shape {shape}, expected {want} (that looks like the stacked per-step "
                             "outputs, {steps} steps; return the final carry)"),
    Reason.OVERSIZED: "returned an array of shape {shape} ({size} elements); expected {want}",
    Reason.WRONG_DTYPE: "dtype {dtype}, expected a real floating dtype ({accepted})",
    Reason.NOT_FINITE: "{n_bad} of {size} entries are NaN or infinite",
    Reason.RETURNED_NONE: "returned None; expected a float array of shape {want}",
    Reason.NOT_AN_ARRAY: "returned a {pytype} that is not an array ({error}); expected shape {want}",
    Reason.MALFORMED_DATA: "the result channel carried malformed data",
    Reason.EXCEPTION: lambda p: f"{p['etype']}: {p['first']}{p['at']}" if p["first"] else f"{p['etype']}{p['at']}",
    Reason.NOT_IMPLEMENTED: lambda p: ("not implemented yet: your function raised NotImplementedError"
                                       + (f" ({p['first']})" if p["first"] else "")),
    Reason.OUT_OF_MEMORY: "ran out of memory: {etype}: {first}{at}",
    Reason.TIME_LIMIT: "time limit exceeded: the case did not finish in time",
    Reason.TOTAL_TIME_LIMIT: "time limit exceeded ({detail})",
    Reason.TIME_DOMINATED: ("time limit exceeded: not run, since case {case}, no larger in H or T, already "
                            "exceeded the time limit (confirmed by a retry)"),
    Reason.DIED_AFTER_ANSWERING: ("the process died after answering ({detail}), so its answers do not count "
                                  "(results are trusted only from a process that ends cleanly)"),
    Reason.CRASH_RUN: "not run: the process died on its first case {count} times in a row",
    Reason.UNFIT_PROGRAM: lambda p: UNFIT.get(str(p.get("code")), "the grader cannot run your exported program"),
    Reason.NOT_EXPORTED: lambda p: ("computed by a plain call: your function could not be exported because "
                                    + NOT_EXPORTED_BECAUSE.get(str(p.get("code")), NOT_EXPORTED_BECAUSE["untraceable"])),
    Reason.MEMORY_LIMIT: "memory limit exceeded: the process tree used more memory than allowed",
    Reason.OUTPUT_LIMIT: "output limit exceeded: your code printed too much",
    Reason.SCRATCH_LIMIT: "wrote more files than the scratch space allows",
    Reason.CHANNEL_CORRUPTED: ("the result channel was corrupted (did your code write to file "
                               "descriptors it does not own?)"),
    Reason.CRASHED: "the process died during the case ({detail})",
    Reason.NOT_RUN: "{detail}",
    Reason.NOT_LOADED: "not run: {why}",
    Reason.JUDGE_ERROR: lambda p: ("The grader failed on its own (judge error): this is not your fault and "
                                   "your submission was not graded. Your instructor has the details."
                                   if p.get("hint") else "not graded: judge error"),
    Reason.PITFALL_TRACER_IN_SCAN: (
        "A Flax variable is created inside the lax.scan body (self.param, or a submodule such as "
        "nn.Dense). Create W once in __call__, before jax.lax.scan, and let the body close over it."),
    Reason.PITFALL_CARRY_TYPE: (
        "The scan body returns a carry whose shape or dtype differs from init_carry. The new carry must "
        "be exactly like the old one, shape (hidden,) float32: return jnp.tanh(carry @ W)."),
    Reason.PITFALL_CARRY_STRUCTURE: (
        "The scan body returns a carry with a different structure (e.g. a tuple instead of one array). "
        "Return the new carry in the same form as init_carry."),
    Reason.PITFALL_BODY_NOT_PAIR: (
        "The scan body must return a (carry, output) pair: `return new_carry, None`, not the carry alone."),
    Reason.PITFALL_CONTRACTING_DIMS: (
        "x @ W has mismatched sizes: x has length hidden and W must be (hidden, hidden). Check the shape "
        "you pass to self.param and that you use the module's hidden field, not a fixed number."),
    Reason.PITFALL_NOT_IMPLEMENTED: (
        "Your file still raises the starter's NotImplementedError: replace it with your implementation "
        "of LaxScanModule and lax_scan_in_module."),
    Reason.PITFALL_IMPORT: f"Only {_ALLOWED} can be imported in the grader.",
    Reason.PITFALL_STACKED_OUTPUTS: (
        "You returned the per-step outputs stacked by lax.scan (shape (T, hidden)). The exercise wants "
        "the final carry: `final, _ = jax.lax.scan(...)` and return `final`."),
    Reason.PITFALL_JAX_SETTINGS: (
        "Your code changes JAX settings that change the random W (and so every result): {changed}. "
        "Remove those jax.config.update calls or environment settings."),
    Reason.PITFALL_LOW_PRECISION: (
        "Your result is returned in {dtype}, whose precision is too low for the tolerance: the values "
        "are right to {dtype}'s rounding but not to 1e-4. Compute in float32 and return float32."),
    **{r: "In {which}, {says}." for r in Reason if r.value.startswith("variant_") and r.value != "variant_none"},
    Reason.VARIANT_NONE: ("Your wrong results match none of the known mistakes consistently (loop "
                          "length, initial tanh, W transposed, seed or x ignored, ReLU, initializer): "
                          "compare your recurrence line by line with the statement."),
    Reason.CHECK_FAILED: "Check {id}: {message}",
    Reason.NOT_GRADED: "Not graded: {why}.",
    Reason.NOTEBOOK_LINES_DROPPED: (
        "{count} IPython magic or shell line(s) (starting with % or !) were dropped from the notebook: "
        "they do not run in the grader"),
    Reason.NOTEBOOK_CELLS_SKIPPED: "notebook cell(s) {cells} are not Python and were skipped",
    Reason.LIBRARY_VERSIONS: (
        "Your library versions differ from the grader's ({versions}). Results can differ slightly; "
        "install the versions in requirements.lock to check exactly what the grader will see."),
}
# -- what a hidden case's message may say ----------------------------------------------------------
# A hidden case's input is secret, and everything the submission produced on it is derived from that
# input: its exception's text and frames, the shape, dtype, type name and entry counts it returned,
# its exit status. So a hidden case's Found keeps only the grader's own values (the expected shape,
# error bands, a code it looks up, a known exception type's name), listed per reason below, and is
# worded by HIDDEN_TEMPLATES where the public sentence would need more. Any reason not listed keeps
# nothing. The full detail stays with the instructor (the verdict's `internal`).
HIDDEN_KEEPS: dict[Reason, tuple[str, ...]] = {
    Reason.CORRECT: ("as_dtype",), Reason.WRONG_VALUES: ("err", "rel", "atol", "rtol", "as_dtype"),
    Reason.PRECISION_TOO_LOW: ("dtype", "eps", "atol", "rtol", "err"), Reason.WRONG_SHAPE: ("want",),
    Reason.STACKED_OUTPUTS: ("want",), Reason.OVERSIZED: ("want",), Reason.RETURNED_NONE: ("want",),
    Reason.NOT_AN_ARRAY: ("want",), Reason.WRONG_DTYPE: ("accepted",), Reason.EXCEPTION: ("etype",),
    Reason.OUT_OF_MEMORY: ("etype",), Reason.TOTAL_TIME_LIMIT: ("detail",), Reason.TIME_DOMINATED: ("case",),
    Reason.CRASH_RUN: ("count",), Reason.UNFIT_PROGRAM: ("code",), Reason.NOT_EXPORTED: ("code",),
    Reason.NOT_RUN: ("detail",),
    Reason.NOT_LOADED: ("why",),   # the load's own message, said once for the whole file (grade.load_message)
}
HIDDEN_TEMPLATES: dict[Reason, str] = {
    Reason.WRONG_SHAPE: "wrong shape: expected {want} (a hidden case's returned shape is not shown)",
    Reason.STACKED_OUTPUTS: ("wrong shape: expected {want}; the result looks like the stacked per-step "
                             "outputs (return the final carry)"),
    Reason.OVERSIZED: "returned an array far larger than expected; expected {want}",
    Reason.WRONG_DTYPE: "wrong dtype: expected a real floating dtype ({accepted})",
    Reason.NOT_FINITE: "some entries are NaN or infinite",
    Reason.NOT_AN_ARRAY: "returned a value that is not an array; expected shape {want}",
    Reason.EXCEPTION: ("your function raised {etype} on this hidden case (a hidden case's exception text "
                       "is not shown: run the public cases to see one)"),
    Reason.NOT_IMPLEMENTED: "not implemented yet: your function raised NotImplementedError",
    Reason.OUT_OF_MEMORY: "ran out of memory: your function raised {etype} on this hidden case",
    Reason.DIED_AFTER_ANSWERING: ("the process died after answering, so its answers do not count (results "
                                  "are trusted only from a process that ends cleanly)"),
    Reason.CRASHED: "the process died during the case",
}
# Exception types whose names the grader knows (a class the submission made could be named anything).
KNOWN_EXCEPTIONS = frozenset(n for n, v in vars(builtins).items()
                             if isinstance(v, type) and issubclass(v, BaseException)) | {
    "UnexpectedTracerError", "ConcretizationTypeError", "TracerArrayConversionError", "TracerBoolConversionError",
    "TracerIntegerConversionError", "NonConcreteBooleanIndexError", "KeyReuseError", "XlaRuntimeError",
    "JaxRuntimeError", "ScopeParamShapeError", "ScopeParamNotFoundError", "ApplyScopeInvalidVariablesTypeError"}
_CODES = {Reason.UNFIT_PROGRAM: UNFIT, Reason.NOT_EXPORTED: NOT_EXPORTED_BECAUSE}


def for_case(f: Found | None, hidden: bool) -> Found | None:
    """A case's Found as its set allows: public cases keep everything; a hidden case keeps only the
    grader's own values (HIDDEN_KEEPS) and is worded by HIDDEN_TEMPLATES."""
    if f is None or not hidden or f.hidden:
        return f
    kept = {k: v for k, v in f.params.items() if k in HIDDEN_KEEPS.get(f.reason, ())}
    if "etype" in kept:
        kept["etype"] = kept["etype"] if kept["etype"] in KNOWN_EXCEPTIONS else "an exception of its own type"
    if f.reason in _CODES:
        kept["code"] = kept.get("code") if kept.get("code") in _CODES[f.reason] else None
    return Found(f.reason, kept, hidden=True)


CASE_REASONS = tuple(Reason)[:tuple(Reason).index(Reason.JUDGE_ERROR) + 1]
HINT_REASONS = tuple(r for r in Reason if r not in CASE_REASONS) + (Reason.JUDGE_ERROR,)


@dataclass(frozen=True)
class Found:
    """A reason and the parameters its sentence needs (already safe text or plain numbers)."""
    reason: Reason
    params: Mapping[str, object] = field(default_factory=dict)
    hidden: bool = False          # made for a hidden case (for_case): worded by HIDDEN_TEMPLATES

    @property
    def text(self) -> str:
        return render(self.reason, self.params, self.hidden)


def render(reason: Reason, params: Mapping[str, object] | None = None, hidden: bool = False) -> str:
    """The one place a reason becomes a sentence."""
    template = HIDDEN_TEMPLATES.get(reason, TEMPLATES[reason]) if hidden else TEMPLATES[reason]
    p = dict(params or {})
    return template(p) if callable(template) else template.format(**p)


def found(reason: Reason, **params) -> Found:
    return Found(reason, params)
