"""The student handout: nothing secret inside, and, unzipped alone into an empty folder, its own
`make test` checks solution.py with the same engine (the project venv stands in for the one `make`
would create, so the test needs no network)."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from grader import UsageError
from platform_helpers import PYTHON, REFERENCE, ROOT, build, unzip

TOP = "lax-scan-in-module"


@pytest.fixture(scope="module")
def handout(tmp_path_factory) -> Path:
    return build("handout", tmp_path_factory.mktemp("dist"))


def names(zip_path: Path) -> set[str]:
    with zipfile.ZipFile(zip_path) as z:
        return {n.removeprefix(f"{TOP}/") for n in z.namelist()}


def test_handout_holds_what_a_student_needs_and_nothing_secret(handout):
    got = names(handout)
    assert {"statement.md", "solution.py", "Makefile", "README.md", "requirements.lock", "problem.yaml",
            "tests/data/public.yaml", "grader/__main__.py", "grader/child/runner.py"} <= got
    forbidden = [n for n in got if n.startswith(("reference/", "tests/submissions", ".venv", "dist/"))
                 or n in ("tests/data/hidden.yaml", "tests/data/variants.yaml") or re.match(r"tests/[^/]+\.py$", n)]
    assert forbidden == []
    assert [n for n in got if n.startswith("tests/")] == ["tests/data/public.yaml"]


def test_no_file_in_the_handout_holds_a_hidden_value_or_the_reference(handout):
    hidden = yaml.safe_load((ROOT / "tests/data/hidden.yaml").read_text())
    secrets = [repr(v) for c in hidden["cases"][:8] for v in c["expected"][:3] if len(repr(v)) >= 9]
    variants = (ROOT / "tests/data/variants.yaml")
    if variants.is_file():
        secrets += re.findall(r"-?0\.\d{7,}", variants.read_text())[:20]
    assert len(secrets) >= 10
    reference = (ROOT / "reference/solution.py").read_bytes()
    with zipfile.ZipFile(handout) as z:
        for name in z.namelist():
            data = z.read(name)
            assert data != reference, name
            text = data.decode("utf-8", "replace")
            leaked = [s for s in secrets if s in text]
            assert leaked == [], f"{name} holds hidden values {leaked[:3]}"


def test_handout_problem_lists_only_the_public_cases(handout):
    with zipfile.ZipFile(handout) as z:
        raw = yaml.safe_load(z.read(f"{TOP}/problem.yaml"))
        readme = z.read(f"{TOP}/README.md").decode()
        starter = z.read(f"{TOP}/solution.py")
    full = yaml.safe_load((ROOT / "problem.yaml").read_text())
    assert raw["cases"] == {"public": full["cases"]["public"], "hidden": []}
    assert "validation" not in raw       # the instructor's extra correct solutions stay in the bundle
    assert starter == (ROOT / "starter/solution.py").read_bytes()
    lock = (ROOT / "requirements.lock").read_text()
    for lib in ("jax", "jaxlib", "flax", "numpy"):
        version = re.search(rf"^{lib}==(\S+)$", lock, re.M).group(1)
        assert f"| {lib} | {version} |" in readme
    assert "process" in readme and "macOS" in readme and "{{" not in readme


def test_the_build_fails_clearly_without_a_statement(tmp_path):
    spec = importlib.util.spec_from_file_location("build_tool", ROOT / "tools" / "build.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    with pytest.raises(UsageError, match="statement"):
        tool.build_handout(ROOT, tmp_path, statement=tmp_path / "statement.md")
    assert not (tmp_path / "handout.zip").exists()


def venv_stand_in(dest: Path) -> Path:
    """A venv folder whose site-packages are the project venv's: `make test VENV=...` uses it as is."""
    (dest / "bin").mkdir(parents=True)
    (dest / "pyvenv.cfg").write_text((Path(sys.prefix) / "pyvenv.cfg").read_text())
    (dest / "bin" / "python").symlink_to(Path(sys.prefix, "bin", "python").resolve())
    (dest / "lib").symlink_to(Path(sys.prefix) / "lib")
    (dest / ".installed").touch()
    return dest


@pytest.mark.slow
def test_unzipped_handout_checks_the_starter_and_a_correct_solution(handout, tmp_path):
    folder = unzip(handout, tmp_path / "student") / TOP
    venv = venv_stand_in(tmp_path / "venv")
    make = ["make", "-s", "test", f"VENV={venv}"]
    starter = subprocess.run(make, cwd=folder, capture_output=True, text=True, timeout=600)
    assert starter.returncode != 0, starter.stdout
    assert "verdict: RTE" in starter.stdout and "not implemented yet" in starter.stdout
    assert "process isolation" in starter.stdout
    (folder / "solution.py").write_text(REFERENCE)
    solved = subprocess.run(make, cwd=folder, capture_output=True, text=True, timeout=600)
    assert solved.returncode == 0, solved.stdout + solved.stderr
    assert "verdict: AC" in solved.stdout and "p04" in solved.stdout and "h01" not in solved.stdout
    # the same engine run directly, as a student without make would
    direct = subprocess.run([str(PYTHON), "-m", "grader", "check", "solution.py", "--isolation", "process"],
                            cwd=folder, capture_output=True, text=True, timeout=600)
    assert direct.returncode == 0 and "verdict: AC" in direct.stdout
