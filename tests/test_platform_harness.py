"""The parts of `make platform-test` (tools/platform_test/) that need no Docker engine: how the
machine's pip configuration is carried into the builds, how results.json is judged, the short problem.
The engine, the builds and the container runs themselves are exercised by `make platform-test`."""
from __future__ import annotations

import importlib.util
import sys
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools" / "platform_test"))
import registry  # noqa: E402
from runs import Outcome, Spec, judge  # noqa: E402

GS_AC = {"score": 100.0, "execution_time": 3.0, "output": "x", "output_format": "text",
         "stdout_visibility": "hidden", "tests": [],
         "extra_data": {"verdict": "AC", "judge_error": False, "isolation": "uid"}}


def test_local_pip_locations_are_served_and_network_ones_kept(tmp_path):
    index = tmp_path / "pypi" / "simple"
    (index / "jax").mkdir(parents=True)
    (tmp_path / "pypi" / "files").mkdir()
    (tmp_path / "pypi" / "files" / "jax-1.whl").write_bytes(b"wheel")
    (index / "jax" / "index.html").write_text('<a href="../../files/jax-1.whl">jax-1.whl</a>')
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    cert = tmp_path / "ca.pem"
    cert.write_text("CA")
    settings = {"extra-index-url": f"file://{index} https://example.invalid/simple file://{tmp_path}/gone",
                "find-links": str(wheels), "cert": str(cert), "default-timeout": "180"}
    servers = registry.LocalServers()
    try:
        conf = registry.pip_conf(settings, tmp_path / "ctx", servers)
        lines = dict(line.split(" = ", 1) for line in conf.splitlines() if " = " in line)
        served, kept = lines["extra-index-url"].split()
        assert kept == "https://example.invalid/simple" and "gone" not in conf
        assert served.startswith("http://127.0.0.1:") and served.endswith("/simple/")
        page = urllib.request.urlopen(served + "jax/", timeout=10).read().decode()
        wheel = urllib.request.urlopen(urllib.request.urljoin(served + "jax/", "../../files/jax-1.whl"), timeout=10)
        assert "jax-1.whl" in page and wheel.read() == b"wheel"     # the index's upward links resolve
        assert lines["find-links"].startswith("http://127.0.0.1:") and lines["default-timeout"] == "180"
        assert lines["cert"] == "/etc/platform-test/cert-ca.pem"
        assert (tmp_path / "ctx" / "rootfs" / "etc" / "platform-test" / "cert-ca.pem").read_text() == "CA"
    finally:
        servers.close()


def test_pip_settings_read_the_environment_over_files(monkeypatch):
    monkeypatch.setenv("PIP_DEFAULT_TIMEOUT", "77")
    assert registry.pip_settings(sys.executable)["default-timeout"] == "77"


def _judge(platform: str, doc: dict, verdict: str, full: bool, stdout: str = "") -> list[str]:
    return judge(Outcome(Spec("s", platform, ROOT / "x.py", "short", verdict, full)), doc, stdout)


def test_gradescope_results_are_judged_on_verdict_score_and_isolation():
    assert _judge("gradescope", GS_AC, "AC", True) == []
    assert any("expected WA" in p for p in _judge("gradescope", GS_AC, "WA", False))
    assert any("full marks" in p for p in _judge("gradescope", GS_AC, "AC", False))
    weak = {**GS_AC, "extra_data": {**GS_AC["extra_data"], "isolation": "process"}}
    assert any("isolation process" in p for p in _judge("gradescope", weak, "AC", True))
    assert any("schema" in p for p in _judge("gradescope", {**GS_AC, "score": "100"}, "AC", True))


def test_prairielearn_results_are_judged_from_the_message_and_gradable():
    ok = {"gradable": True, "score": 1.0, "message": "Verdict: AC (accepted). Score 100.00 / 100.00.",
          "output": "", "tests": []}
    assert _judge("prairielearn", ok, "AC", True, "[uid isolation, 3.0s]") == []
    assert any("isolation ?" in p for p in _judge("prairielearn", ok, "AC", True))
    ce = {"gradable": False, "format_errors": ["line 3: invalid syntax"], "message": "", "output": "", "tests": []}
    assert _judge("prairielearn", ce, "CE", False, "[uid isolation, 1.0s]") == []
    je = {**ce, "format_errors": ["JUDGE ERROR: the autograder failed on its own"]}
    assert any("verdict JE" in p for p in _judge("prairielearn", je, "CE", False, "[uid isolation"))


def test_short_problem_keeps_one_public_and_one_hidden_case_out_of_others_reach(tmp_path):
    spec = importlib.util.spec_from_file_location("pt_main", ROOT / "tools" / "platform_test" / "__main__.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    dest = mod.short_problem(tmp_path / "short")
    raw = yaml.safe_load((dest / "problem.yaml").read_text())
    assert [c["id"] for c in raw["cases"]["public"]] == ["p01"] and [c["id"] for c in raw["cases"]["hidden"]] == ["h24"]
    hidden = yaml.safe_load((dest / "tests" / "data" / "hidden.yaml").read_text())
    assert [c["id"] for c in hidden["cases"]] == ["h24"]
    assert all(not p.stat().st_mode & 0o007 for p in [dest, *dest.rglob("*")])
