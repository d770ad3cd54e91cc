"""The source witness (grader/judge/source.py): the submission's text read with `ast`, never run.

Every import alias of jax.lax.scan is found in the method that makes the call, also through a helper
of the same file; decoys (a scan nobody in the class uses, in another class, in a string) are not;
what ast cannot follow is named; no input makes it raise.
"""
from __future__ import annotations

import textwrap
import time

import pytest

from grader.judge.source import MAX_DEPTH, analyse

CLS = "LaxScanModule"
BODY = "W = self.param('W', nn.initializers.lecun_normal(), (self.hidden, self.hidden))\n"


def src(imports: str, call_body: str, extra: str = "", methods: str = "") -> str:
    body = textwrap.indent(textwrap.dedent(call_body).strip("\n"), " " * 8)
    more = textwrap.indent(textwrap.dedent(methods).strip("\n"), " " * 4) if methods else ""
    return (f"import flax.linen as nn\n{textwrap.dedent(imports)}\n{textwrap.dedent(extra)}\n"
            f"class {CLS}(nn.Module):\n    hidden: int\n    T: int\n\n    @nn.compact\n"
            f"    def __call__(self, x):\n{body}\n{more}\n\n"
            "def lax_scan_in_module(seed, x, hidden, T):\n    m = LaxScanModule(hidden, T)\n"
            "    return m.apply(m.init(jax.random.PRNGKey(seed), x), x)\n")


def facts_of(code: str):
    f = analyse(code.encode(), CLS)
    assert f.status == "ok", f
    return f


def call(code: str):
    return facts_of(code).method("__call__")


STEP = "(lambda c, _: (jnp.tanh(c @ W), None), jnp.tanh(x @ W), None, length=self.T)[0]"
ALIASES = {
    "import_jax": ("import jax", "jax.lax.scan"),
    "import_jax_as": ("import jax as J", "J.lax.scan"),
    "from_jax_import_lax": ("import jax\nfrom jax import lax", "lax.scan"),
    "from_jax_import_lax_as": ("import jax\nfrom jax import lax as L", "L.scan"),
    "import_jax_lax_as": ("import jax\nimport jax.lax as L", "L.scan"),
    "import_jax_lax": ("import jax.lax", "jax.lax.scan"),
    "from_jax_lax_import_scan": ("import jax\nfrom jax.lax import scan", "scan"),
    "from_jax_lax_import_scan_as": ("import jax\nfrom jax.lax import scan as s", "s"),
    "star_import": ("import jax\nfrom jax.lax import *", "scan"),
    "module_alias_scan": ("import jax\nscan = jax.lax.scan", "scan"),
    "module_alias_lax": ("import jax\nlax = jax.lax", "lax.scan"),
    "alias_of_alias": ("import jax as J\nL = J.lax\nS = L.scan", "S"),
    "getattr_literal": ("import jax", "getattr(jax.lax, 'scan')"),
}


@pytest.mark.parametrize("name", list(ALIASES))
def test_every_import_alias_is_found(name):
    imports, fn = ALIASES[name]
    m = call(src(imports + "\nimport jax.numpy as jnp", BODY + f"return {fn}{STEP}"))
    assert m.scan and not m.fori_loop and not m.unrolled and not m.python_loop and m.via == ()


def test_an_import_inside_the_method_is_found():
    code = src("import jax\nimport jax.numpy as jnp", BODY + "from jax import lax as LL\n"
               f"return LL.scan{STEP}")
    assert call(code).scan


def test_the_star_import_of_another_module_binds_nothing():
    assert not call(src("import jax\nfrom os import *", BODY + f"return scan{STEP}")).scan


