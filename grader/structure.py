"""Structure checks, run in the sandboxed child after the cases: was it solved the intended way?

It reads the traced computation, not the source text, so renaming things cannot fool it. Everything
it uses from JAX and Flax is captured when the Checks object is built, before the submission is
imported (a submission that rewrites JAX itself can still forge these reports; the numbers it
returns are checked by the grader regardless).
"""
import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

FLAX_LIFT_MARK = "flax/core/axes_scan.py"
TRUNCATED = " … [truncated]"   # the same marker as grader.compare.clip (this file runs alone in the child)


class Checks:
    def __init__(self, job):
        self.specs = job["checks"]
        self.cls_name = job["module_class"]
        self.fn_name = job["function"]
        self.make_jaxpr, self.eval_shape = jax.make_jaxpr, jax.eval_shape
        self.key, self.flatten = jax.random.PRNGKey, jax.tree_util.tree_flatten_with_path
        self.module_base, self.intercept = nn.Module, nn.intercept_methods
        self.float32, self.normal = jnp.dtype("float32"), np.random.default_rng
        self.fields, self.is_dataclass = dataclasses.fields, dataclasses.is_dataclass
        self.isinstance, self.issubclass, self.getattr = isinstance, issubclass, getattr
        self.tracer, self.asarray, self.allclose = jax.core.Tracer, np.asarray, np.allclose

    def run(self, module):
        """Frames for the runner to send: a start frame and a result frame per check."""
        for spec in self.specs:
            yield {"type": "start", "id": "check:" + spec["id"]}
            raised = {}
            try:
                passed, message = self.getattr(self, "check_" + spec["id"])(module, spec)
            except BaseException as e:  # noqa: BLE001 - a check that crashes is a failed check
                text = " ".join(str(e).split())
                text = text if len(text) <= 300 else text[:300 - len(TRUNCATED)] + TRUNCATED
                passed, message = False, f"{type(e).__name__} while checking: {text}"
                raised = {"etype": type(e).__name__}   # the grader gives no hint for it (a case did)
            yield {"type": "check", "id": spec["id"], "passed": bool(passed), "message": message, **raised}

    # -- helpers ------------------------------------------------------------------------------
    def _cls(self, module):
        cls = self.getattr(module, self.cls_name, None)
        if cls is None or not self.isinstance(cls, type) or not self.issubclass(cls, self.module_base):
            return None
        return cls

    def _inputs(self, spec):
        H = spec["hidden"]
        return H, spec["T"], jnp.asarray(self.normal(spec["seed"]).standard_normal(H).astype("float32"))

    def _same(self, a, b):
        try:
            a, b = self.asarray(a, "float64"), self.asarray(b, "float64")
            return a.shape == b.shape and bool(self.allclose(a, b, rtol=1e-5, atol=1e-6))
        except Exception:  # noqa: BLE001 - whatever the submission returned
            return False

    # -- the checks -------------------------------------------------------------------------
    def check_module_class(self, module, spec):
        cls = self.getattr(module, self.cls_name, None)
        if cls is None:
            return False, f"{self.cls_name} is not defined at the top level of your file"
        if not self.isinstance(cls, type) or not self.issubclass(cls, self.module_base):
            return False, f"{self.cls_name} must be a class deriving from flax.linen.Module"
        fields = {f.name: f.type for f in self.fields(cls)} if self.is_dataclass(cls) else {}
        for name in ("hidden", "T"):
            if name not in fields:
                return False, f"{self.cls_name} needs a field `{name}: int`"
            if fields[name] not in (int, "int"):
                return False, f"{self.cls_name}.{name} must be declared as `{name}: int`, not {fields[name]!r}"
        return True, f"{self.cls_name} is a flax.linen.Module with fields hidden: int and T: int"

    def check_params_tree(self, module, spec):
        cls = self._cls(module)
        if cls is None:
            return False, f"no {self.cls_name} Module to initialise"
        H, T, x = self._inputs(spec)
        shapes = self.eval_shape(cls(hidden=H, T=T).init, self.key(spec["seed"]), x)
        leaves = {"/".join(str(getattr(k, "key", k)) for k in path): (tuple(leaf.shape), str(leaf.dtype))
                  for path, leaf in self.flatten(shapes)[0]}
        want = {"params/W": ((H, H), "float32")}
        if leaves == want:
            return True, f"init gives exactly params/W of shape ({H}, {H}) float32"
        got = ", ".join(f"{k} {v[0]} {v[1]}" for k, v in sorted(leaves.items())) or "no variables"
        return False, (f"init (hidden={H}) gives {got}; expected exactly params/W ({H}, {H}) float32 "
                       "(one self.param named \"W\", created in __call__ outside the scan body)")

    def check_uses_lax_scan(self, module, spec):
        cls = self._cls(module)
        if cls is None:
            return False, f"no {self.cls_name} Module to inspect"
        H, T, x = self._inputs(spec)
        model = cls(hidden=H, T=T)
        variables = model.init(self.key(spec["seed"]), x)
        closed = self.make_jaxpr(lambda v, x: model.apply(v, x))(variables, x)
        found = []
        _walk(closed.jaxpr, found)
        scans = [(length, lift) for prim, length, lift in found if prim == "scan"]
        if any(length == T and not lift for length, lift in scans):
            applied = []   # what __call__ returned under apply (init runs __call__ too: not counted)

            def spy(next_fun, args, kwargs, context):
                out = next_fun(*args, **kwargs)
                if self.isinstance(context.module, cls) and context.method_name == "__call__" \
                        and not context.module.is_initializing():
                    applied.append(out)
                return out

            with self.intercept(spy):
                result = self.getattr(module, self.fn_name)(spec["seed"], x, H, T)
            if not applied:
                return False, (f"{self.fn_name} never applies {self.cls_name}: build the Module, init it "
                               "and return model.apply(variables, x) instead of computing the result elsewhere")
            if not any(self.isinstance(out, self.tracer) or self._same(out, result) for out in applied):
                return False, (f"{self.fn_name} applies {self.cls_name} but returns something else: return "
                               "what model.apply(variables, x) gives")
            return True, f"__call__ runs one jax.lax.scan of length T={T}, and {self.fn_name} uses the Module"
        if any(not lift for _length, lift in scans):
            got = sorted({length for length, lift in scans if not lift})
            return False, f"the scan runs {got} steps for T={T}: drive it with jnp.arange(self.T) (or length=self.T)"
        if scans:
            return False, ("you used Flax's nn.scan lift; this exercise requires a raw jax.lax.scan whose body "
                           "closes over the W created with self.param")
        if any(prim == "while" for prim, _l, _f in found):
            return False, ("you used a while loop (lax.while_loop, or fori_loop with traced bounds); this "
                           "exercise requires jax.lax.scan")
        return False, ("no jax.lax.scan in the traced computation (a Python loop unrolls into "
                       f"{sum(p == 'tanh' for p, _l, _f in found)} tanh operations): this exercise requires "
                       "jax.lax.scan inside __call__")


def _walk(jaxpr, found):
    """Record (primitive, scan length, is Flax's lift) for every equation, into sub-computations."""
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "scan":
            sub = eqn.params["jaxpr"]
            src = getattr(getattr(sub.jaxpr, "debug_info", None), "func_src_info", "") or ""
            found.append((name, eqn.params["length"], FLAX_LIFT_MARK in src.replace("\\", "/")))
        else:
            found.append((name, None, False))
        for param in eqn.params.values():
            for item in param if isinstance(param, (tuple, list)) else (param,):
                inner = getattr(item, "jaxpr", item)
                if hasattr(inner, "eqns"):
                    _walk(inner, found)
