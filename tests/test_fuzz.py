"""Fuzz what a submission controls, in-process: random frames on the result channel (return
headers with any dtype, shape, nested value and string, payloads of any bytes, exceptions with huge
type names and any code points, forged observation reports with any numbers, times of any size),
the `loaded` frame's module report and settings, the executor's results (structure reports, the
fallback's Module run), random printed bytes, random limits hit. Each drawn run goes frames ->
channel.Frames (each sender's table) / execute._answer -> Outcome -> compare + every check (the
fallback's agreement, params, module class, scan) + feedback -> grade -> the native JSON
(schema-validated), both adapters and the text report. Every run must end in a valid verdict, never
JE, with every message within its bound.

Derandomized, no example database: the same examples on every machine. `make test` runs
FUZZ_EXAMPLES (default 20, about 5 s); `make fuzz` runs many more. A few end-to-end sandboxed
runs close the file: the hostile examples, and submissions that replace the runner's channel at
import time and send forged headers.
"""
from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SUBMISSIONS, run_cli
from grader import grade as grade_module
from grader.adapters import gradescope, prairielearn
from grader.judge.cases import load_golden
from grader.host import channel
from grader.host.channel import Frames, Garbage
from grader.execute import _answer
from grader.outcome import Execution, Outcome
from grader.judge.report import render_text
from grader.text import OUTPUT_LIMIT, safe
from grader.judge.variants import for_grading
from grader.judge.verdict import MAX_HINT, render

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
# Any code point, lone surrogates and control characters included.
ANY_CHAR = st.characters(exclude_categories=())
TEXT = st.one_of(st.text(ANY_CHAR, max_size=40),
                 st.builds(lambda c, n: c * n, ANY_CHAR, st.integers(0, 70_000)))   # huge names
DTYPES = st.one_of(st.sampled_from(["<f4", "<f2", "<f8", "bfloat16", "float32", "<i4", "object", "|V2",
                                    "<c8", ">f4"]), TEXT)
ORIG = st.one_of(st.none(), st.sampled_from(["bfloat16", "float16", "float8_e4m3fn", "int4"]), TEXT)
NUMBER = st.one_of(st.integers(), st.integers(-2 ** 70, 2 ** 70), st.just(10 ** 2200), st.floats(allow_nan=False),
                   st.sampled_from([0, 1, -1, 5, 2 ** 63, 1e308]))
JSONISH = st.recursive(st.one_of(st.none(), st.booleans(), NUMBER, TEXT),
                       lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
                       max_leaves=8)
SHAPES = st.one_of(st.lists(st.integers(0, 70), max_size=3), st.lists(NUMBER, max_size=3),
                   st.just([10 ** 2200, 10 ** 2200]), st.lists(st.integers(0, 2 ** 64), max_size=4))
LEAVES = st.dictionaries(TEXT, st.one_of(st.tuples(SHAPES, st.one_of(TEXT, st.just("float32"))).map(list), JSONISH),
                         max_size=3)
OBSERVED = st.one_of(st.dictionaries(TEXT, JSONISH, max_size=4), st.fixed_dictionaries(
    {"loop": st.sampled_from(["scan", "while", "flax_scan", "none", "unknown"]), "length": JSONISH,
     "carry": JSONISH, "in_module": JSONISH, "params": st.one_of(JSONISH, LEAVES), "T": JSONISH},
    optional={"scan_method": st.one_of(st.none(), TEXT), "unroll": NUMBER, "methods": st.lists(TEXT, max_size=3)}))
STRUCTURES = st.one_of(st.none(), st.dictionaries(TEXT, JSONISH, max_size=4), st.fixed_dictionaries(
    {"ok": st.one_of(st.booleans(), JSONISH), "reason": st.one_of(st.sampled_from(
        ["ok", "no_loop", "wrong_step_count", "unrolled_steps", "w_not_from_init", "unreadable"]), TEXT),
     "trips": st.one_of(st.none(), NUMBER), "per_trip": st.one_of(st.none(), NUMBER), "outside": NUMBER},
    optional={"detail": TEXT}))


