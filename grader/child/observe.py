"""What only the runner's process can see, observed by data flow while each case is traced: the
Module class and its fields, the variables its init creates, which Module method the loop that
produced the output ran under, and which loop primitive it is (a raw lax.scan of T steps, Flax's
nn.scan lift, a while loop, or none: an unrolled Python loop). This is evidence, not proof: code in
this process can rewrite it, so the grader never lets it lift a verdict to AC without the executor's
verified structure.

Every method call on an instance of the class runs inside a name scope `marker + method name`, where
the marker is drawn by the runner for this grading (os.urandom, before the submission is imported),
so a scope the submission opens itself cannot pass for it without first finding the marker in this
process. What counts is the scope of the loop equation itself, or of a call equation that encloses it
(a jit inside the method starts its own name stack), never of an equation downstream of the loop (a
copy, a convert the method applies to a carry computed elsewhere).

The Flax lift is told from the loop equation's Python traceback: Flax's nn.scan calls lax.scan from
flax/core/axes_scan.py, and a wrapper of jax.lax.scan adds frames to that stack, it cannot remove that
one. (The body's `func_src_info` still counts when it names that file, but a wrapper can replace it.)
A traceback without a frame of JAX's own scan code was substituted (source_info_util.user_context):
such a loop is "unknown", never a raw scan.

Everything it uses from JAX and Flax is captured when the Observer is built, before the submission
is imported.
"""
import dataclasses
import os
import re

CALLS = ("pjit", "jit", "closed_call", "core_call", "remat", "checkpoint", "custom_jvp_call",
         "custom_vjp_call", "custom_vjp_call_jaxpr", "custom_lin")
PASS_THROUGH = ("convert_element_type", "copy", "copy_p", "reshape", "optimization_barrier",
                "sharding_constraint", "device_put")   # where a value lives, not what it is
MAX_FRAMES = 400          # frames of a loop's traceback looked at (a deep recursion is not walked whole)


class Observer:
    def __init__(self, cls_name: str, marker: str | None = None):
        """`marker`: the scope marker drawn for this grading (drawn here when not given)."""
        import flax.core.axes_scan as axes_scan
        import flax.linen as nn
        import jax
        from jax._src.lax.control_flow import loops
        self.cls_name, self.marker = cls_name, marker or "m" + os.urandom(16).hex()
        self.lift_file = axes_scan.__file__.replace("\\", "/")
        self.scan_file = loops.__file__.replace("\\", "/")
        self.module_base, self.intercept, self.named_scope = nn.Module, nn.intercept_methods, jax.named_scope
        self.flatten = jax.tree_util.tree_flatten_with_path
        self.fields, self.is_dataclass = dataclasses.fields, dataclasses.is_dataclass
        self.isinstance, self.issubclass, self.getattr, self.type = isinstance, issubclass, getattr, type
        self.scope_re = re.compile(re.escape(self.marker) + r"([A-Za-z0-9_]{1,100})")
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
        variables its init made) and runs inside the name scope marker + method name, so the traced
        equations it creates can be told from the rest, and by method."""
        self.calls, self.bound = [], None
        cls = self.cls

        def record(next_fun, args, kwargs, context):
            mod = context.module
            if cls is None or not self.isinstance(mod, cls):
                return next_fun(*args, **kwargs)
            method = str(context.method_name)[:100]
            with self.named_scope(self.marker + (re.sub(r"[^A-Za-z0-9_]", "_", method) or "_")):
                out = next_fun(*args, **kwargs)
            call = {"method": method, "init": bool(mod.is_initializing())}
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

    def saw_init(self) -> bool:
        return any(c["init"] for c in self.calls)

    def _leaves(self, variables) -> dict:
        out = {}
        for path, leaf in self.flatten(variables)[0][:50]:
            key = "/".join(str(self.getattr(k, "key", k)) for k in path)[:200]
            out[key] = [list(self.getattr(leaf, "shape", ())), str(self.getattr(leaf, "dtype", "?"))]
        return out

    def report(self, closed_jaxpr, T: int) -> dict:
        """The case's evidence: the loop that produced the output, and the module calls seen."""
        params = next((c["params"] for c in self.calls if c["init"] and "params" in c), None)
        loop = self.loop_of(closed_jaxpr) if closed_jaxpr is not None else {"loop": "unknown"}
        loop.setdefault("scan_method", None)
        loop["in_module"] = loop["scan_method"] is not None
        loop.setdefault("unroll", 1)
        return {**loop, "T": T, "methods": sorted({c["method"] for c in self.calls})[:10], "params": params}

    def method_of(self, stacks: list) -> str | None:
        """The innermost method scope on the loop's composed name stack (enclosing calls first)."""
        found = self.scope_re.findall("/".join(str(s) for s in stacks))
        return found[-1] if found else None

    def scan_kind(self, eqn) -> str:
        """"flax_scan" when the scan equation was made by Flax's lift (see the module docstring),
        "scan" for a raw lax.scan, "unknown" when its traceback is not one JAX's scan recorded (it
        holds no frame of jax's own scan code: one the submission substituted)."""
        tb = self.getattr(eqn.source_info, "traceback", None)
        try:
            files = [str(c.co_filename).replace("\\", "/") for c in tb.raw_frames()[0][:MAX_FRAMES]]
        except Exception:  # noqa: BLE001 - no traceback at all
            files = []
        body = eqn.params["jaxpr"]
        src = self.getattr(self.getattr(body.jaxpr, "debug_info", None), "func_src_info", "") or ""
        if self.lift_file in files or "flax/core/axes_scan.py" in str(src).replace("\\", "/"):
            return "flax_scan"
        return "scan" if self.scan_file in files else "unknown"

    def loop_of(self, closed_jaxpr) -> dict:
        """Follow the output back through calls and value-preserving ops to the equation that made
        it; the method is read from that equation's name stack and those of the calls around it."""
        jaxpr = getattr(closed_jaxpr, "jaxpr", closed_jaxpr)
        if len(jaxpr.outvars) != 1:
            return {"loop": "not_one_output"}
        var, enclosing = jaxpr.outvars[0], []
        for _ in range(64):
            made = {id(v): (e, i) for e in jaxpr.eqns for i, v in enumerate(e.outvars)}
            if id(var) not in made:
                return {"loop": "input"}
            eqn, k = made[id(var)]
            name = eqn.primitive.name
            sub = next((eqn.params[p] for p in ("jaxpr", "call_jaxpr", "fun_jaxpr") if p in eqn.params), None)
            if name in CALLS and sub is not None:
                enclosing.append(getattr(eqn.source_info, "name_stack", ""))
                jaxpr = getattr(sub, "jaxpr", sub)
                var = jaxpr.outvars[k]
                continue
            if name in PASS_THROUGH:      # device_put moves several values at once: the k-th is the k-th
                var = eqn.invars[k] if len(eqn.invars) == len(eqn.outvars) else eqn.invars[0]
                continue
            method = self.method_of(enclosing + [getattr(eqn.source_info, "name_stack", "")])
            if name == "scan":
                unroll = eqn.params.get("unroll", 1)
                length = int(eqn.params["length"])
                unroll = max(length, 1) if unroll is True else max(1, int(unroll or 1))
                return {"loop": self.scan_kind(eqn), "length": length,
                        "carry": k < eqn.params["num_carry"], "scan_method": method, "unroll": min(unroll, 10 ** 9)}
            return {"loop": "while" if name == "while" else "none", "primitive": name[:40], "scan_method": method}
        return {"loop": "unknown"}
