"""What only the runner's process can see, observed by data flow while each case is traced: the
Module class and its fields, the variables its init creates, which Module method produced the
output, and which loop primitive did (a raw lax.scan of T steps, Flax's nn.scan lift, a while loop,
or none: an unrolled Python loop). This is evidence, not proof: code in this process can rewrite it,
so the grader never lets it lift a verdict to AC without the executor's verified structure.

Everything it uses from JAX and Flax is captured when the Observer is built, before the submission
is imported.
"""
import dataclasses

MARK = "lax_grader_module_method"       # a name scope around every method call of the Module class
FLAX_LIFT_MARK = "flax/core/axes_scan.py"
CALLS = ("pjit", "jit", "closed_call", "core_call", "remat", "checkpoint", "custom_jvp_call",
         "custom_vjp_call", "custom_vjp_call_jaxpr", "custom_lin")
PASS_THROUGH = ("convert_element_type", "copy", "copy_p", "reshape", "optimization_barrier")


class Observer:
    def __init__(self, cls_name: str):
        import flax.linen as nn
        import jax
        self.cls_name = cls_name
        self.module_base, self.intercept, self.named_scope = nn.Module, nn.intercept_methods, jax.named_scope
        self.flatten = jax.tree_util.tree_flatten_with_path
        self.fields, self.is_dataclass = dataclasses.fields, dataclasses.is_dataclass
        self.isinstance, self.issubclass, self.getattr, self.type = isinstance, issubclass, getattr, type
        self.cls = None
        self.calls: list[dict] = []          # module method calls seen during one case
        self.bound = None                    # (a fresh copy of the module, method) of the last apply

    def module_class(self, module) -> dict:
        cls = self.getattr(module, self.cls_name, None)
        if cls is None:
            return {"ok": False, "reason": "class_missing"}
        if not self.isinstance(cls, self.type) or not self.issubclass(cls, self.module_base):
            return {"ok": False, "reason": "class_not_module"}
        self.cls = cls
        fields = {f.name: f.type for f in self.fields(cls)} if self.is_dataclass(cls) else {}
        for name in ("hidden", "T"):
            if name not in fields:
                return {"ok": False, "reason": "field_missing", "field": name}
            if fields[name] not in (int, "int"):
                return {"ok": False, "reason": "field_type", "field": name, "got": repr(fields[name])[:80]}
        return {"ok": True, "reason": "ok"}

    def spy(self):
        """intercept_methods: every method call on an instance of the class is recorded (with the
        variables its init made) and runs inside the MARK name scope, so the traced equations it
        creates can be told from the rest."""
        self.calls, self.bound = [], None
        cls = self.cls

        def record(next_fun, args, kwargs, context):
            mod = context.module
            if cls is None or not self.isinstance(mod, cls):
                return next_fun(*args, **kwargs)
            with self.named_scope(MARK):
                out = next_fun(*args, **kwargs)
            call = {"method": str(context.method_name)[:100], "init": bool(mod.is_initializing())}
            if call["method"] != "setup":
                try:
                    call["params"] = self._leaves(mod.variables)
                    if len(args) == 1 and not kwargs and not call["init"]:   # an apply, not an init
                        self.bound = (mod.clone(parent=None), context.method_name)
                except Exception:  # noqa: BLE001 - a module in an odd state: no evidence from it
                    pass
                self.calls.append(call)
            return out
        return self.intercept(record)

    def _leaves(self, variables) -> dict:
        out = {}
        for path, leaf in self.flatten(variables)[0][:50]:
            key = "/".join(str(self.getattr(k, "key", k)) for k in path)[:200]
            out[key] = [list(self.getattr(leaf, "shape", ())), str(self.getattr(leaf, "dtype", "?"))]
        return out

    def report(self, closed_jaxpr, T: int) -> dict:
        """The case's evidence: the loop that produced the output, and the module calls seen."""
        params = next((c["params"] for c in self.calls if c["init"] and "params" in c), None)
        loop = loop_of(closed_jaxpr) if closed_jaxpr is not None else {"loop": "unknown"}
        return {**loop, "T": T, "methods": sorted({c["method"] for c in self.calls})[:10], "params": params}


def loop_of(closed_jaxpr) -> dict:
    """Follow the output back through calls and value-preserving ops to the equation that made it."""
    jaxpr = getattr(closed_jaxpr, "jaxpr", closed_jaxpr)
    if len(jaxpr.outvars) != 1:
        return {"loop": "not_one_output"}
    var, in_module = jaxpr.outvars[0], False
    for _ in range(64):
        made = {id(v): (e, i) for e in jaxpr.eqns for i, v in enumerate(e.outvars)}
        if id(var) not in made:
            return {"loop": "input"}
        eqn, k = made[id(var)]
        name = eqn.primitive.name
        sub = next((eqn.params[p] for p in ("jaxpr", "call_jaxpr", "fun_jaxpr") if p in eqn.params), None)
        # A jit inside the method starts its own name stack: the mark may sit on any call on the way.
        in_module = in_module or MARK in str(getattr(eqn.source_info, "name_stack", ""))
        if name in CALLS and sub is not None:
            jaxpr = getattr(sub, "jaxpr", sub)
            var = jaxpr.outvars[k]
            continue
        if name in PASS_THROUGH:
            var = eqn.invars[0]
            continue
        if name == "scan":
            body = eqn.params["jaxpr"]
            src = getattr(getattr(body.jaxpr, "debug_info", None), "func_src_info", "") or ""
            lift = FLAX_LIFT_MARK in str(src).replace("\\", "/")
            carry = k < eqn.params["num_carry"]
            return {"loop": "flax_scan" if lift else "scan", "length": int(eqn.params["length"]),
                    "carry": carry, "in_module": in_module}
        return {"loop": "while" if name == "while" else "none", "primitive": name[:40], "in_module": in_module}
    return {"loop": "unknown"}
