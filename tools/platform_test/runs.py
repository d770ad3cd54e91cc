"""Grade one submission in a fresh container with a platform's real limits, and judge what came out.

Only the platform contracts are used: the image's entrypoint, the submission where the platform puts
it, and results.json (checked against the platform's schema, its expected verdict and score, and its
mode: the platform's host reads it as an unprivileged user). GRADER_PROBLEM, which
platform/common/run_grader.py honours, points hostile runs at a short-limit copy of problem.yaml.
Peak memory is the high-water mark of a cgroup made for this one run (the container's parent), which
outlives the container, so it is read after the exit with nothing polled.
"""
from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import jsonschema

from engine import Engine, PlatformTestError, cgroup_dirs
from images import GS_TAG, PL_TAG

PROBLEM_IN_IMAGE = "/platform-test"     # root-only (0750), like the bundle's own tests/
# Each platform's settings for a grading job (docs/platforms.md): Gradescope's defaults, and what
# PrairieLearn's grader host passes to `docker run` (private IPC, core size 0, a tty).
LIMITS = {"gradescope": ["--memory", "768m", "--memory-swap", "768m", "--cpus", "1", "--network", "none"],
          "prairielearn": ["--memory", "2g", "--memory-swap", "2g", "--cpus", "0.9", "--pids-limit", "1024",
                           "--network", "none", "--ipc", "private", "--ulimit", "core=0", "-t"]}
GRADESCOPE_TIMEOUT_S = 600       # Gradescope's default overall timeout
VERDICT_S = 60.0                 # docs/architecture.md, "Deadlines": any verdict within a minute of wall time


@dataclass(frozen=True)
class Spec:
    name: str                 # shown in the table
    platform: str             # gradescope | prairielearn
    submission: Path
    problem: str              # "full" (the bundle's own problem.yaml) or "short"
    verdict: str              # expected
    full_marks: bool = False  # expected score: the maximum (else: below it, CE/JE: 0)


@dataclass
class Outcome:
    spec: Spec
    verdict: str = "?"
    score: str = "?"
    isolation: str = "?"
    wall_s: float = 0.0
    peak_mib: float | None = None
    problems: tuple[str, ...] = ()


def peak_mib(cgroup: str) -> float | None:
    for d in cgroup_dirs(cgroup):
        for name in ("memory.peak", "memory.max_usage_in_bytes"):        # cgroup v2, v1
            try:
                return int((d / name).read_text()) / 2**20
            except (OSError, ValueError):
                continue
    return None


def _read_from(engine: Engine, name: str, path: str) -> tuple[bytes, int] | None:
    """A file out of a stopped container, with its mode (docker cp streams a tar)."""
    proc = engine.docker("cp", f"{name}:{path}", "-", check=False, text=False, timeout=60)
    if proc.returncode != 0:
        return None
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        member = tar.next()
        return tar.extractfile(member).read(), member.mode


