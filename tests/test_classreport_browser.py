"""The class report in a real browser: Debian's headless Chromium opens the report of a small batch
graded for real (the bundle's own examples, short-limit problem copy, public cases), and the DOM, the
console and a screenshot show the figures and tables rendered. Without Chromium the test skips,
except in CI (CI=true), where a missing browser is a failure (.ci/run installs it)."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from grader import BUNDLE_ROOT

from conftest import SUBMISSIONS, make_test_bundle, run_cli

BROWSER_TIMEOUT_S = 120
EXAMPLES = {   # a handful of verdicts, plus a near-copy pair for the screening
    "ada.py": BUNDLE_ROOT / "reference" / "solution.py",
    "bo.py": BUNDLE_ROOT / "starter" / "solution.py",
    "cy.py": SUBMISSIONS / "wrong_answer" / "variant_t_minus_1.py",
    "di.py": SUBMISSIONS / "compile_error" / "basic_syntax_error.py",
    "ed.py": BUNDLE_ROOT / "tests" / "similarity" / "independent" / "dana_verbose.py",
    "fa.py": BUNDLE_ROOT / "tests" / "similarity" / "copies" / "copy1_renamed.py",
}
HEADINGS = ("Judge errors", "Scores and verdicts", "Structure checks", "Item analysis", "Students × cases",
            "Mistake clusters", "Grading time and resource limits", "Similarity screening")
FIGURES = ("score_histogram", "verdict_counts", "checks", "item_analysis", "heatmap", "mistake_clusters",
           "grading_times")
HIST_BLUE = (0x15, 0x65, 0xc0)    # the histogram's bars; on the page's CSS only as a 4-px border


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed, and CI must run the browser test (.ci/run installs it)")
    pytest.skip("chromium not installed (apt-get install chromium): the browser test is skipped outside CI")


def _browse(chromium: str, tmp: Path, url: str, *extra: str) -> tuple[str, str]:
    """One headless run with a fresh profile and HOME; its whole process group is killed after."""
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    profile.mkdir()
    argv = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
            f"--user-data-dir={profile}", "--window-size=1400,2400", "--enable-logging=stderr", "--v=0", *extra, url]
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL")}
    env.update(HOME=str(profile), XDG_CONFIG_HOME=str(profile), XDG_CACHE_HOME=str(profile))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=env, start_new_session=True, text=True)
    try:
        out, err = proc.communicate(timeout=BROWSER_TIMEOUT_S)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)     # renderer and GPU helpers left behind, if any
        except ProcessLookupError:
            pass
        proc.wait()
    return out, err


def _console(err: str) -> list[str]:
    return [line for line in err.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("browser")
    problem = make_test_bundle(tmp / "bundle")
    (tmp / "class").mkdir()
    for key, src in EXAMPLES.items():
        shutil.copy(src, tmp / "class" / key)
    code, _o, err = run_cli(["--problem", str(problem), "batch", str(tmp / "class"), "--cases", "public",
                             "--jobs", "2", "--out", str(tmp / "results.jsonl")])
    assert code == 0, err[-2000:]
    code, _o, err = run_cli(["--problem", str(problem), "report", str(tmp / "results.jsonl"), "--submissions",
                             str(tmp / "class"), "--out", str(tmp / "out")])
    assert code == 0, err
    return tmp / "out"


def test_console_errors_are_seen_by_this_harness(tmp_path):
    chromium = _chromium()
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>console.error('planted'); missing_function();</script></body></html>")
    _out, err = _browse(chromium, tmp_path, page.as_uri(), "--dump-dom")
    seen = _console(err)
    assert any("planted" in line for line in seen) and any("missing_function" in line for line in seen), err[-2000:]


@pytest.mark.slow
def test_report_renders_in_chromium(report, tmp_path):
    chromium = _chromium()
    url = (report / "index.html").as_uri()
    dom, err = _browse(chromium, tmp_path, url, "--dump-dom")
    assert not _console(err), _console(err)
    headings = [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<h2>(.*?)</h2>", dom)]
    for want in HEADINGS:
        assert any(h.startswith(want) for h in headings), (want, headings)
    imgs = re.findall(r'<img src="(data:image/png;base64,[^"]+)"[^>]*data-figure="([a-z_]+)"', dom)
    assert sorted(name for _src, name in imgs) == sorted(FIGURES)
    assert all(len(src) > 4000 for src, _name in imgs)
    assert dom.count("<table>") >= 8 and "<mark>" in dom            # the near-copy pair, side by side
    assert re.search(r"<td>ed\.py</td><td>fa\.py</td><td class=\"n\">(9\d|100)%</td>", dom), "copy pair not first"

    shot = tmp_path / "shot.png"
    _out, err = _browse(chromium, tmp_path, url, f"--screenshot={shot}")
    assert not _console(err), _console(err)
    from PIL import Image
    img = Image.open(shot).convert("RGB")
    assert img.size == (1400, 2400)
    colors = img.getcolors(maxcolors=1 << 20)
    assert len(colors) > 50                                         # not a blank page
    blue = sum(n for n, c in colors if all(abs(a - b) <= 8 for a, b in zip(c, HIST_BLUE)))
    assert blue > 5000, f"the histogram's bars are not on the screenshot ({blue} pixels)"


def test_a_missing_chromium_skips_outside_ci_and_fails_in_ci(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium not installed"):
        _chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser test"):
        _chromium()
