"""Structure of an exported program, read from its StableHLO by data flow (runs in the executor).

What is verified is what produces the program's one output: it must be the recurrence's carry, the
step c -> tanh(c @ W) applied T times in all to tanh(x @ W), for one W shared by every step and made
in the program from the seed's random bits (hlo_origin.py: never a constant, never a function of x),
inside one loop whose trip count times the steps per trip (plus a remainder smaller than that, as
`scan(unroll=k)` leaves) is T. For T = 0 there is no step. A loop or a scan elsewhere in the program
whose result is not that carry counts for nothing; steps outside a loop beyond the remainder are an
unrolled Python loop, and a scan unrolled whole (unroll >= T) leaves no loop: `no_loop` with all T
steps outside, each on the init's W (grader/judge/checks.py weighs that against the observed unroll).
Host callbacks, host transfers and custom calls outside jax.export's stable CPU set make a program
unfit to run at all.

The program is read as an expression graph: calls are inlined, a while loop's results are symbols of
that loop (hlo_graph.py), so "the same W" means the same value. W is compared in a canonical form:
through any chain of transposes (their parity decides the orientation), widening float converts
(float64 arithmetic on the float32 W is the same recurrence) and the loop variable that carries it
unchanged; the step may be written with dot, matmul, einsum or dot_general, either operand first, as
a (1, H) row or (H, 1) column with reshapes, and the carry may be a pytree whose other parts
(counters, copies) do not feed the result.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hlo_graph  # noqa: E402  (this folder, put on the path just above)
import hlo_origin  # noqa: E402

MAX_NODES = hlo_graph.MAX_NODES
FORBIDDEN_OPS = ("stablehlo.send", "stablehlo.recv", "stablehlo.infeed", "stablehlo.outfeed")
EXTRA_TARGETS = ("Sharding", "SPMDFullToShardShape", "SPMDShardToFullShape", "annotate_device_placement",
                 "AllocateBuffer")


@dataclass(frozen=True)
class Structure:
    ok: bool
    reason: str                # a code: the grader words it (grader/checks.py)
    trips: int | None = None   # the loop's trip count
    per_trip: int | None = None  # steps per trip
    outside: int = 0           # steps outside the loop (the unroll remainder)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "reason": self.reason, "trips": self.trips, "per_trip": self.per_trip,
                "outside": self.outside}


class Unfit(Exception):
    """The program must not be compiled (a host callback, a custom call, a host transfer)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def allowed_custom_calls() -> set[str]:
    from jax._src.export import _export
    return set(getattr(_export, "_CPU_FFI_KERNELS", ())) | set(EXTRA_TARGETS)


_CONTEXT = None


def _context():
    """One MLIR context for the executor's life (making one costs ~20 ms)."""
    global _CONTEXT
    if _CONTEXT is None:
        from jax._src.interpreters import mlir as jmlir
        _CONTEXT = jmlir.make_ir_context()
    return _CONTEXT


def screen(module, allowed: set[str]) -> None:
    """Raise Unfit for anything that must not be compiled, anywhere in the module."""
    from jax._src.lib.mlir import ir
    count = 0

    def walk(op):
        nonlocal count
        count += 1
        if count > MAX_NODES:
            raise Unfit("too_large")
        name = op.name
        if name in FORBIDDEN_OPS:
            raise Unfit("host_transfer")
        if name == "stablehlo.custom_call":
            target = ir.StringAttr(op.attributes["call_target_name"]).value
            if "callback" in target.lower():
                raise Unfit("host_callback")
            if target not in allowed:
                raise Unfit("custom_call")
        if name == "func.func" and len(op.regions[0].blocks) == 0:
            raise Unfit("external_function")
        for region in op.regions:
            for block in region.blocks:
                for inner in block.operations:
                    walk(inner.operation)

    for op in module.body.operations:
        walk(op.operation)


def check(serialized: bytes, T: int) -> Structure:
    """The structure verdict of an exported program (its `mlir_module_serialized`, a portable
    artifact) for a case with T steps. Raises Unfit when it must not be compiled at all."""
    from jax._src.lib import _jax
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    with _context():
        module = _jax.mlir.deserialize_portable_artifact(serialized)
        screen(module, allowed_custom_calls())
        try:
            return _verify(module, T)
        except hlo_graph.TooLarge:
            raise Unfit("too_large") from None


def _verify(module, T: int) -> Structure:
    g = hlo_graph.Graph(module)
    main = g.funcs.get("main")
    if main is None:
        return Structure(False, "not_one_output")
    block = main.regions[0].blocks[0]
    ret = [op.operation for op in block.operations][-1]
    if len(block.arguments) != 1 or len(ret.operands) != 1:
        return Structure(False, "not_one_output")
    x = ("arg", 0, str(block.arguments[0].type))
    out = g.call(main, (x,))[0]
    r = hlo_graph.Reader(g)
    return _recurrence(r, out, x, T, (r.dims(x) or (0,))[0])