def run(engine: Engine, spec: Spec, problems: dict[str, Path], pl_options: dict, n: int) -> Outcome:
    """pl_options: the externalGradingOptions of dist/prairielearn/info.json (entrypoint, timeout)."""
    name = f"{engine.token}-{n}"
    cgroup = f"{engine.token}/run-{n}"
    work = Path(tempfile.mkdtemp(prefix=f"run-{n}-", dir=engine.home))
    env = ["-e", f"GRADER_PROBLEM={PROBLEM_IN_IMAGE}/problem.yaml"] if spec.problem == "short" else []
    if spec.platform == "gradescope":
        argv = [*env, GS_TAG, "/autograder/run_autograder"]
        timeout = GRADESCOPE_TIMEOUT_S
    else:
        grade = work / "grade"
        (grade / "student").mkdir(parents=True)
        (grade / "student" / "solution.py").write_bytes(spec.submission.read_bytes())
        argv = ["-v", f"{grade}:/grade", *env, PL_TAG, pl_options["entrypoint"]]
        timeout = int(pl_options["timeout"])
    engine.docker("create", "--name", name, "--cgroup-parent", f"/{cgroup}", *LIMITS[spec.platform], *argv,
                  timeout=60)
    if spec.platform == "gradescope":           # Gradescope copies the files in (owned by root)
        sub = work / "submission"
        sub.mkdir()
        (sub / "solution.py").write_bytes(spec.submission.read_bytes())
        (work / "submission_metadata.json").write_text('{"id": 1, "assignment": {"title": "platform test"}}\n')
        engine.docker("cp", f"{sub}/.", f"{name}:/autograder/submission", timeout=60)
        engine.docker("cp", str(work / "submission_metadata.json"), f"{name}:/autograder/", timeout=60)
    if spec.problem == "short":
        engine.docker("cp", str(problems["short"]), f"{name}:{PROBLEM_IN_IMAGE}", timeout=60)
    t0 = time.monotonic()
    try:
        stdout = engine.docker("start", "-a", name, timeout=timeout, check=False).stdout or ""
        problems_found = []
    except subprocess.TimeoutExpired:                  # the platform kills it and records nothing
        engine.docker("kill", name, check=False, timeout=60)
        stdout, problems_found = "", [f"still running after the platform's {timeout} s timeout"]
    wall = time.monotonic() - t0
    out = Outcome(spec, wall_s=wall, peak_mib=peak_mib(cgroup))
    status = engine.docker("inspect", "--format", "{{.State.ExitCode}}", name, timeout=60).stdout.strip()
    if status != "0":
        problems_found.append(f"the container exited {status}")
    if spec.platform == "gradescope":
        got = _read_from(engine, name, "/autograder/results/results.json")
    else:
        path = work / "grade" / "results" / "results.json"
        got = (path.read_bytes(), path.stat().st_mode) if path.is_file() else None
    engine.docker("rm", "-f", name, check=False, timeout=60)
    if got is None:
        out.problems = (*problems_found, "no results.json")
        return out
    data, mode = got
    if not mode & 0o004:
        problems_found.append(f"results.json is {mode & 0o777:o}: unreadable to the platform's user")
    try:
        doc = json.loads(data)
    except ValueError:
        out.problems = (*problems_found, "results.json is not JSON: the platform rejects it")
        return out
    if wall > VERDICT_S:
        problems_found.append(f"the verdict took {wall:.1f} s, over the {VERDICT_S:.0f} s contract")
    out.problems = tuple(problems_found + judge(out, doc, stdout))
    return out


def judge(out: Outcome, doc: dict, stdout: str) -> list[str]:
    """Fill the outcome's verdict, score and isolation from results.json; return what is wrong."""
    spec = out.spec
    schema = json.loads((Path(__file__).resolve().parents[2] / "grader" / "schemas"
                         / f"{spec.platform}.schema.json").read_text())
    found = []
    try:
        jsonschema.validate(doc, schema)
    except jsonschema.ValidationError as e:
        found.append(f"results.json breaks {spec.platform}.schema.json: {e.message[:120]}")
    m = re.search(r"\[(\w+) isolation", stdout)
    out.isolation = m.group(1) if m else "?"
    if spec.platform == "gradescope":
        extra = doc.get("extra_data") or {}
        out.verdict, out.isolation = str(extra.get("verdict", "?")), str(extra.get("isolation") or out.isolation)
        score, top = doc.get("score"), 100.0
        out.score = f"{score:g}" if isinstance(score, (int, float)) else "?"
    else:
        text = " ".join(doc.get("format_errors") or []) + " " + str(doc.get("message", ""))
        if doc.get("gradable") is False:
            out.verdict = "JE" if "JUDGE ERROR" in text else "CE"
            score, top, out.score = 0.0, 1.0, "not gradable"
        else:
            m = re.search(r"Verdict: (\w+)", text)
            out.verdict = m.group(1) if m else "?"
            score, top = doc.get("score"), 1.0
            out.score = f"{score:g}" if isinstance(score, (int, float)) else "?"
    if out.verdict != spec.verdict:
        found.append(f"verdict {out.verdict}, expected {spec.verdict}")
    if not isinstance(score, (int, float)):
        found.append("no numeric score")
    elif spec.full_marks and abs(score - top) > 1e-9:
        found.append(f"score {score:g}, expected {top:g}")
    elif not spec.full_marks and score >= top:
        found.append(f"score {score:g}: full marks for a {spec.verdict}")
    if out.isolation != "uid":
        found.append(f"isolation {out.isolation}: a root grader in a container must run at uid")
    return found
