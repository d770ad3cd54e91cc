"""The docs tell the truth where a machine can check it: every `make` target, CLI command and flag,
environment variable, file path and link named in the README, the statement and docs/ exists; every
environment variable the code reads is in docs/architecture.md's one list; the README's layout names
every module of the grader package; nothing in the bundle cites a file outside it."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from grader import BUNDLE_ROOT

DOCS = [BUNDLE_ROOT / "README.md", BUNDLE_ROOT / "statement.md", *sorted((BUNDLE_ROOT / "docs").glob("*.md")),
        BUNDLE_ROOT / "platform" / "handout" / "README.md"]
ARCHITECTURE = BUNDLE_ROOT / "docs" / "architecture.md"
COMMANDS = ("grade", "check", "regen", "warm", "batch", "slurm", "merge", "report", "validate")
TOP = ("grader/", "tests/", "tools/", "docs/", "platform/", "reference/", "starter/", "bin/", ".ci/")
# Paths a doc names that live on a platform or are made by a command, not in the bundle.
MADE = ("dist/", ".venv", ".dev-site", ".cache/", "class-report", "results", "grades.csv", "tests/data/*.yaml")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=BUNDLE_ROOT,
                         capture_output=True, text=True, check=True).stdout.split("\n")
    return [BUNDLE_ROOT / p for p in out if p and (BUNDLE_ROOT / p).is_file()]


@lru_cache(maxsize=None)
def _make_targets() -> set[str]:
    text = _text(BUNDLE_ROOT / "Makefile")
    return {t for line in re.findall(r"^([A-Za-z][\w .-]*):(?!=)", text, re.M) for t in line.split()}


@lru_cache(maxsize=None)
def _help(command: str) -> str:
    out = subprocess.run([sys.executable, "-m", "grader", command, "--help"], cwd=BUNDLE_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"`python -m grader {command} --help` failed: {out.stderr[-500:]}"
    return out.stdout


def test_every_make_target_named_exists():
    missing = sorted({(p.name, t) for p in DOCS
                      for t in re.findall(r"`make ([a-z][\w-]*)", _text(p)) if t not in _make_targets()})
    assert missing == []


def test_every_grader_command_and_flag_named_exists():
    """In each line that runs the grader's CLI (`python -m grader CMD`, `bin/grader CMD`, `grader
    CMD`), the command exists and every --flag after it is in that command's --help (or the
    top-level one)."""
    bad = []
    for p in DOCS:
        for line in _text(p).splitlines():
            for m in re.finditer(r"(?:python -m grader|bin/grader|`grader) ([a-z]+)([^`|]*)", line):
                cmd, rest = m.group(1), m.group(2)
                if cmd not in COMMANDS:
                    bad.append((p.name, cmd, "no such command"))
                    continue
                known = _help(cmd) + _help("grade").split("positional")[0]
                for flag in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", rest.split(" -- ")[0]):
                    if flag not in known and flag != "--help":
                        bad.append((p.name, cmd, flag))
    assert bad == []


def _env_read_by_code() -> set[str]:
    """Environment variables the bundle's code reads: names passed to os.environ.get / [] / getenv,
    every GRADER_* or FUZZ_* name it spells (some are read in a loop over names), and ${NAME:-...}
    in the platform scripts."""
    names = set()
    for f in _tracked():
        if f.suffix == ".py" and "submissions" not in f.parts and f.name != "test_docs.py":
            for node in ast.walk(ast.parse(_text(f))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args \
                        and ast.unparse(node.func) in ("os.environ.get", "environ.get", "os.getenv") \
                        and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    names.add(node.args[0].value)
                elif isinstance(node, ast.Subscript) and ast.unparse(node.value) in ("os.environ", "environ") \
                        and isinstance(node.slice, ast.Constant) and isinstance(node.ctx, ast.Load):
                    names.add(node.slice.value)
                elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                        and re.fullmatch(r"(GRADER|FUZZ)_[A-Z_]+", node.value):
                    names.add(node.value)
        elif f.parent.name in ("gradescope", "prairielearn", "common", ".ci") and f.suffix in ("", ".sh"):
            names |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+):-", _text(f)))
    return names


def test_every_environment_variable_the_code_reads_is_in_the_one_list():
    listed = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", _text(ARCHITECTURE).split("## Environment variables")[1]))
    assert sorted(_env_read_by_code() - listed) == []


def test_every_environment_variable_named_is_read_somewhere():
    code = "\n".join(_text(f) for f in _tracked() if f.suffix in (".py", "") or f.name in ("Makefile", "run"))
    named = {v for p in DOCS for v in re.findall(r"\b((?:GRADER|FUZZ)_[A-Z_]+)\b", _text(p))}
    assert sorted(v for v in named if v not in code) == []


def _paths_named(text: str) -> set[str]:
    out = set()
    for raw in re.findall(r"`([^`\s]+)`", text) + re.findall(r"\]\(([^)#\s]+)", text):
        path = raw.split("::")[0].split(":")[0].rstrip(".,;)")
        if path.startswith(TOP) or path in ("problem.yaml", "statement.md", "README.md", "Makefile",
                                              "pyproject.toml", "requirements.lock", "requirements-dev.lock"):
            if not any(ch in path for ch in "*<>{}$") and not path.startswith(MADE):
                out.add(path)
    return out


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(BUNDLE_ROOT)))
def test_every_file_path_and_link_named_exists(doc):
    base = doc.parent
    missing = sorted(p for p in _paths_named(_text(doc))
                     if not (BUNDLE_ROOT / p).exists() and not (base / p).exists())
    assert missing == []


def test_nothing_in_the_bundle_cites_a_file_outside_it():
    bad = []
    for f in _tracked():
        if f.suffix in (".py", ".md", ".sh", ".txt", ".yaml", ".toml", "") and f.name != "test_docs.py":
            text = _text(f)
            for pattern in (r"\.\./shared", r"\bDESIGN(\.md)?\b", r"jax-facts", r"seed-problem"):
                if re.search(pattern, text):
                    bad.append((str(f.relative_to(BUNDLE_ROOT)), pattern))
    assert bad == []


def test_the_readme_layout_names_every_module_of_the_grader():
    layout = _text(BUNDLE_ROOT / "README.md").split("## Layout")[1].split("\n## ")[0]
    grader = BUNDLE_ROOT / "grader"
    missing = []
    for p in sorted(grader.rglob("*.py")):
        if p.name == "__init__.py" or "__pycache__" in p.parts:
            continue
        if not re.search(rf"\b{re.escape(p.stem)}\b", layout):
            missing.append(str(p.relative_to(BUNDLE_ROOT)))
    for d in sorted(q for q in grader.rglob("*") if q.is_dir() and (q / "__init__.py").exists()):
        if d != grader and f"{d.name}/" not in layout:
            missing.append(f"{d.relative_to(BUNDLE_ROOT)}/")
    assert missing == []
