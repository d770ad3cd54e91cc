"""The CLI contract: exit codes, where the JSON and the report go, one-line operator errors."""
from __future__ import annotations

import json

import jsonschema

from conftest import ROOT, SUBMISSIONS, run_cli
from grader.problem import load_schema

REF = str(ROOT / "reference" / "solution.py")


def test_grade_reference_json_to_stdout_report_to_stderr(test_problem_path):
    code, out, err = run_cli(["--problem", str(test_problem_path), "grade", REF, "--cases", "public",
                              "--json", "-"])
    assert code == 0
    doc = json.loads(out)
    jsonschema.validate(doc, load_schema("verdict.schema.json"))
    assert doc["verdict"] == "AC" and doc["score"] == doc["max_score"] > 0
    assert [c["set"] for c in doc["cases"]] == ["public"] * 4
    assert "verdict: AC" in err and "p01" in err


def test_grade_writes_json_file_and_report_to_stdout(tmp_path, test_problem_path):
    target = tmp_path / "v.json"
    code, out, err = run_cli(["--problem", str(test_problem_path), "grade",
                              str(SUBMISSIONS / "compile_error" / "basic_syntax_error.py"),
                              "--cases", "public", "--json", str(target)])
    doc = json.loads(target.read_text())
    assert code == 0 and doc["verdict"] == "CE" and "verdict: CE" in out and err == ""
    assert all(c["verdict"] == "CE" and c["message"].startswith("not run:") for c in doc["cases"])
    assert "SyntaxError" in doc["cases"][0]["message"] and "line 6" in doc["cases"][0]["message"]


def test_check_exit_codes(test_problem_path):
    ok, out, _ = run_cli(["--problem", str(test_problem_path), "check", REF])
    bad, out2, _ = run_cli(["--problem", str(test_problem_path), "check", str(ROOT / "starter" / "solution.py")])
    assert ok == 0 and "verdict: AC" in out
    assert bad == 1 and "not implemented yet" in out2


def test_operator_errors_are_one_line_exit_2(tmp_path):
    for argv, fragment in (
        (["grade", str(tmp_path / "missing.py")], "no such file"),
        (["grade", REF, "--cases", "secret"], "invalid choice"),
        (["grade"], "required"),
        (["frobnicate"], "invalid choice"),
        (["grade", REF, "--cases", "public", "--json", str(tmp_path / "no" / "dir" / "v.json")],
         "cannot write the verdict"),
    ):
        code, out, err = run_cli(argv)
        assert code == 2, (argv, code, err)
        assert fragment in err and err.count("\n") == 1 and "Traceback" not in err, (argv, err)


def test_judge_error_exits_3_and_says_je(tmp_path, test_problem_path):
    broken = tmp_path / "bundle"
    from conftest import make_test_bundle
    path = make_test_bundle(broken)
    (broken / "tests" / "data" / "public.yaml").write_text("schema_version: 1\nproblem: x\n")
    code, out, err = run_cli(["--problem", str(path), "grade", REF, "--cases", "public", "--json", "-"])
    doc = json.loads(out)
    assert code == 3 and doc["verdict"] == "JE" and doc["score"] == 0
    assert "golden file fails its schema" in doc["internal"]["judge_error"]
    assert all(c["verdict"] == "JE" for c in doc["cases"])
    assert "not your fault" in " ".join(doc["feedback"])


def test_a_folder_submission_and_ce_for_empty_folder(tmp_path, test_problem_path):
    (tmp_path / "student").mkdir()
    code, out, err = run_cli(["--problem", str(test_problem_path), "grade", str(tmp_path / "student"),
                              "--cases", "public", "--json", "-"])
    assert code == 0 and json.loads(out)["verdict"] == "CE" and "no solution file" in out
