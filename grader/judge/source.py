"""The source witness of `uses_lax_scan`: the submission's text, read with `ast` in the grader
process and never executed (the other two witnesses live in the runner, where submission code ran).

For each method of the Module class: whether it calls `jax.lax.scan` (or `jax.lax.fori_loop`, the
same scan with fixed bounds) through any import or module-level alias (`import jax as J`, `from jax
import lax as L`, `import jax.lax as L`, `from jax.lax import scan as s`, `scan = jax.lax.scan`,
`getattr(lax, "scan")`), itself or through a function of the file it uses (a helper, a nested def,
self.other(), transitively up to MAX_DEPTH); which other drivers are there (nn.scan, while_loop, a
Python loop); what `ast` cannot follow (exec, a computed getattr, ...) and assignments to JAX's own
names. Names resolve as Python scopes them: a parameter or rebinding shadows an import, and a name
bound to two different things resolves to nothing. Typed facts only; checks.py words them.
"""
from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass
from typing import Literal

SCAN, FORI, WHILE = "jax.lax.scan", "jax.lax.fori_loop", "jax.lax.while_loop"
FLAX_SCANS = frozenset({"flax.linen.scan", "flax.linen.transforms.scan", "flax.core.lift.scan", "flax.core.scan"})
STAR_NAMES = {"jax.lax": ("scan", "fori_loop", "while_loop"), "flax.linen": ("scan",)}
DYNAMIC_CALLS = frozenset({"exec", "eval", "compile", "__import__", "globals", "locals", "vars"})
ATTR_CALLS = frozenset({"getattr", "setattr", "delattr"})
DUNDERS = frozenset({"__dict__", "__getattribute__", "__getattr__", "__setattr__"})
MAX_DEPTH = 8          # helper calls followed from a method
FLAGS = ("scan", "fori_loop", "unrolled", "flax_scan", "while_loop", "python_loop")
STATEMENTS = (ast.stmt, ast.excepthandler, ast.match_case)
_MISSING, _CONFLICT = ("missing",), ("conflict",)


@dataclass(frozen=True)
class Method:
    name: str
    scan: bool             # a jax.lax.scan call, in the method or a same-file function it uses
    fori_loop: bool        # a jax.lax.fori_loop call, likewise
    unrolled: bool         # one of those calls may unroll: unroll= other than a literal 1, or **kwargs
    flax_scan: bool        # nn.scan / flax.linen.scan (any alias)
    while_loop: bool       # jax.lax.while_loop
    python_loop: bool      # a for/while statement, a comprehension, functools.reduce or recursion
    via: tuple[str, ...]   # the same-file functions it uses that make a raw call


@dataclass(frozen=True)
class SourceFacts:
    status: Literal["ok", "unreadable", "syntax_error"]
    class_found: bool = False          # a class statement of that name at the top level (and nothing else)
    methods: tuple[Method, ...] = ()
    dynamic: tuple[str, ...] = ()      # constructs ast cannot follow: "exec", "getattr", "importlib", ...
    patched: tuple[str, ...] = ()      # JAX/Flax names the file assigns to (jax.lax.scan = ...)
    elsewhere: tuple[str, ...] = ()    # top-level functions the class does not use that call jax.lax.scan

    def method(self, name: str) -> Method | None:
        return next((m for m in self.methods if m.name == name), None)
    @property
    def raw_methods(self) -> frozenset[str]:     # a raw scan call (scan or fori_loop), direct or via a helper
        return frozenset(m.name for m in self.methods if m.scan or m.fori_loop)


def analyse(code: bytes | str | None, cls: str) -> SourceFacts:
    """Never raises for any input: a file too deep for the parser is "unreadable"."""
    try:
        return _Reader(ast.parse(code or b""), cls).facts()
    except SyntaxError:
        return SourceFacts("syntax_error")
    except (RecursionError, MemoryError, ValueError):   # ValueError: a NUL byte (Python 3.11)
        return SourceFacts("unreadable")


