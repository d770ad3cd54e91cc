"""Grade the platform's submission and make sure a valid results.json exists afterwards, whatever happens.

Usage: python3 run_grader.py gradescope|prairielearn    (called by run_autograder / the PL entrypoint)

Runs on the machine's system python3 with the standard library only, so it still works when the
bundle's venv is missing or broken. It runs `python -m grader grade` in the venv under a deadline,
checks what it wrote, and otherwise writes a fallback result marked JUDGE ERROR with score 0 (on
PrairieLearn: not gradable, so no attempt is used). It exits 0 whenever a results.json was written.

Environment (all optional):
  AUTOGRADER_ROOT   Gradescope's root (default /autograder): submission/, results/results.json
  GRADE_ROOT        PrairieLearn's root (default /grade): student/, results/results.json
  GRADER_BUNDLE     the bundle (default: the folder two levels above this file)
  GRADER_PYTHON     the venv's interpreter (default: $GRADER_BUNDLE/.venv/bin/python)
  GRADER_PROBLEM    a problem.yaml to grade against instead of the bundle's (tests use short limits)
  GRADER_DEADLINE_S overall deadline in seconds (default: deadline_s() below)

results.json is written atomically (a temporary file in the same folder, fsync, rename) and mode 0644:
PrairieLearn's grader host reads it as its own user, not as the container's root.
"""
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLATFORMS = {
    "gradescope": ("AUTOGRADER_ROOT", "/autograder", "submission"),
    "prairielearn": ("GRADE_ROOT", "/grade", "student"),
}
JE_MARK = "JUDGE ERROR"      # the adapters' marker (grader/adapters/__init__.py)
VERDICT_S = 60.0             # docs/architecture.md, "Deadlines": any submission gets its verdict within 60 s of wall time
START_S = 10.0               # beyond that: the grader's own start (venv imports) and writing its results
GRACE_S = 10                 # for the grader to clean up after SIGINT at the deadline
KILL_WAIT_S = 3              # after SIGKILL: reading what is left of the report
EXIT_S = 5                   # writing the fallback and leaving the container
REPORT_LIMIT = 200_000       # bytes of the grader's report echoed to the (instructor-only) log
PL_RESULTS_LIMIT = 1024 * 1024   # PrairieLearn's grader host rejects larger results.json


def grader_deadline_s(problem: Path) -> float:
    """When the grader is stopped: its own worst case (the total limit, which covers loading too; read
    without a YAML parser), never beyond the verdict contract, plus its start."""
    limits = {"total_time_s": 50.0}
    try:
        text = problem.read_text(encoding="utf-8")
        for key in limits:
            m = re.search(rf"^\s*{key}:\s*([0-9.]+)", text, re.M)
            if m:
                limits[key] = float(m.group(1))
    except (OSError, ValueError):
        pass
    return min(limits["total_time_s"], VERDICT_S) + START_S


def deadline_s(problem: Path) -> float:
    if os.environ.get("GRADER_DEADLINE_S"):
        return float(os.environ["GRADER_DEADLINE_S"])
    return grader_deadline_s(problem)


def platform_timeout_s(problem: Path) -> int:
    """The platform's job timeout this wrapper needs: the deadline, SIGINT's grace, SIGKILL's wait and
    the exit. tools/build.py writes it into PrairieLearn's info.json, so the two cannot disagree."""
    return math.ceil(grader_deadline_s(problem) + GRACE_S + KILL_WAIT_S + EXIT_S)


def looks_valid(doc, platform: str) -> bool:
    """The structural minimum each platform needs to accept the file (the adapters validate fully)."""
    if not isinstance(doc, dict):
        return False
    if platform == "gradescope":
        score = doc.get("score")
        return (isinstance(score, (int, float)) and math.isfinite(score)
                and isinstance(doc.get("tests", []), list))
    if doc.get("gradable") is False:
        return bool(doc.get("format_errors"))
    score = doc.get("score")     # PrairieLearn's rules: a JSON number (not a boolean), finite, in [0, 1]
    return (isinstance(score, (int, float)) and not isinstance(score, bool) and math.isfinite(score)
            and 0.0 <= score <= 1.0)


