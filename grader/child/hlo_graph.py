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
        """(init refs, body return refs, cond ref, loop var refs) of a loop."""
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
        return init, outs[1], outs[0][0], lvars


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

    def constant(self, ref: tuple) -> int | None:
        return _scalar(self.attr(ref, "value")) if self.name(ref) == "stablehlo.constant" else None

    def strip(self, ref: tuple) -> tuple:
        """Through value-preserving wrappers: a float convert, a copy, a same-type reshape."""
        while self.name(ref) in ("stablehlo.convert", "stablehlo.reshape", "stablehlo.copy"):
            (inner,) = self.operands(ref)
            same = self.type(inner) == self.type(ref)
            widen = self.name(ref) == "stablehlo.convert" and _float(self.type(inner)) and _float(self.type(ref)) \
                and _shape(self.type(inner)) == _shape(self.type(ref))
            if not (same or widen):
                break
            ref = inner
        return ref

    def matrix(self, ref: tuple) -> tuple[tuple, bool]:
        """(W's reference, whether it was transposed)."""
        if self.name(ref) == "stablehlo.transpose":
            perm = self.attr(ref, "permutation")
            if re.findall(r"-?\d+", perm.split(":", 1)[-1]) == ["1", "0"]:
                return self.strip(self.operands(ref)[0]), True
        return ref, False

    def step(self, ref: tuple) -> tuple[tuple, tuple] | None:
        """(carry, W) when ref is tanh(carry @ W) in the recurrence's orientation."""
        ref = self.strip(ref)
        if self.name(ref) != "stablehlo.tanh":
            return None
        return self.matmul(self.operands(ref)[0])

    def matmul(self, ref: tuple) -> tuple[tuple, tuple] | None:
        ref = self.strip(ref)
        if self.name(ref) != "stablehlo.dot_general" or len(ref[1].operands) != 2:
            return None
        dims = self.attr(ref, "dot_dimension_numbers")
        if "batching" in dims:
            return None
        lhs_c = _ints(dims.split("lhs_contracting_dimensions")[1]) if "lhs_contracting_dimensions" in dims else []
        rhs_c = _ints(dims.split("rhs_contracting_dimensions")[1]) if "rhs_contracting_dimensions" in dims else []
        a, b = self.operands(ref)
        ra, rb = len(_shape(self.type(a))), len(_shape(self.type(b)))
        if ra == 1 and rb == 2 and lhs_c == [0] and rhs_c in ([0], [1]):
            vec, mat, flipped = a, b, rhs_c == [1]
        elif ra == 2 and rb == 1 and rhs_c == [0] and lhs_c in ([0], [1]):
            vec, mat, flipped = b, a, lhs_c == [1]
        else:
            return None
        base, transposed = self.matrix(self.strip(mat))
        if flipped != transposed:        # c @ W.T: the transposed-W mistake
            return None
        return self.strip(vec), base


def _shape(type_text: str) -> tuple:
    m = re.match(r"tensor<([^>]*)>", type_text)
    return tuple(m.group(1).split("x")[:-1]) if m else ("?",)


def _float(type_text: str) -> bool:
    return bool(re.search(r"x?(f16|bf16|f32|f64)>$", type_text))