HELPERS = {
    "module_helper": ("def run(W, c, T):\n    return jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), c, None, length=T)[0]\n",
                      "return run(W, jnp.tanh(x @ W), self.T)", ("run",)),
    "jitted_helper": ("@jax.jit\ndef run(W, c):\n    return jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), c, None, length=3)[0]\n",
                      "return run(W, jnp.tanh(x @ W))", ("run",)),
    "helper_passed_to_jit": ("def run(W, c):\n    return jax.lax.scan(lambda c, _: (c, None), c, None, length=3)[0]\n",
                             "return jax.jit(run)(W, x)", ("run",)),
    "helper_alias": ("def run(W, c):\n    return jax.lax.scan(lambda c, _: (c, None), c, None, length=3)[0]\ngo = run\n",
                     "return go(W, x)", ("run",)),
    "lambda_helper": ("run = lambda W, c: jax.lax.scan(lambda c, _: (c, None), c, None, length=3)[0]\n",
                      "return run(W, x)", ("<lambda>",)),
    "two_levels": ("def inner(W, c):\n    return jax.lax.scan(lambda c, _: (c, None), c, None, length=3)[0]\n"
                   "def outer(W, c):\n    return inner(W, c)\n", "return outer(W, x)", ("inner",)),
    "nested_def": ("", "def run(c):\n    return jax.lax.scan(lambda c, _: (c, None), c, None, length=self.T)[0]\n"
                   "return run(x)", ("run",)),
    "partial_of_scan": ("import functools\n", "return functools.partial(jax.lax.scan, unroll=2)" + STEP, ()),
}


@pytest.mark.parametrize("name", list(HELPERS))
def test_a_helper_of_the_same_file_counts(name):
    extra, body, via = HELPERS[name]
    m = call(src("import jax\nimport jax.numpy as jnp", BODY + body, extra=extra))
    assert m.scan and m.via == via


def test_another_method_called_through_self_counts():
    code = src("import jax\nimport jax.numpy as jnp", BODY + "return self.run(W, x)",
               methods=f"def run(self, W, x):\n    return jax.lax.scan{STEP}")
    f = facts_of(code)
    assert f.method("__call__").scan and f.method("run").scan and f.raw_methods == {"__call__", "run"}


def test_an_inherited_method_of_a_class_of_the_same_file_counts():
    code = ("import jax\nimport jax.numpy as jnp\nimport flax.linen as nn\n"
            "class Base(nn.Module):\n    def __call__(self, x):\n"
            f"        return jax.lax.scan{STEP.replace('self.T', '3')}\n"
            f"class {CLS}(Base):\n    hidden: int\n    T: int\n")
    assert facts_of(code).raw_methods == {"__call__"}


def test_helpers_are_followed_up_to_the_depth_bound():
    def chain(n):
        defs = "def f0(c):\n    return jax.lax.scan(lambda c, _: (c, None), c, None, length=3)[0]\n"
        defs += "".join(f"def f{i}(c):\n    return f{i - 1}(c)\n" for i in range(1, n))
        return src("import jax", BODY + f"return f{n - 1}(x)", extra=defs)
    assert call(chain(MAX_DEPTH)).scan
    assert not call(chain(MAX_DEPTH + 1)).scan


def test_fori_loop_and_the_other_drivers_are_told_apart():
    body = BODY + "return jax.lax.fori_loop(0, self.T, lambda i, c: jnp.tanh(c @ W), jnp.tanh(x @ W))"
    m = call(src("import jax\nimport jax.numpy as jnp", body))
    assert m.fori_loop and not m.scan
    m = call(src("import jax", BODY + "return nn.scan(Cell, variable_broadcast='params', length=self.T)(x)"))
    assert m.flax_scan and not m.scan
    m = call(src("import flax\nimport jax", BODY + "return flax.linen.scan(Cell, length=self.T)(x)"))
    assert m.flax_scan
    m = call(src("from jax import lax", BODY + "return lax.while_loop(lambda s: s[0] < 3, lambda s: s, (0, x))[1]"))
    assert m.while_loop and not m.scan