@st.composite
def result_frame(draw, cid: str, hidden: int, expected: np.ndarray):
    shape = draw(st.one_of(st.just([hidden]), SHAPES))
    dtype = draw(DTYPES)
    # Values from a drawn seed (cheap in entropy): the answer, the answer nudged, or noise; sometimes
    # with NaN/inf/huge entries planted.
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = expected.astype(np.float64) + draw(st.sampled_from([0.0, 1e-6, 1e-3, 1.0])) * rng.standard_normal(hidden)
    if draw(st.booleans()):
        values = rng.standard_normal(hidden) * draw(st.sampled_from([1e-6, 1.0, 1e30]))
    if draw(st.booleans()):
        values[rng.integers(0, hidden)] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e300]))
    payload = draw(st.sampled_from([rng.bytes(int(rng.integers(0, 64))), values.astype("<f4").tobytes(),
                                    values.astype("<f8").tobytes(), values.astype("<f2").tobytes(),
                                    (values.astype("<f4").view("<u4") >> 16).astype("<u2").tobytes(), b""]))
    head = {"type": "result", "id": cid, "kind": draw(st.sampled_from(["array", "none", "unconvertible"])),
            "pytype": draw(TEXT), "shape": shape, "dtype": dtype, "nbytes": len(payload),
            "time_s": draw(st.one_of(st.floats(0, 20), NUMBER)),
            "settings": draw(st.dictionaries(TEXT, st.one_of(st.none(), st.booleans(), st.integers(),
                                                             TEXT), max_size=3))}
    if draw(st.booleans()):
        head["orig_dtype"] = draw(ORIG) or "bfloat16"
    if head["kind"] == "unconvertible":
        head["error"] = draw(TEXT)
    return head, payload


@st.composite
def error_frame(draw, cid: str):
    return {"type": "error", "id": cid, "etype": draw(st.one_of(st.sampled_from(
        ["NotImplementedError", "UnexpectedTracerError", "TypeError", "MemoryError"]), TEXT)),
        "message": draw(TEXT), "frames": draw(st.lists(TEXT, max_size=5)),
        "memory": draw(st.booleans())}, b""


@st.composite
def case_channel(draw, cid: str, hidden: int, expected: np.ndarray):
    """What the channel carries for one case: a frame (well-formed or not) or a limit the grader saw."""
    choice = draw(st.sampled_from(["result", "result", "result", "error", "garbage", "extra_key", "limit"]))
    if choice == "limit":
        return Outcome(draw(st.sampled_from(["timeout", "memory", "output", "crash", "scratch", "not_run"])),
                       detail=draw(st.sampled_from(["", "killed by SIGKILL", "exited with status 1", "h03", "3"])),
                       why=draw(st.sampled_from(["", "total", "dominated", "crash_run", "died_after"])))
    if choice == "garbage":
        return draw(st.binary(max_size=40))
    head, payload = draw(result_frame(cid, hidden, expected) if choice != "error" else error_frame(cid))
    if choice == "extra_key":
        head[draw(TEXT)] = draw(JSONISH)
    if draw(st.booleans()):                       # a forged report of what the runner observed
        head["observed"] = draw(OBSERVED)
    if choice == "result" and draw(st.booleans()):  # the export path: a program, the executor's values
        head = {"type": "program", "id": cid, "time_s": head.get("time_s"), "observed": head.get("observed"),
                "settings": head["settings"], "nbytes": 3}
        payload = b"hlo"
    if draw(st.booleans()):
        head["fallback"] = draw(st.one_of(st.sampled_from(["numpy", "concrete_values", "callback"]), TEXT))
        head["data_nbytes"] = draw(st.integers(0, len(payload)))
    data = json.dumps(head).encode()
    return struct.pack(">I", len(data)) + data + payload


def parsed(data: bytes, sender: str):
    """(header, payload) through the grader's own frame parser with the sender's table, or None."""
    frames = Frames(1 << 16, sender)
    frames.feed(data)
    try:
        return frames.next()
    except Garbage:
        return None


