"""Where the recurrence's W comes from, read from the exported program (runs in the executor).

The exercise's W is `self.param("W", lecun_normal(), (H, H))`: in the program, a function of the
seed's random bits. With the pinned PRNG (threefry2x32) those bits are made by integer bit operations
on the key (xor, shifts: threefry's rounds), and the seed itself is a constant of the program, since
it is static. So W counts as made by the init when its expression, followed back through every op,
call and loop it depends on:
- reaches threefry's bit operations on integers (an `xor` and a shift), or a `rng_bit_generator`;
- never reaches the program's argument x (a W computed from x is not the parameter);
- holds no non-splat constant of at least H*H elements (for H >= 2): a W embedded in the program as
  a constant, even one added to something random times zero, is not made by the init.
Anything else (a constant W, one computed with NumPy at import time and closed over) is reason
`w_not_from_init`. Forging it takes building W from random bits in the program itself, which is
computing the init: the other two witnesses (the source, the observation) still stand beside it.
"""
from __future__ import annotations

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hlo_graph  # noqa: E402  (this folder, put on the path just above)

BIT_OPS = ("stablehlo.xor", "stablehlo.shift_left", "stablehlo.shift_right_logical",
           "stablehlo.shift_right_arithmetic")
GENERATORS = ("stablehlo.rng_bit_generator",)
MAX_CONE = 100_000         # values of W's expression looked at, at most


def _integer(type_text: str) -> bool:
    return re.search(r"(?:<|x)u?i(8|16|32|64)>$", type_text) is not None


def _embedded(r: hlo_graph.Reader, ref: tuple, H: int) -> bool:
    """A constant that could hold W itself: not a splat, with at least H*H elements (H >= 2)."""
    if H < 2:
        return False
    try:
        if r.g.ir.DenseElementsAttr(ref[1].attributes["value"]).is_splat:
            return False
    except (TypeError, ValueError):   # a dense_resource blob, or any other form: not a splat
        pass
    dims = r.dims(ref)
    size = 1
    for d in dims or ():
        size *= d
    return dims is None or size >= H * H


def origin(r: hlo_graph.Reader, W: tuple, H: int) -> str | None:
    """None when W is made from the program's random bits (see the module docstring), else the
    reason code `w_not_from_init`."""
    seen, todo, bits = set(), [W], set()
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        if len(seen) > MAX_CONE:
            raise hlo_graph.TooLarge()
        kind = ref[0]
        if kind == "arg":
            return "w_not_from_init"
        if kind in ("result", "var"):       # a loop: everything it carries may feed this value
            init, body, cond, _lvars = r.g.loop_parts(ref[1])
            todo += [*init, *body, cond]
            continue
        if kind != "op":
            return "w_not_from_init"
        name = r.name(ref)
        if name == "stablehlo.constant" and _embedded(r, ref, H):
            return "w_not_from_init"
        if name in GENERATORS or (name in BIT_OPS and _integer(r.type(ref))):
            bits.add("generator" if name in GENERATORS else "shift" if "shift" in name else "xor")
        todo += r.operands(ref)
    return None if "generator" in bits or {"shift", "xor"} <= bits else "w_not_from_init"