class _Scope:
    """Python's name binding for one module or function body (class bodies are no enclosing scope)."""

    def __init__(self, parent: _Scope | None, node: ast.AST | None = None, self_cls: ast.ClassDef | None = None):
        self.parent, self.names, self.kinds = parent, {}, {}
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *filter(None, (a.vararg, a.kwarg))]
            for i, p in enumerate(params):
                self.names[p.arg] = ("self", self_cls) if i == 0 and self_cls is not None else None

    def bind(self, name: str, value) -> None:
        old = self.names.get(name, _MISSING)
        self.kinds.setdefault(name, set()).add(value[0] if isinstance(value, tuple) else None)
        self.names[name] = value if old is _MISSING or old == value else _CONFLICT

    def lookup(self, name: str):
        s = self
        while s is not None and name not in s.names:
            s = s.parent
        return _MISSING if s is None else (None if s.names[name] is _CONFLICT else s.names[name])


def _own_statements(body: list[ast.stmt]):
    """The statements of a body, compound ones opened, without entering def or class bodies."""
    stack = list(reversed(body))
    while stack:
        st = stack.pop()
        yield st
        if not isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for f in ("body", "orelse", "finalbody", "handlers", "cases"):
                stack.extend(reversed([s for s in getattr(st, f, []) if isinstance(s, STATEMENTS)]))


