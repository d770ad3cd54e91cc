"""The class report from records (no grading here: synthetic verdicts shaped like the real ones, on
the bundle's real case list), the CSV's per-item columns, and the similarity ranking."""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
import yaml

from grader import BUNDLE_ROOT
from grader.fleet.classreport import stats
from grader.fleet.records import csv_text

from conftest import run_cli

DATA = BUNDLE_ROOT / "tests" / "data"
SIM = BUNDLE_ROOT / "tests" / "similarity"
SECRET = "INTERNAL-CAUSE-7f3a"          # planted in `internal`: must reach no output file


def _golden(name: str) -> list[dict]:
    return yaml.safe_load((DATA / name).read_text())["cases"]


PUBLIC, HIDDEN = _golden("public.yaml"), _golden("hidden.yaml")
CHECKS = ("module_class", "params_tree", "uses_lax_scan")


def verdict(verdict: str, fails: dict[str, tuple[str, str | None, str]] = {}, *, hints=None,
            checks_ok: bool = True, reasons: bool = True, total_s: float = 4.0) -> dict:
    """A native verdict: every case AC except `fails` {case id: (verdict, reason, message)}."""
    cases = []
    for c in PUBLIC + HIDDEN:
        v, reason, msg = fails.get(c["id"], ("AC", "correct", "correct"))
        is_hidden = c in HIDDEN
        case = {"id": c["id"], "set": "hidden" if is_hidden else "public", "seed": c["seed"], "hidden": c["hidden"],
                "T": c["T"], "verdict": v, "score": (100 / len(HIDDEN) * 0.8 if v == "AC" else 0) if is_hidden else 0,
                "max_score": 80 / len(HIDDEN) if is_hidden else 0, "max_abs_err": 0.0, "max_rel_err": 0.0,
                "time_s": 0.1, "message": msg}
        if reasons:
            case["reason"] = reason
        cases.append(case)
    checks = [{"id": k, "required": True, "passed": checks_ok, "score": 20 / 3 if checks_ok else 0,
               "max_score": 20 / 3, "message": "ok" if checks_ok else "no lax.scan of length T"} for k in CHECKS]
    score = sum(c["score"] for c in cases) + sum(k["score"] for k in checks)
    v = {"schema_version": 1, "problem": "lax-scan-in-module", "bundle": {"version": "1", "fingerprint": "f"},
         "submission": {"path": "x.py", "sha256": "0" * 64}, "verdict": verdict, "score": round(score, 4),
         "max_score": 100, "cases": cases, "checks": checks, "feedback": [h["text"] for h in hints or []],
         "environment": {}, "timing": {"total_s": total_s},
         "internal": {"cause": SECRET, "expected": HIDDEN[0]["expected"]}}
    if reasons:
        v["hints"] = hints or []
    return v


def record(key: str, v: dict, name: str = "") -> dict:
    students = [{"id": key[-3:], "name": name, "email": f"{key}@example.edu"}] if name else []
    return {"record_version": 1, "key": key, "path": f"/exports/{key}", "content_sha256": "0" * 64,
            "cases": "all", "students": students, "verdict": v}


def t_minus_1(c: dict) -> tuple[str, str, str]:
    return "WA", "wrong_values", f"case {c['id']}: wrong values: max abs error ≈1e-1"


