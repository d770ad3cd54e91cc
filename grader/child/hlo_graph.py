"""The StableHLO module as an expression graph for hlo.py: values resolved lazily and canonically
(calls inlined, a while loop's results and variables as symbols of that loop), and the questions
hlo.py asks of a value: which op made it, its attributes, operands and type, and whether it is one
step tanh(carry @ W) of the recurrence in the right orientation.
"""
import re

MAX_NODES = 200_000          # values resolved at most (a program larger than this is not analysed)


class TooLarge(Exception):
    """The program has more values than MAX_NODES."""


class Graph:
    """The module's values, resolved lazily and canonically: a reference is ("arg", i),
    ("op", op, result number, env), ("result", loop, n) for a while loop's result or ("var", loop, i)
    for a loop variable; calls are inlined (a callee's value is resolved in an environment mapping its
    arguments to the caller's references), so "the same W" is the same reference."""

    def __init__(self, module):
        from jax._src.lib.mlir import ir
        self.ir = ir
        self.funcs = {ir.StringAttr(op.attributes["sym_name"]).value: op.operation
                      for op in module.body.operations if op.operation.name == "func.func"}
        self.envs: list[dict] = []
        self.env_index: dict[tuple, int] = {}
        self.memo: dict = {}
        self.loops: dict = {}
        self.resolved = 0

    def env(self, key: tuple, mapping) -> int:
        got = self.env_index.get(key)
        if got is None:
            got = self.env_index[key] = len(self.envs)
            self.envs.append(dict(mapping))
        return got

    def ref(self, value, env_id: int) -> tuple:
        key = (value, env_id)
        got = self.memo.get(key)
        if got is not None:
            return got
        self.resolved += 1
        if self.resolved > MAX_NODES:
            raise TooLarge()
        ir = self.ir
        value = value if isinstance(value, (ir.BlockArgument, ir.OpResult)) else value.maybe_downcast()
        if isinstance(value, ir.BlockArgument):
            got = self.envs[env_id][value]
        else:
            op, n = value.owner.operation, value.result_number
            if op.name == "func.call":
                callee = self.funcs[ir.FlatSymbolRefAttr(op.attributes["callee"]).value]
                got = self.call(callee, tuple(self.ref(v, env_id) for v in op.operands))[n]
            elif op.name == "stablehlo.while":
                got = ("result", ("loop", op, env_id), n)
            else:
                got = ("op", op, n, env_id)
        self.memo[key] = got
        return got

    def call(self, func, args: tuple) -> tuple:
        block = func.regions[0].blocks[0]
        env_id = self.env(("call", func, args), zip(block.arguments, args))
        ret = [op.operation for op in block.operations][-1]
        return tuple(self.ref(v, env_id) for v in ret.operands)

    def loop_parts(self, loop: tuple):
        """(init refs, body return refs, cond ref, loop var refs) of a loop (worked out once)."""
        got = self.loops.get(loop)
        if got is not None:
            return got
        _tag, op, env_id = loop
        init = tuple(self.ref(v, env_id) for v in op.operands)
        lvars = tuple(("var", loop, i) for i in range(len(init)))
        outs = []
        for r_index in (0, 1):
            block = op.regions[r_index].blocks[0]
            inner = dict(self.envs[env_id])
            inner.update(zip(block.arguments, lvars))
            inner_id = self.env(("region", loop, r_index), inner)
            ret = [o.operation for o in block.operations][-1]
            outs.append(tuple(self.ref(v, inner_id) for v in ret.operands))
        got = self.loops[loop] = (init, outs[1], outs[0][0], lvars)
        return got


def _attr_names(op) -> list[str]:
    return [a.name if hasattr(a, "name") else a for a in op.attributes]


def _ints(text: str) -> list[int]:
    m = re.search(r"\[([\d,\s]*)\]", text)
    return [int(t) for t in m.group(1).split(",") if t.strip()] if m else []


def _scalar(text: str) -> int | None:
    m = re.fullmatch(r"dense<(-?\d+)> : tensor<[su]?i\d+>", text.strip())
    return int(m.group(1)) if m else None