class _Reader:
    def __init__(self, tree: ast.Module, cls: str):
        self.tree, self.cls = tree, cls
        self.module = _Scope(None)
        self._fill(self.module, tree.body)
        self.memo: dict[tuple[int, int], dict] = {}     # uses() by (function, class)
        self.mro: dict[tuple[int, int], dict] = {}      # _methods() by (class, depth)

    def _fill(self, scope: _Scope, body: list[ast.stmt]) -> None:
        for st in _own_statements(body):
            if isinstance(st, ast.Import):
                for a in st.names:
                    scope.bind(a.asname or a.name.split(".")[0], ("q", a.name if a.asname else a.name.split(".")[0]))
            elif isinstance(st, ast.ImportFrom) and st.module and not st.level:
                for a in st.names:
                    names = STAR_NAMES.get(st.module, ()) if a.name == "*" else (a.name,)
                    for n in names:
                        scope.bind(a.asname or n, ("q", f"{st.module}.{n}"))
            elif isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                scope.bind(st.name, ("c" if isinstance(st, ast.ClassDef) else "f", st))
            elif isinstance(st, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.With)):
                simple = isinstance(st, (ast.Assign, ast.AnnAssign)) and st.value is not None
                targets = st.targets if isinstance(st, ast.Assign) else \
                    [i.optional_vars for i in st.items] if isinstance(st, ast.With) else [st.target]
                for t in targets:
                    stack = [t]
                    while stack:                 # a, (b, *c) = ...: names; x.y = / x[i] = bind nothing
                        n = stack.pop()
                        if isinstance(n, ast.Name):   # only `name = value` binds what value is
                            scope.bind(n.id, self._value(st.value, scope) if simple and n is t else None)
                        elif isinstance(n, (ast.Tuple, ast.List, ast.Starred)):
                            stack.extend([n.value] if isinstance(n, ast.Starred) else n.elts)

    def _value(self, value: ast.expr, scope: _Scope):
        got = ("f", value) if isinstance(value, ast.Lambda) else self.resolve(value, scope)
        return got if isinstance(got, tuple) and got[0] in ("q", "f", "c") else None

    def resolve(self, expr: ast.AST, scope: _Scope):
        """('q', 'jax.lax.scan') for a dotted name, ('f', def) / ('c', class) for the file's own, or None."""
        parts = []
        while True:
            if isinstance(expr, ast.Attribute):
                parts.append(expr.attr)
                expr = expr.value
            elif (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "getattr"
                  and len(expr.args) == 2 and isinstance(expr.args[1], ast.Constant)
                  and isinstance(expr.args[1].value, str) and scope.lookup("getattr") is _MISSING):
                parts.append(expr.args[1].value)
                expr = expr.args[0]
            else:
                break
        b = scope.lookup(expr.id) if isinstance(expr, ast.Name) else None
        if b is _MISSING or b is None:
            return None
        parts.reverse()
        if b[0] == "q":
            return ("q", ".".join([b[1], *parts]))
        if not parts:
            return b
        if b[0] in ("c", "self") and len(parts) == 1 and b[1] is not None:
            found = self._methods(b[1]).get(parts[0])
            return ("f", found) if found is not None else None
        return None

    def _methods(self, cls: ast.ClassDef, depth: int = 0) -> dict[str, ast.AST]:
        """Its methods and those it inherits from classes of the same file (left to right)."""
        if (id(cls), depth) not in self.mro:
            out = {st.name: st for st in _own_statements(cls.body) if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef))}
            for base in cls.bases if depth < MAX_DEPTH else ():
                b = self.resolve(base, self.module)
                if b and b[0] == "c" and b[1] is not cls:
                    out = {**self._methods(b[1], depth + 1), **out}
            self.mro[(id(cls), depth)] = out
        return self.mro[(id(cls), depth)]

    def uses(self, fn: ast.AST, owner: ast.ClassDef | None, scope: _Scope | None = None) -> dict:
        """What one function's body does itself (nested defs and lambdas included); the file's functions it names."""
        key = (id(fn), id(owner))
        if key in self.memo:
            return self.memo[key]
        u = self.memo[key] = {k: False for k in FLAGS} | {"refs": []}
        stack = [(fn, scope or self.module, True)]
        while stack:
            node, sc, top = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                inner = _Scope(sc, node, owner if top else None)    # self: the method's first parameter
                body = [node.body] if isinstance(node, ast.Lambda) else node.body
                if not isinstance(node, ast.Lambda):
                    self._fill(inner, body)
                kids = [*node.args.defaults, *filter(None, node.args.kw_defaults),
                        *getattr(node, "decorator_list", [])]
                stack += [(k, sc, False) for k in kids] + [(b, inner, False) for b in body]
                continue
            if isinstance(node, (ast.For, ast.AsyncFor, ast.While, ast.comprehension)):
                u["python_loop"] = True
            if isinstance(node, ast.Call):
                self._call(node, sc, u)
            if (isinstance(node, ast.Name) or isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)) \
                    and isinstance(node.ctx, ast.Load):                 # helper, self.helper, Cls.helper
                b = self.resolve(node, sc)
                if b and b[0] == "f" and b[1] not in u["refs"]:
                    u["refs"].append(b[1])
            stack += [(c, sc, False) for c in ast.iter_child_nodes(node)]
        return u

    def _call(self, call: ast.Call, sc: _Scope, u: dict) -> None:
        b = self.resolve(call.func, sc)
        q = b[1] if b and b[0] == "q" else None
        args, kws = call.args, call.keywords
        if q == "functools.partial" and args:      # partial(jax.lax.scan, f, ...): scan's own arguments follow it
            inner = self.resolve(args[0], sc)
            q, args = (inner[1] if inner and inner[0] == "q" else None), args[1:]
        if q in (SCAN, FORI):
            u["scan" if q == SCAN else "fori_loop"] = True
            # scan(f, init, xs, length, reverse, unroll); fori_loop's unroll is keyword-only
            vals = [k.value for k in kws if k.arg == "unroll"] + (args[5:6] if q == SCAN else [])
            star = any(k.arg is None for k in kws) or any(isinstance(a, ast.Starred) for a in args)
            if star or any(not (isinstance(v, ast.Constant) and repr(v.value) in ("1", "False", "None")) for v in vals):
                u["unrolled"] = True
        elif q in FLAX_SCANS:
            u["flax_scan"] = True
        elif q == WHILE:
            u["while_loop"] = True
        elif q == "functools.reduce":
            u["python_loop"] = True

    def closure(self, fn: ast.AST, cls: ast.ClassDef) -> tuple[dict, tuple[str, ...], set[int]]:
        """uses() of a method of cls and of all it names, transitively up to MAX_DEPTH (a function that
        reaches itself again is recursion: a loop); the helpers making a raw call; every function reached."""
        own = {id(m) for m in self._methods(cls).values()}
        total = {k: self.uses(fn, cls)[k] for k in FLAGS}
        via: list[str] = []
        seen, frontier = {id(fn)}, deque([(fn, 0, frozenset({id(fn)}))])
        while frontier:                     # breadth first: each function at its shortest distance
            f, depth, path = frontier.popleft()
            for r in self.uses(f, cls if id(f) in own else None)["refs"] if depth < MAX_DEPTH else ():
                if id(r) in path:
                    total["python_loop"] = True
                if id(r) in seen:
                    continue
                seen.add(id(r))
                ru = self.uses(r, cls if id(r) in own else None)
                total = {k: total[k] or ru[k] for k in FLAGS}
                if ru["scan"] or ru["fori_loop"]:
                    via.append(getattr(r, "name", "<lambda>"))
                frontier.append((r, depth + 1, path | {id(r)}))
        return total, tuple(via), seen

    def facts(self) -> SourceFacts:
        classes = [st for st in _own_statements(self.tree.body) if isinstance(st, ast.ClassDef) and st.name == self.cls]
        ok = bool(classes) and self.module.kinds.get(self.cls, set()) <= {"c"}   # bound by class statements only
        methods, used = [], set()
        if ok:
            per_class = [self._methods(c) for c in classes]     # a class defined twice: every one must agree
            for name in sorted(set().union(*per_class)):
                rows = []
                for c, ms in zip(classes, per_class):
                    if name in ms:
                        total, via, seen = self.closure(ms[name], c)
                        rows.append((total, via))
                        used |= seen
                merged = {k: all(r[0][k] for r in rows) and len(rows) == len(classes) if k in ("scan", "fori_loop")
                          else any(r[0][k] for r in rows) for k in FLAGS}
                via = tuple(dict.fromkeys(v for r in rows for v in r[1]))[:10]
                methods.append(Method(name[:100], via=tuple(v[:100] for v in via), **merged))
        elsewhere = tuple(st.name[:100] for st in self.tree.body
                          if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef))
                          and id(st) not in used and self.uses(st, None)["scan"])
        dynamic, patched = self._dynamic()
        return SourceFacts("ok", ok, tuple(methods), dynamic, patched, elsewhere[:10])

    def _dynamic(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """File-wide: what ast cannot follow, and assignments to JAX's or Flax's own names."""
        dyn, patched = set(), set()
        for node in ast.walk(self.tree):
            name = node.func.id if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else None
            if name in DYNAMIC_CALLS:
                dyn.add(name)
            elif name in ATTR_CALLS and len(node.args) >= 2:
                if not (isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
                    dyn.add(name)
                elif name != "getattr":      # setattr(jax.lax, "scan", f) is jax.lax.scan = f
                    self._patch(ast.Attribute(node.args[0], node.args[1].value, ast.Store()), patched)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                dyn.update("importlib" for m in mods if m.split(".")[0] == "importlib")
            elif isinstance(node, ast.Attribute):
                if node.attr in DUNDERS:
                    dyn.add(node.attr)
                elif isinstance(node.ctx, (ast.Store, ast.Del)):
                    self._patch(node, patched)
        return tuple(sorted(dyn)), tuple(sorted(patched))[:10]

    def _patch(self, target: ast.Attribute, patched: set) -> None:
        b = self.resolve(target, self.module)
        if b and b[0] == "q" and b[1].split(".")[0] in ("jax", "flax") and not b[1].startswith("jax.config."):
            patched.add(b[1][:100])