def fallback(platform: str, cause: str, elapsed: float) -> dict:
    text = (f"{JE_MARK}: the autograder failed on its own ({cause}). This is not a problem with your "
            "submission, which was not graded. Your instructor can see the cause and will regrade it.")
    if platform == "gradescope":
        return {"score": 0.0, "execution_time": round(elapsed, 3), "output": text, "output_format": "text",
                "stdout_visibility": "hidden", "tests": [],
                "extra_data": {"verdict": "JE", "judge_error": True, "cause": cause}}
    return {"gradable": False, "format_errors": [text], "output": "", "tests": []}   # said once


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """A reader sees the old file or the whole new one, never a part; 0644 whatever the umask."""
    fd, tmp = tempfile.mkstemp(prefix=".results-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), 0o644)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:                                    # the rename itself survives a crash too (best effort)
        dfd = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def write_json(path: Path, doc: dict) -> None:
    write_bytes_atomic(path, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def run(platform: str) -> int:
    t0 = time.monotonic()
    root_env, root_default, sub = PLATFORMS[platform]
    root = Path(os.environ.get(root_env) or root_default)
    bundle = Path(os.environ.get("GRADER_BUNDLE") or Path(__file__).resolve().parents[2])
    python = Path(os.environ.get("GRADER_PYTHON") or bundle / ".venv" / "bin" / "python")
    problem = Path(os.environ.get("GRADER_PROBLEM") or bundle / "problem.yaml")
    results_dir = root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    try:
        results_dir.chmod(0o755)            # the grader host must reach the file as another user
    except OSError:
        pass
    results = results_dir / "results.json"
    produced = results_dir / ".grader-results.json"
    for stale in (results, produced):          # a leftover (or planted) file must never count
        if stale.exists():
            stale.unlink()
    try:
        cause, raw = checked(platform, grade(platform, python, bundle, problem, root / sub, produced), produced)
    finally:
        if produced.exists():               # the grader's own file never stays beside results.json
            produced.unlink()
    if cause is None:
        write_bytes_atomic(results, raw)
        return 0
    print(f"{JE_MARK}: {cause}; writing a fallback results.json", flush=True)
    write_json(results, fallback(platform, cause, time.monotonic() - t0))
    return 0


def checked(platform: str, cause: str | None, produced: Path) -> tuple[str | None, bytes]:
    """The grader's results as bytes when the platform would accept them, else the cause of a fallback."""
    if cause is not None:
        return cause, b""
    try:
        raw = produced.read_bytes()
        doc = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (OSError, ValueError) as e:
        return f"the grader's results could not be read ({type(e).__name__})", b""
    if not looks_valid(doc, platform):
        return "the grader wrote results the platform would reject", b""
    if platform == "prairielearn" and len(raw) > PL_RESULTS_LIMIT:
        return f"the grader's results are over PrairieLearn's {PL_RESULTS_LIMIT} bytes", b""
    return None, raw


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON (the platforms' parsers reject it)")


def grade(platform: str, python: Path, bundle: Path, problem: Path, submission: Path, out: Path):
    """Run the grader; None when it finished and wrote `out`, else the cause of the failure."""
    if not os.access(python, os.X_OK):
        return f"the grader's Python environment is missing ({python}): run the setup again"
    if not submission.is_dir():
        return f"the platform gave no submission folder ({submission})"
    argv = [str(python), "-m", "grader"]
    if os.environ.get("GRADER_PROBLEM"):
        argv += ["--problem", str(problem)]
    argv += ["grade", str(submission), "--cases", "all", "--format", platform, "--json", str(out)]
    limit = deadline_s(problem)
    try:
        proc = subprocess.Popen(argv, cwd=str(bundle), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as e:
        return f"the grader could not start ({e.strerror})"
    try:
        report, _ = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        report = stop(proc)
        echo(report)
        return f"grading did not finish within {limit:.0f} s"
    echo(report)
    if proc.returncode not in (0, 3) or not out.is_file():
        return f"the grader exited with status {proc.returncode} without writing results"
    return None


def stop(proc: subprocess.Popen) -> bytes:
    """SIGINT first, so the grader's `finally` kills its sandboxed tree; SIGKILL if it lingers."""
    for sig, grace in ((signal.SIGINT, GRACE_S), (signal.SIGKILL, KILL_WAIT_S)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return proc.communicate(timeout=grace)[0] or b""
        except subprocess.TimeoutExpired:
            continue
    # Killed, but something outside its group still holds the pipe: stop reading, so the wait is bounded.
    proc.stdout.close()
    proc.wait()
    return b""


def echo(report: bytes) -> None:
    """The grader's report goes to this process's stdout: instructor-only on both platforms."""
    sys.stdout.write(report[-REPORT_LIMIT:].decode("utf-8", "replace"))
    sys.stdout.flush()


def main(argv) -> int:
    if len(argv) != 1 or argv[0] not in PLATFORMS:
        print(f"usage: {Path(__file__).name} {'|'.join(PLATFORMS)}", file=sys.stderr)
        return 2
    try:
        return run(argv[0])
    except Exception as e:  # noqa: BLE001 - the last line of defence must still leave a result
        print(f"{JE_MARK}: run_grader.py failed: {type(e).__name__}: {e}", file=sys.stderr)
        root_env, root_default, _ = PLATFORMS[argv[0]]
        try:
            results_dir = Path(os.environ.get(root_env) or root_default) / "results"
            results_dir.mkdir(parents=True, exist_ok=True)
            write_json(results_dir / "results.json", fallback(argv[0], f"{type(e).__name__}: {e}", 0.0))
            return 0
        except OSError:
            return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
