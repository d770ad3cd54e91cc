"""Command line: grade, check, batch, slurm, merge, report, validate, regen, warm (`python -m grader --help`).

Exit status (docs/architecture.md, "CLI and exit codes"): 0 a verdict was produced (any but JE), 1 `check` not AC or
`validate` failed, 2 the operator's mistake (one line on stderr), 3 judge error.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import GraderError, Parser, UsageError

FORMATS = ("native", "gradescope", "prairielearn")
# Commands with their own parser, and the module whose main(argv, problem_path) runs them
# (`report` is the class report; grader/judge/report.py is the terminal report of one verdict).
DELEGATED = {"batch": "fleet.batch", "slurm": "fleet.slurm", "merge": "fleet.merge",
             "validate": "instructor.validate", "report": "fleet.classreport"}


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m grader", description=__doc__.splitlines()[0])
    p.add_argument("--problem", type=Path, default=None, help="problem.yaml to use (default: the bundle's)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    g = sub.add_parser("grade", help="grade one submission (.py, .ipynb, or a folder holding one)")
    g.add_argument("submission")
    g.add_argument("--json", metavar="PATH", help="write the verdict JSON here ('-' for stdout)")
    g.add_argument("--cases", choices=("public", "hidden", "all"), default="all")
    g.add_argument("--format", choices=FORMATS, default="native")
    g.add_argument("--isolation", choices=("bwrap", "uid", "process"), default=None,
                   help="force an isolation level (default: the best this machine allows)")
    g.add_argument("--show-output", action="store_true", help="print the first lines the submission printed")
    c = sub.add_parser("check", help="the student's local check: public cases, exit 1 unless AC")
    c.add_argument("solution")
    c.add_argument("--isolation", choices=("bwrap", "uid", "process"), default=None)
    r = sub.add_parser("regen", help="rewrite tests/data from problem.yaml and the reference, then warm")
    r.add_argument("--isolation", choices=("bwrap", "uid", "process"), default=None)
    w = sub.add_parser("warm", help="fill JAX's compilation cache from the reference (run at setup)")
    w.add_argument("--cache", type=Path, default=None,
                   help="cache folder (default: $GRADER_JAX_CACHE, else the bundle's .cache/jax)")
    w.add_argument("--reuse", action="store_true",
                   help="do nothing if a warm of this same bundle and environment already filled it")
    for name, helptext in (("batch", "grade a folder of submissions"), ("slurm", "grade a folder as one SLURM array job"),
                           ("merge", "merge batch JSONL shards"),
                           ("report", "the class report of batch records: figures, item analysis, similarity"),
                           ("validate", "check the bundle, its vectors and this environment")):
        s = sub.add_parser(name, help=helptext, add_help=False)
        s.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def _parse(argv: list[str]) -> argparse.Namespace:
    """argparse's REMAINDER drops leading options (`validate --json x` loses `--json`), so the
    words after a delegated command are handed over untouched."""
    i = 2 if argv[:1] == ["--problem"] else 1 if argv[:1] and argv[0].startswith("--problem=") else 0
    if len(argv) > i and argv[i] in DELEGATED:
        args = _parser().parse_args(argv[:i + 1])
        args.rest = argv[i + 1:]
        return args
    return _parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parse(sys.argv[1:] if argv is None else list(argv))
        return _dispatch(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except GraderError as e:
        print(f"judge error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    from .problem import load_problem
    if args.command in DELEGATED:
        import importlib
        module = importlib.import_module(f".{DELEGATED[args.command]}", __package__)
        return module.main(args.rest, problem_path=args.problem)
    problem = load_problem(args.problem)
    if args.command == "regen":
        from .instructor.regen import regen
        for path in regen(problem, isolation=args.isolation):
            print(f"wrote {path}")
    if args.command in ("regen", "warm"):
        from .instructor.warm import warm
        w = warm(problem, getattr(args, "cache", None), reuse=getattr(args, "reuse", False))
        if w.reused:
            print(f"reused the warm of {w.cache}: {w.entries} entries (same bundle and environment)")
            return 0
        print(f"warmed {w.cache}: {w.entries} entries, {w.size_bytes / 2**20:.1f} MiB, "
              f"{w.compiled_cases} cases compiled, {w.seconds:.1f} s")
        return 0
    from .grade import grade
    from .judge.report import render_text
    if args.command == "check":
        v = grade(problem, args.solution, "public", args.isolation)
        _print(sys.stdout, render_text(v, show_output=True))
        return 3 if v.verdict == "JE" else (0 if v.verdict == "AC" else 1)
    if args.json:   # a folder or a dangling link is refused before the minutes of grading
        from .output import classify
        classify(args.json)
    v = grade(problem, args.submission, args.cases, args.isolation)
    try:
        text = render_formatted(v, problem, args.format)
    except Exception as e:  # noqa: BLE001 - a verdict that cannot be rendered becomes a written JE
        from .grade import judge_error
        from .submission import Source
        v = judge_error(problem, Source(v.submission["path"], v.submission["sha256"], None), args.cases,
                        f"the verdict could not be rendered: {type(e).__name__}: {e}",
                        time.monotonic() - v.timing["total_s"], v.environment["isolation"])
        text = render_formatted(v, problem, args.format)
    # The verdict file first: printing the report can never cost the verdict (a closed stdout, a
    # terminal that cannot show a character). A bad --json path is the operator's mistake (exit 2).
    if args.json:
        from .output import write_output
        try:
            write_output(args.json, text)
        except OSError as e:
            raise UsageError(f"{args.json}: cannot write the verdict ({e.strerror or e})") from None
    try:
        report = render_text(v, show_output=args.show_output)
    except Exception as e:  # noqa: BLE001 - the verdict is written; the report is a courtesy
        report = f"(the report could not be rendered: {type(e).__name__}; the verdict is {v.verdict})\n"
    _print(sys.stderr if args.json == "-" else sys.stdout, report)
    return 3 if v.verdict == "JE" else 0


def _print(stream, text: str) -> None:
    """Print the human report whatever the stream's encoding (C locale: ASCII) or state."""
    try:
        encoding = getattr(stream, "encoding", None) or "utf-8"
        stream.write(text.encode(encoding, "replace").decode(encoding, "replace"))
        stream.flush()
    except (OSError, ValueError, LookupError):
        pass


def render_formatted(v, problem, fmt: str) -> str:
    from .judge.verdict import render
    if fmt == "native":
        return render(v)
    import importlib
    adapter = importlib.import_module(f".adapters.{fmt}", __package__)
    return adapter.render(v, problem)


if __name__ == "__main__":
    sys.exit(main())