class Reader:
    """Questions about references: what op made it, its attributes, operands and type."""

    def __init__(self, g: Graph):
        self.g = g

    def name(self, ref: tuple) -> str | None:
        return ref[1].name if ref[0] == "op" else None

    def attr(self, ref: tuple, key: str) -> str:
        op = ref[1]
        return str(op.attributes[key]) if key in _attr_names(op) else ""

    def operands(self, ref: tuple) -> tuple:
        _tag, op, _n, env_id = ref
        return tuple(self.g.ref(v, env_id) for v in op.operands)

    def type(self, ref: tuple) -> str:
        kind = ref[0]
        if kind == "op":
            return str(ref[1].results[ref[2]].type)
        if kind == "arg":
            return ref[2]
        if kind == "result":
            return str(ref[1][1].results[ref[2]].type)
        if kind == "var":
            return str(ref[1][1].regions[1].blocks[0].arguments[ref[2]].type)
        return ""

    def dims(self, ref: tuple) -> tuple[int, ...] | None:
        """The value's static shape (None when it is not static)."""
        return _dims(self.type(ref))

    def constant(self, ref: tuple) -> int | None:
        return _scalar(self.attr(ref, "value")) if self.name(ref) == "stablehlo.constant" else None

    def strip(self, ref: tuple, narrowing: bool = False) -> tuple:
        """Through value-preserving wrappers: a copy, a same-type reshape, a float convert of the same
        shape that widens (any float convert with `narrowing`: the result's own dtype is judged by the
        grader), and a reshape, broadcast_in_dim or transpose that only moves unit dimensions."""
        while self.name(ref) in _WRAPPERS and len(ref[1].operands) == 1:
            (inner,) = self.operands(ref)
            name, ti, to = self.name(ref), self.type(inner), self.type(ref)
            if name == "stablehlo.convert":
                bits_in, bits_out = _float_bits(ti), _float_bits(to)
                ok = bits_in and bits_out and _shape(ti) == _shape(to) and (narrowing or bits_out > bits_in)
            elif name == "stablehlo.copy" or (name == "stablehlo.reshape" and ti == to):
                ok = True
            elif name in ("sdy.sharding_constraint", "stablehlo.custom_call"):   # where a value lives, not what it is
                ok = ti == to and (name != "stablehlo.custom_call" or self.attr(ref, "call_target_name") == '"Sharding"')
            else:
                ok = _size(ti) == _size(to) is not None and _long(ti) == _long(to) and len(_long(ti)) <= 1
            if not ok:
                break
            ref = inner
        return ref

    def matrix(self, ref: tuple) -> tuple[tuple, int]:
        """(W's canonical reference, the parity of the transposes on the way): through any chain of
        transposes and value-preserving wrappers, and through a loop variable that every trip passes
        on unchanged (it is its initial value), so the same W inside and outside a loop is one
        reference."""
        parity = 0
        for _ in range(256):
            ref = self.strip(ref)
            if self.name(ref) == "stablehlo.transpose" and len(_shape(self.type(ref))) == 2:
                perm = self.attr(ref, "permutation")
                if re.findall(r"-?\d+", perm.split(":", 1)[-1]) == ["1", "0"]:
                    parity, ref = parity ^ 1, self.operands(ref)[0]
                    continue
            if ref[0] == "var":
                init, body, _cond, _lvars = self.g.loop_parts(ref[1])
                if body[ref[2]] == ref:
                    ref = init[ref[2]]
                    continue
            break
        return ref, parity

    def step(self, ref: tuple, hint: tuple | None = None) -> tuple[tuple, tuple] | None:
        """(carry, W) when ref is tanh(carry @ W) in the recurrence's orientation. `hint`: the carry
        expected, which tells carry from W where both are 1 x 1 (H = 1)."""
        ref = self.strip(ref)
        if self.name(ref) != "stablehlo.tanh":
            return None
        return self.matmul(self.operands(ref)[0], hint)

    def matmul(self, ref: tuple, hint: tuple | None = None) -> tuple[tuple, tuple] | None:
        """(vector, W) when ref is vector @ W: a dot_general of an (H,) vector (or 1 x H, H x 1) and
        an H x H matrix, in either operand order, contracting the vector with W's rows (after the
        matrix's transposes: dot, matmul, einsum and W.T.T all come to this)."""
        ref = self.strip(ref)
        if self.name(ref) != "stablehlo.dot_general" or len(ref[1].operands) != 2:
            return None
        dims = self.attr(ref, "dot_dimension_numbers")
        if "batching" in dims:
            return None
        lhs_c = _ints(dims.split("lhs_contracting_dimensions")[1]) if "lhs_contracting_dimensions" in dims else []
        rhs_c = _ints(dims.split("rhs_contracting_dimensions")[1]) if "rhs_contracting_dimensions" in dims else []
        if len(lhs_c) != 1 or len(rhs_c) != 1:
            return None
        a, b = self.operands(ref)
        found = []
        for vec, mat, vc, mc in ((a, b, lhs_c[0], rhs_c[0]), (b, a, rhs_c[0], lhs_c[0])):
            sv, sm = _dims(self.type(vec)), _dims(self.type(mat))
            if sv is None or sm is None or len(sm) != 2 or sm[0] != sm[1] or len(sv) > 2 \
                    or len([n for n in sv if n != 1]) > 1 or not 0 <= vc < len(sv) or sv[vc] != sm[0]:
                continue
            base, parity = self.matrix(mat)
            if mc ^ parity and sm != (1, 1):  # c @ W.T: the transposed-W mistake (invisible for H = 1)
                continue
            found.append((self.strip(vec), base))
        if len(found) > 1 and hint is not None:          # H = 1: the one whose vector is the carry
            found.sort(key=lambda f: f[0] != hint and self.name(f[0]) != "stablehlo.tanh")
        return found[0] if found else None


_WRAPPERS = ("stablehlo.convert", "stablehlo.reshape", "stablehlo.copy", "stablehlo.broadcast_in_dim",
             "stablehlo.transpose", "sdy.sharding_constraint", "stablehlo.custom_call")


def _shape(type_text: str) -> tuple:
    m = re.match(r"tensor<([^>]*)>", type_text)
    return tuple(m.group(1).split("x")[:-1]) if m else ("?",)


def _dims(type_text: str) -> tuple[int, ...] | None:
    dims = _shape(type_text)
    return tuple(int(d) for d in dims) if all(d.isdigit() for d in dims) else None


def _size(type_text: str) -> int | None:
    dims = _dims(type_text)
    if dims is None:
        return None
    n = 1
    for d in dims:
        n *= d
    return n


def _long(type_text: str) -> tuple:
    """The dimensions that are not 1."""
    return tuple(d for d in _shape(type_text) if d != "1")


def _float_bits(type_text: str) -> int:
    m = re.search(r"(?:x|<)(bf16|f16|f32|f64)>$", type_text)
    return {"bf16": 16, "f16": 16, "f32": 32, "f64": 64}[m.group(1)] if m else 0