def executor_run(cid: str, structure, value: tuple[dict, bytes]) -> Outcome:
    """The executor's answer for a program: a result frame (the drawn values and structure report)
    through the executor's table, as programs.Executor._request reads it."""
    head = {**value[0], "type": "result", "id": cid, "run_s": 0.01, "structure": structure}
    for key in ("fallback", "observed", "settings", "data_nbytes"):
        head.pop(key, None)
    head["nbytes"] = len(value[1]) if head.get("kind") == "array" else 0
    strict, channel.STRICT = channel.STRICT, False    # production: a drawn unknown key is dropped
    try:
        frame = parsed(encode(head, value[1] if head["nbytes"] else b""), "executor")
    finally:
        channel.STRICT = strict
    if frame is None:
        return Outcome("garbage", detail="", stage="executor")
    return Outcome("result", 0.1, header=frame[0], data=frame[1], structure=frame[0].get("structure"),
                   stage="executor")


def encode(head: dict, payload: bytes = b"") -> bytes:
    data = json.dumps(head).encode()
    return struct.pack(">I", len(data)) + data + payload


def outcome_of(channel, cid: str, problem, draw_run) -> Outcome:
    """Feed the bytes through the grader's own frame parser and answer handler, as _run_child does;
    a program (or a fallback's Module) is then run by a drawn executor answer (`draw_run()`: drawn
    only when one is needed, so each example stays small), as programs._decide places it."""
    if isinstance(channel, Outcome):
        return channel
    if len(channel) < 4:
        return Outcome("crash", detail="exited with status 0")
    frame = parsed(channel, "runner")
    if frame is None:
        return Outcome("garbage", detail="")
    head, payload = frame
    if head["type"] not in ("result", "error", "program") or head.get("id") != cid:
        return Outcome("garbage", detail="an unexpected frame")
    out = _answer(head, payload, 0.0)
    if out.status == "result" and out.program:
        run = executor_run(cid, *draw_run())
        if out.fallback:
            out.module_run = run
        else:
            run.observed, run.program, run.settings = out.observed, out.program, out.settings
            out = run
    return out


@pytest.fixture(scope="module")
def source_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "solution.py"
    path.write_text("def lax_scan_in_module(seed, x, hidden, T):\n    return x\n")
    return path


@pytest.fixture(scope="module")
def loaded(test_problem):
    goldens = {s: load_golden(test_problem, s) for s in ("public", "hidden")}
    return {**goldens, "variants": for_grading(test_problem, goldens["public"].fingerprint)}


@pytest.fixture(scope="module")
def expected(loaded):
    return {g.spec.id: g.expected for s in ("public", "hidden") for g in loaded[s].cases}


def assert_sound(v, problem):
    assert v.verdict != "JE", v.internal.get("judge_error")
    text = render(v)                                   # validates the schema, bounds included
    doc = json.loads(text)
    assert all(len(c["message"]) <= 1000 for c in doc["cases"])
    assert all(len(f) <= MAX_HINT for f in doc["feedback"]) and len(doc["hints"]) == len(doc["feedback"])
    for out in (gradescope.render(v, problem), prairielearn.render(v, problem),
                render_text(v, show_output=True)):
        out.encode("utf-8")                            # strict: no surrogate survives anywhere


@settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_channel_ends_in_a_sound_verdict(data, test_problem, source_file, expected, loaded):
    problem = test_problem
    with np.errstate(all="ignore"):
        cases = {c.id: outcome_of(data.draw(case_channel(c.id, c.hidden, expected[c.id]), label=c.id), c.id, problem,
                                  lambda c=c: (data.draw(STRUCTURES), data.draw(result_frame(c.id, c.hidden,
                                                                                             expected[c.id]))))
                 for c in problem.cases}
    loaded_frame = {"type": "loaded", "time_s": data.draw(NUMBER),
                    "module": data.draw(st.one_of(st.none(), st.dictionaries(TEXT, JSONISH, max_size=4),
                                                  st.fixed_dictionaries({"ok": JSONISH, "reason": TEXT,
                                                                         "field": JSONISH, "got": JSONISH}))),
                    "settings": data.draw(st.one_of(st.none(), st.dictionaries(TEXT, JSONISH, max_size=5),
                                                    st.just({"jax_enable_x64": True, "jax_random_seed_offset": 10 ** 30})))}
    got = parsed(encode({k: v for k, v in loaded_frame.items() if v is not None}), "runner")
    module, load_settings = (got[0].get("module"), got[0].get("settings")) if got else (None, None)
    printed = data.draw(st.binary(max_size=OUTPUT_LIMIT + 100))
    ex = Execution(isolation="process", cases=cases, module=module, settings=load_settings,
                   output_head=safe(printed.decode("utf-8", "replace"), OUTPUT_LIMIT, multiline=True),
                   output_bytes=len(printed), children=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(grade_module, "run", lambda *a, **k: ex)
        # The golden and variant files are read once (1.5 s a grading): they are not what is fuzzed.
        mp.setattr(grade_module, "load_golden", lambda _p, s: loaded[s])
        mp.setattr(grade_module, "for_grading", lambda _p, _fp: loaded["variants"])
        v = grade_module.grade(problem, source_file, "all", "process")
    assert_sound(v, problem)


# -- end to end: real hostile examples through the CLI, sandboxed ---------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("rel, verdict, reason, fmt", [
    ("run_time_error/hostile_huge_exception_type.py", "RTE", "exception", "gradescope"),
    ("wrong_answer/hostile_huge_result_type.py", "WA", "not_an_array", "prairielearn"),
    ("run_time_error/hostile_surrogate_message.py", "RTE", "exception", "native"),
])
def test_hostile_examples_end_to_end(rel, verdict, reason, fmt, tmp_path, test_problem_path):
    """One sandboxed run each, through the CLI, in one of the three formats (each format of each
    example would triple the cost for little): a bounded file, exit 0, an encodable report."""
    target = tmp_path / f"{fmt}.json"
    code, out, _ = run_cli(["--problem", str(test_problem_path), "grade", str(SUBMISSIONS / rel),
                            "--cases", "public", "--format", fmt, "--json", str(target)])
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert code == 0 and len(target.read_bytes()) < 60_000, len(target.read_bytes())
    out.encode("utf-8")
    assert f"verdict: {verdict}" in out
    if fmt == "native":
        assert doc["verdict"] == verdict and {c["reason"] for c in doc["cases"]} == {reason}
        assert all(len(c["message"]) <= 1000 for c in doc["cases"])
    else:
        assert "R" * 200 not in target.read_text() and "E" * 200 not in target.read_text()


FORGED_HEADERS = [
    {"observed": {"loop": "scan", "length": 10 ** 2200, "params": {"params/W": [[10 ** 2200], "float32"]}}},
    {"time_s": 1e308, "settings": {"jax_enable_x64": "x" * 5000, "jax_random_seed_offset": 2 ** 80}},
    {"type": "result", "kind": "array", "shape": [10 ** 2200, 10 ** 2200], "dtype": "|S4", "data_nbytes": 0},
]


@pytest.mark.slow
@pytest.mark.parametrize("forged", FORGED_HEADERS, ids=["observed", "times_settings", "result_shape"])
def test_a_submission_that_forges_its_frames_gets_a_verdict(forged, tmp_path, test_problem_path):
    """The runner's channel replaced at import time (the runner runs the submission in its own
    process): every answer frame carries the forged keys. A verdict, never JE, schema-valid."""
    path = tmp_path / "solution.py"
    path.write_text(f"""import sys
FORGED = {forged!r}
_common = sys.modules.get("common")
if _common is not None:
    _send = _common.Channel.send

    def send(self, header, payload=b"", _send=_send):
        if header.get("type") in ("result", "program", "error"):
            header = {{**header, **FORGED}}
        return _send(self, header, payload)
    _common.Channel.send = send


def lax_scan_in_module(seed, x, hidden, T):
    return x
""")
    target = tmp_path / "verdict.json"
    code, out, err = run_cli(["--problem", str(test_problem_path), "grade", str(path), "--cases", "public",
                              "--json", str(target)])
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert code == 0 and doc["verdict"] in ("WA", "RTE"), (doc["verdict"], doc.get("internal"), err[-500:])