@pytest.mark.parametrize("body,python_loop", [
    ("c = x\nfor _ in range(self.T):\n    c = jnp.tanh(c @ W)\nreturn c", True),
    ("c = x\nwhile c.sum() > 3:\n    c = c - 1\nreturn c", True),
    ("return sum(jnp.tanh(x @ W) for _ in range(self.T))", True),
    ("import functools\nreturn functools.reduce(lambda c, _: jnp.tanh(c @ W), range(self.T), x)", True),
    (f"return jax.lax.scan{STEP}", False),
])
def test_python_loops_are_seen(body, python_loop):
    assert call(src("import jax\nimport jax.numpy as jnp", BODY + body)).python_loop is python_loop


def test_recursion_through_a_helper_is_a_python_loop():
    extra = "def step(c, W, n):\n    return c if n == 0 else step(jnp.tanh(c @ W), W, n - 1)\n"
    m = call(src("import jax\nimport jax.numpy as jnp", BODY + "return step(x, W, self.T)", extra=extra))
    assert m.python_loop and not m.scan


@pytest.mark.parametrize("kw,unrolled", [("", False), (", unroll=1", False), (", unroll=False", False),
                                         (", unroll=True", True), (", unroll=16", True), (", unroll=self.T", True),
                                         (", **opts", True)])
def test_unroll_is_read_from_the_call(kw, unrolled):
    body = BODY + "opts = {}\n" + f"return jax.lax.scan(lambda c, _: (c, None), x, None, length=self.T{kw})[0]"
    assert call(src("import jax", body)).unrolled is unrolled


def test_positional_unroll_is_read():
    body = BODY + "return jax.lax.scan(lambda c, _: (c, None), x, None, self.T, False, 8)[0]"
    assert call(src("import jax", body)).unrolled


DECOYS = {
    "only_in_the_function": ("", "return x", "", "jax.lax.scan(lambda c, _: (c, None), x, None, length=T)\n"),
    "unused_helper": ("def run(c):\n    return jax.lax.scan(lambda c, _: (c, None), c, None, length=3)[0]\n",
                      "return x", "", ""),
    "another_class": (f"class Other(nn.Module):\n    def __call__(self, x):\n        return jax.lax.scan{STEP}\n",
                      "return Other()(x)", "", ""),
    "in_a_string": ("", "s = 'jax.lax.scan(body, x, None, length=3)'\nreturn x", "", ""),
    "in_a_comment": ("", "# jax.lax.scan(body, x, None, length=3)\nreturn x", "", ""),
    "shadowed_by_a_parameter": ("from jax import lax\ndef run(lax, c):\n    return lax.scan(lambda c, _: (c, None), c, None, length=3)[0]\n",
                                "return run(None, x)", "", ""),
    "bound_twice": ("lax = jax.lax\nif x := 0:\n    pass\nlax = object()\n", f"return lax.scan{STEP}", "", ""),
    "local_rebinding": ("", f"jax = None\nreturn jax.lax.scan{STEP}", "", ""),
}


@pytest.mark.parametrize("name", list(DECOYS))
def test_decoys_are_not_counted(name):
    extra, body, methods, in_fn = DECOYS[name]
    code = src("import jax\nimport jax.numpy as jnp", BODY + body, extra=extra, methods=methods)
    if in_fn:
        code = code.replace("    return m.apply(", "    " + in_fn + "    return m.apply(")
    f = facts_of(code)
    assert f.raw_methods == frozenset(), f
    if name == "only_in_the_function":
        assert f.elsewhere == ("lax_scan_in_module",)


def test_a_class_defined_twice_must_agree():
    one = src("import jax\nimport jax.numpy as jnp", BODY + f"return jax.lax.scan{STEP}")
    other = one.replace(f"return jax.lax.scan{STEP}", "return x")
    twice = one + other[other.index(f"class {CLS}"):other.index("def lax_scan_in_module")]
    assert facts_of(one).raw_methods == {"__call__"}
    assert facts_of(twice).raw_methods == frozenset() and facts_of(twice).class_found


