"""The house rules that keep the security boundary a folder (docs/architecture.md, "The house"): only grader/child
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


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(BUNDLE_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """grader's modules (the child package apart: it is its own world) -> the grader modules each
    imports, anywhere in the file (a function-level import is still an edge)."""
    files = {_module_name(p): p for p in GRADER.rglob("*.py") if CHILD not in p.parents and p.parent != CHILD}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")
                base = base[:len(base) - node.level + 1] if node.level else []
                stem = ".".join(base + ([node.module] if node.module else []))
                targets = [stem] + [f"{stem}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                if t in files and t != mod:
                    graph[mod].add(t)
    return graph


def test_the_grader_package_has_no_import_circle():
    graph = _graph()
    # A package's __init__ importing its own submodules lazily (a facade) is no circle of the house:
    # what must never happen is two stages that need each other.
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if n.startswith(m + "."):
                continue
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n] if n in stack else [m, n])
            elif n not in state:
                visit(n, stack + [n])
        state[m] = 2
    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_no_private_name_is_used_outside_its_module():
    bad = []
    for path in sorted(GRADER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("grader")):
                bad += [(str(path.relative_to(BUNDLE_ROOT)), a.name) for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")]
    assert bad == []


def test_the_top_of_the_package_holds_the_pipeline_only():
    top = sorted(p.name for p in GRADER.glob("*.py"))
    assert len(top) <= 12, top
    assert {p.name for p in GRADER.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == {
        "adapters", "child", "fleet", "host", "instructor", "judge"}
