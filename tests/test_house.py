"""The house rules that keep the security boundary a folder (DESIGN, "The house"): only grader/child
imports JAX or Flax, and it imports nothing else of the grader's, so what is copied into a sandbox is
complete and the grader process never pays for (or trusts) JAX."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

from grader import BUNDLE_ROOT

GRADER = BUNDLE_ROOT / "grader"
CHILD = GRADER / "child"
JAX_LIKE = ("jax", "jaxlib", "flax", "ml_dtypes")


def imports(path: Path) -> list[tuple[str, int]]:
    """(module, level) of every import anywhere in the file, function bodies included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, 0) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((node.module or "", node.level))
    return out


def test_only_the_child_package_imports_jax_or_flax():
    offenders = [(str(p.relative_to(BUNDLE_ROOT)), m) for p in sorted(GRADER.rglob("*.py"))
                 if CHILD not in p.parents for m, _lvl in imports(p) if m.split(".")[0] in JAX_LIKE]
    assert offenders == []


def test_the_child_package_imports_nothing_of_the_graders():
    siblings = {p.stem for p in CHILD.glob("*.py")}
    bad = []
    for p in sorted(CHILD.glob("*.py")):
        for module, level in imports(p):
            top = module.split(".")[0]
            if level or top == "grader" or (top not in siblings and top not in sys.stdlib_module_names
                                            and top not in JAX_LIKE + ("numpy",)):
                bad.append((p.name, module, level))
    assert bad == [], "the child package may import the standard library, numpy, JAX/Flax and itself only"


def test_the_grader_process_never_imports_jax(tmp_path):
    """Grading a file end to end imports no JAX in the grader's own process (it runs children)."""
    import subprocess
    code = ("import io, sys, contextlib; from grader.__main__ import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['grade', 'tests/submissions/wrong_answer/basic_relu.py', '--cases', 'public'])\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'flax')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=BUNDLE_ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