@pytest.mark.parametrize("code", [
    "import flax.linen as nn\n",
    "import flax.linen as nn\nLaxScanModule = type('LaxScanModule', (nn.Module,), {})\n",
    src("import jax", BODY + "return x") + "\nLaxScanModule = object\n",
    "import flax.linen as nn\ndef make():\n    class LaxScanModule(nn.Module):\n        pass\n    return LaxScanModule\n",
])
def test_the_class_must_be_a_top_level_class_statement(code):
    assert not facts_of(code).class_found


@pytest.mark.parametrize("line,construct", [
    ("scan = getattr(lax, 'sc' + 'an')", "getattr"),
    ("exec('scan = lax.scan')", "exec"),
    ("scan = eval('lax.scan')", "eval"),
    ("scan = __import__('jax').lax.scan", "__import__"),
    ("import importlib\nscan = importlib.import_module('jax.lax').scan", "importlib"),
    ("scan = globals()['la' + 'x'].scan", "globals"),
    ("scan = vars(lax)['scan']", "vars"),
    ("scan = lax.__dict__['scan']", "__dict__"),
])
def test_what_ast_cannot_follow_is_named(line, construct):
    f = facts_of(src("import jax\nfrom jax import lax", BODY + f"return scan{STEP}", extra=line))
    assert f.raw_methods == frozenset() and construct in f.dynamic


@pytest.mark.parametrize("line,name", [
    ("real = jax.lax.scan\njax.lax.scan = lambda f, *a, **k: real(lambda *x: f(*x), *a, **k)", "jax.lax.scan"),
    ("from jax import lax\nlax.scan = print", "jax.lax.scan"),
    ("setattr(jax.lax, 'scan', print)", "jax.lax.scan"),
])
def test_assignments_to_jax_names_are_reported(line, name):
    f = facts_of(src("import jax", BODY + f"return jax.lax.scan{STEP}", extra=line))
    assert name in f.patched


def test_settings_are_no_patch():
    f = facts_of(src("import jax", BODY + f"return jax.lax.scan{STEP}", extra="jax.config.jax_enable_x64 = False"))
    assert f.patched == () and f.raw_methods == {"__call__"}


@pytest.mark.parametrize("code,status", [
    (b"x = " + b"-" * 5000 + b"1", "unreadable"),          # RecursionError in ast construction
    (b"x = " + b"-" * 100000 + b"1", "unreadable"),        # MemoryError in the parser
    (b"x = 1" + b" + 1" * 5000, "unreadable"),
    (b"def f(:\n", "syntax_error"),
    (b"x = 1\0\n", "unreadable"),
    (b"x = '\xff'\n", "syntax_error"),
    (b"", "ok"),
    (None, "ok"),
])
def test_no_input_makes_it_raise(code, status):
    f = analyse(code, CLS)
    assert f.status == status and f.raw_methods == frozenset()


def test_a_deep_expression_that_parses_is_read_quickly():
    deep = "y = " + "a." * 2500 + "b\nz = " + " + ".join(["getattr(jax.lax, 'scan')"] * 2000) + "\n"
    code = src("import jax\nimport jax.numpy as jnp", BODY + f"return jax.lax.scan{STEP}", extra=deep)
    t = time.monotonic()
    f = analyse(code.encode(), CLS)
    assert time.monotonic() - t < 5
    assert f.status in ("ok", "unreadable")
    if f.status == "ok":
        assert f.raw_methods == {"__call__"}


def test_the_examples_read_as_their_docstrings_say():
    from grader import BUNDLE_ROOT
    ref = analyse((BUNDLE_ROOT / "reference" / "solution.py").read_bytes(), CLS)
    assert ref.raw_methods == {"__call__"} and ref.dynamic == () and ref.patched == ()
    fori = analyse((BUNDLE_ROOT / "tests/submissions/accepted/pitfall_fori_loop_static.py").read_bytes(), CLS)
    assert fori.method("__call__").fori_loop
    nn_scan = analyse((BUNDLE_ROOT / "tests/submissions/wrong_answer/pitfall_nn_scan.py").read_bytes(), CLS)
    assert nn_scan.raw_methods == frozenset() and nn_scan.method("__call__").flax_scan