def _steps(r: hlo_graph.Reader, ref: tuple, stop: tuple, W: tuple | None) -> tuple[tuple, int, tuple | None] | str:
    """Peel steps tanh(c @ W) off ref down to (not including) a step whose carry is `stop`:
    (what is left, how many steps, W), or a reason code when the steps disagree on W."""
    count = 0
    while (s := r.step(ref, stop)) is not None and s[0] != stop:
        if W is not None and s[1] != W:
            return "w_not_shared"
        W, ref, count = s[1], s[0], count + 1
    return ref, count, W


def _recurrence(r: hlo_graph.Reader, out: tuple, x: tuple, T: int, H: int) -> Structure:
    """W is compared as one canonical reference (hlo_graph.Reader.matrix): the same value through
    transposes of either parity, widening converts, and the loop variable that carries it."""
    peeled = _steps(r, r.strip(out, narrowing=True), x, None)
    if isinstance(peeled, str):
        return Structure(False, peeled)
    e, after, W = peeled
    trips = per_trip = None
    before = 0
    if e[0] == "result":
        loop, j = e[1], e[2]
        init, body, cond, lvars = r.g.loop_parts(loop)
        trips = _trips(r, init, body, cond, lvars)
        if trips is None:
            return Structure(False, "loop_count_unknown")
        inside = _steps(r, r.strip(body[j]), lvars[j], W)
        if isinstance(inside, str):
            return Structure(False, inside, trips)
        c, per_trip, W = inside
        last = r.step(c, lvars[j]) if per_trip or c != lvars[j] else None
        if last is not None and last[0] == lvars[j]:          # the step that reads the loop's carry
            if W is not None and last[1] != W:
                return Structure(False, "w_not_shared", trips)
            per_trip, W, c = per_trip + 1, last[1], lvars[j]
        if per_trip == 0 or c != lvars[j]:
            return Structure(False, "loop_body_not_step", trips)
        if W[0] != "op" and W[0] != "arg" and W[1] == loop:   # a W the loop changes from trip to trip
            return Structure(False, "w_not_shared", trips, per_trip)
        peeled = _steps(r, r.strip(init[j]), x, W)
        if isinstance(peeled, str):
            return Structure(False, peeled, trips, per_trip)
        e, before, W = peeled
    outside = after + before
    first = r.step(e, x)
    if first is None or first[0] != x:
        reason = "several_loops" if e[0] == "result" else \
            ("output_not_recurrence" if trips is None and outside == 0 else "init_not_tanh_xw")
        return Structure(False, reason, trips, per_trip, outside)
    if W is not None and first[1] != W:
        return Structure(False, "w_not_shared", trips, per_trip, outside)
    why = hlo_origin.origin(r, first[1], H)
    if why is not None:
        return Structure(False, why, trips, per_trip, outside)
    if trips is None:
        return Structure(T == 0 and outside == 0, "ok" if T == 0 and outside == 0 else "no_loop", None, None,
                         outside)
    if outside >= per_trip:
        return Structure(False, "unrolled_steps", trips, per_trip, outside)
    if trips * per_trip + outside != T:
        return Structure(False, "wrong_step_count", trips, per_trip, outside)
    return Structure(True, "ok", trips, per_trip, outside)


_DIRECTIONS = {"LT": "<", "LE": "<=", "GT": ">", "GE": ">="}
_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _trips(r: hlo_graph.Reader, init: tuple, body: tuple, cond: tuple, lvars: tuple) -> int | None:
    """The loop's trip count: a counter that starts at a constant, steps by one, and is compared with
    a constant in the loop's condition; None when the loop is not of that form."""
    if r.name(cond) != "stablehlo.compare":
        return None
    words = re.findall(r"[A-Z]{2}", r.attr(cond, "comparison_direction"))
    kind = _DIRECTIONS.get(words[-1] if words else "")
    a, b = (r.strip(o) for o in r.operands(cond))
    if a in lvars and r.constant(b) is not None:
        i, limit = lvars.index(a), r.constant(b)
    elif b in lvars and r.constant(a) is not None:
        i, limit, kind = lvars.index(b), r.constant(a), _MIRROR.get(kind or "")
    else:
        return None
    start, step = r.constant(init[i]), body[i]
    if start is None or r.name(step) != "stablehlo.add":
        return None
    others = [o for o in r.operands(step) if o != lvars[i]]
    if len(others) != 1 or r.constant(others[0]) != 1:
        return None
    if kind == "<":
        return max(0, limit - start)
    if kind == "<=":
        return max(0, limit - start + 1)
    return None