def class_records() -> list[dict]:
    t0 = next(c for c in HIDDEN if c["T"] == 0)
    wrong = {c["id"]: t_minus_1(c) for c in HIDDEN if c["T"] > 0}
    recs = [record(f"s{i:02d}.py", verdict("AC")) for i in range(4)]
    recs += [record(f"w{i:02d}.py", verdict("WA", wrong, hints=[{"reason": "variant_t_minus_1", "text": (
        f"In 20 hidden cases of w{i:02d}.py by Student Number{i}, your result equals the recurrence run T-1 times.")}]),
        name=f"Student Number{i}") for i in range(3)]
    stacked = {"reason": "pitfall_stacked_outputs", "text": "You returned the stacked outputs."}
    recs.append(record("t0.py", verdict("WA", {t0["id"]: ("WA", "wrong_shape", "shape (0, 16), expected (16,)")},
                                        hints=[stacked])))
    recs.append(record("rte.py", verdict("RTE", {c["id"]: ("RTE", "exception", "IndexError: in /exports/rte.py, line 3")
                                                 for c in PUBLIC + HIDDEN}, checks_ok=False, total_s=9.5)))
    recs.append(record("old.py", verdict("WA", wrong, reasons=False)))        # graded before reason codes
    je = verdict("JE", {c["id"]: ("JE", "judge_error", "not graded: judge error") for c in PUBLIC + HIDDEN})
    je["feedback"] = ["Not graded: judge error."]
    recs.append(record("je.py", je))
    return recs


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("classreport")
    results = tmp / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in class_records()))
    out = tmp / "out"
    code, _out, err = run_cli(["report", str(results), "--out", str(out)])
    assert code == 0, err
    return out, (out / "index.html").read_text(encoding="utf-8")


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", re.sub(r'src="data:[^"]+"', "", html))


def test_page_lists_judge_errors_first_and_keeps_them_out_of_the_statistics(report):
    out, html = report
    assert html.index('id="je"') < html.index('id="scores"')
    assert "Judge errors: 1 (the grader's fault" in html and "je.py" in html
    assert "10 graded; mean score" in html       # 11 records, the JE is not among the graded


def test_mistakes_are_clustered_by_reason_code_with_an_anonymised_example(report):
    out, html = report
    rows = {m.group(1): int(m.group(2)) for m in re.finditer(
        r"<td><code>([a-z0-9_]+)</code></td><td class=\"n\">(\d+)</td>", html)}
    assert rows["variant_t_minus_1"] == 3 and rows["pitfall_stacked_outputs"] == 1
    assert rows["wrong_values"] == 3 and rows["wrong_shape"] == 1 and rows["exception"] == 1
    assert "correct" not in rows
    assert "graded before reason codes" in html and "1 submissions were graded before reason codes" in html
    row = re.search(r"<code>variant_t_minus_1</code>.*?</tr>", html).group(0)
    assert "Student Number" not in row and "w00.py" not in row and row.count("‹student›") == 2   # anonymised
    assert "IndexError: in ‹student›, line 3" in html


def test_item_analysis_flags_items_everyone_passes_and_finds_the_discriminating_one(report):
    out, html = report
    t0 = next(c for c in HIDDEN if c["T"] == 0)["id"]
    assert re.search(rf"<td>{t0}</td><td>H=\d+, T=0</td><td class=\"n\">80% \(8/10\)</td>", html)
    other = next(c for c in HIDDEN if c["T"] > 0)["id"]
    assert re.search(rf"<td>{other}</td><td>[^<]*</td><td class=\"n\">50% \(5/10\)</td>", html)
    # the RTE fails every item, so no item is flagged; the public cases are not items
    assert '<span class="flag">' not in html and "<td>case</td><td>p01</td>" not in html


def test_items_everyone_passes_or_fails_are_flagged():
    from grader.fleet.classreport.load import _submission
    recs = [r for r in class_records() if r["key"] != "rte.py"]
    for r in recs:                 # and a check nobody passes
        r["verdict"]["checks"][2]["passed"] = False
    st = stats.compute([_submission(r) for r in recs])
    flags = {(i.kind, i.id): i.flag for i in st.items}
    t0s = [c["id"] for c in HIDDEN if c["T"] == 0]
    assert flags[("case", t0s[0])] is None and all(flags[("case", i)] == "everyone passes" for i in t0s[1:])
    assert flags[("check", "uses_lax_scan")] == "everyone fails"
    assert flags[("check", "module_class")] == "everyone passes"
    assert [i.r for i in st.items if i.flag] == [None] * sum(1 for i in st.items if i.flag)


def test_nothing_hidden_or_internal_reaches_any_output_file(report):
    out, html = report
    assert "<script" not in html.lower() and "http://" not in html and "https://" not in html
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'src="([^"]+)"', html))
    expected = [repr(float(x)) for c in HIDDEN for x in c["expected"][:4] if abs(float(x)) > 1e-3]
    for f in out.iterdir():
        body = f.read_bytes().decode("utf-8", "replace")
        assert SECRET not in body, f
        if f.suffix in (".html", ".svg"):
            assert not [e for e in expected if e in body], f
    names = sorted(p.name for p in out.iterdir())
    for stem in ("score_histogram", "verdict_counts", "checks", "item_analysis", "heatmap", "mistake_clusters",
                 "grading_times"):
        assert f"{stem}.png" in names and f"{stem}.svg" in names
        assert (out / f"{stem}.png").stat().st_size > 2000


def test_discrimination_indices():
    rows = [(100.0, True), (90.0, True), (50.0, False), (40.0, True), (0.0, False)]
    assert stats.upper_lower(rows) == pytest.approx(1.0)           # 27% of 5 -> 1 per group
    assert stats.point_biserial(rows) == pytest.approx(0.7009, abs=1e-4)
    assert stats.point_biserial([(1.0, True), (2.0, True)]) is None  # an item nobody fails: undefined
    assert stats.upper_lower([(1.0, True)]) is None


def test_csv_keeps_its_columns_first_and_adds_one_per_case_and_check():
    recs = class_records()
    recs[0]["verdict"]["cases"] = recs[0]["verdict"]["cases"][:2]    # a record that graded fewer cases
    rows = list(csv.reader(io.StringIO(csv_text(recs))))
    head = rows[0]
    assert head[:6] == ["id", "name", "email", "verdict", "score", "max"]
    ids = [c["id"] for c in PUBLIC + HIDDEN]
    assert head[6:] == [f"case:{i}" for i in ids] + [f"check:{k}" for k in CHECKS]
    by_id = {r[0]: dict(zip(head, r)) for r in rows[1:]}
    assert by_id["rte.py"]["case:p01"] == "RTE" and by_id["rte.py"]["check:uses_lax_scan"] == "fail"
    assert by_id["s00.py"]["case:p02"] == "AC" and by_id["s00.py"]["case:p03"] == ""
    assert by_id["s01.py"]["check:module_class"] == "pass"


def test_operator_mistakes_are_one_line_and_exit_2(tmp_path, monkeypatch):
    code, _o, err = run_cli(["report", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")])
    assert code == 2 and "no such file" in err and len(err.strip().splitlines()) == 1
    code, _o, err = run_cli(["report", "--out", str(tmp_path / "o")])
    assert code == 2 and len(err.strip().splitlines()) == 1
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    (tmp_path / "r.jsonl").write_text(json.dumps(class_records()[0]) + "\n")
    code, _o, err = run_cli(["report", str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "o")])
    assert code == 2 and "matplotlib is not installed" in err and "make dev" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def _sources(*folders: str):
    from grader.fleet.classreport.similarity import Source, read_sources
    out = []
    for folder in folders:
        root = SIM / folder
        srcs, skipped = read_sources(root, sorted(p.name for p in root.iterdir() if p.suffix == ".py"))
        assert not skipped
        out += [Source(f"{folder}/{s.key}", s.code) for s in srcs]
    return out


def test_near_copies_rank_above_every_pair_of_independent_solutions():
    from grader.fleet.classreport.similarity import screen
    sources = _sources("independent", "copies")
    sc = screen(sources, (BUNDLE_ROOT / "starter" / "solution.py").read_text())
    family = {"independent/dana_verbose.py"} | {s.key for s in sources if s.key.startswith("copies/")}
    near = [p.similarity for p in sc.pairs if {p.a, p.b} <= family]
    independent = [p.similarity for p in sc.pairs if p.a.startswith("independent/") and p.b.startswith("independent/")]
    assert len(near) == 6 and len(independent) == 10
    assert min(near) > max(independent), (sorted(near), sorted(independent))
    assert {sc.pairs[0].a, sc.pairs[0].b} <= family and sc.pairs[0].html_a.count("<mark>") >= 1


def test_screening_reads_text_only_skips_links_and_escapes_code(tmp_path):
    from grader.fleet.classreport.similarity import read_sources, screen
    hostile = "def lax_scan_in_module(seed, x, hidden, T):\n    return '</pre><script>alert(1)</script>'\n"
    (tmp_path / "a.py").write_text(hostile * 3)
    (tmp_path / "b.py").write_text(hostile * 3 + "# mine\n")
    (tmp_path / "link.py").symlink_to("/etc/passwd")
    (tmp_path / "latin1.py").write_bytes(b"x = '\xe9'\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "solution.py").write_text(hostile)
    srcs, skipped = read_sources(tmp_path, ["a.py", "b.py", "link.py", "latin1.py", "folder", "gone.py", "../a.py"])
    assert [s.key for s in srcs] == ["a.py", "b.py", "folder"]
    assert dict(skipped) == {"link.py": "a link: not followed", "latin1.py": "not UTF-8",
                             "gone.py": "not in the submissions folder", "../a.py": "not a plain file name"}
    sc = screen(srcs, None)
    top = sc.pairs[0]
    assert {top.a, top.b} == {"a.py", "b.py"} and "<script>" not in top.html_a + top.html_b
    assert "&lt;/pre&gt;&lt;script&gt;" in top.html_a
