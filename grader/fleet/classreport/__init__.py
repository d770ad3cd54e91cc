"""The instructor's class report: `python -m grader report RESULTS.jsonl [...] [--submissions DIR]
[--starter PATH] --out DIR` (or `make report RESULTS=... SUBMISSIONS=... OUT=...`).

From batch records alone (no regrading) it writes DIR/index.html, one self-contained page (figures
embedded, no script, no network), and every figure as DIR/<name>.png and .svg. The submissions'
folder is read, as text only, for the similarity screening. Stages, one module each:
load (records -> typed submissions, `internal` never read) -> stats (counts, item analysis,
clusters) -> figures (matplotlib) -> similarity (copydetect) -> page (HTML).
matplotlib and copydetect are report-only packages (requirements-dev.lock, installed by `make dev`
into .dev-site, never into the venv the sandbox sees). Exit: 0, or 2 for the operator's mistake.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ... import BUNDLE_ROOT, Parser, UsageError

INSTALL = ("run `make dev` (it installs requirements-dev.lock into .dev-site) and use `make report`, or put "
           ".dev-site on PYTHONPATH")


def main(argv: list[str], problem_path: Path | None = None) -> int:
    args = _parser().parse_args(argv)
    _require("matplotlib")
    if args.submissions:
        _require("copydetect")
    from . import figures, load, page, similarity, stats
    subs = load.load([Path(p) for p in args.results])
    st = stats.compute(subs)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{out}: cannot create the output folder ({e.strerror or e})") from None
    screening = None
    if args.submissions:
        root = Path(args.submissions)
        if not root.is_dir():
            raise UsageError(f"{root}: not a folder of submissions")
        starter = _starter(args.starter, problem_path)
        sources, skipped = similarity.read_sources(root, [s.key for s in subs])
        screening = similarity.screen(sources, starter)
        screening = similarity.Screening(screening.pairs, tuple(skipped) + screening.skipped, screening.files)
    figs = figures.draw_all(st, out)
    html = page.render(st, figs, screening, [Path(p).name for p in args.results])
    (out / "index.html").write_text(html, encoding="utf-8")
    print(f"wrote {out / 'index.html'} and {len(figs)} figures ({', '.join(f.name for f in figs)}) as PNG + SVG; "
          f"{len(st.graded)} graded, {len(st.judge_errors)} judge errors", file=sys.stderr)
    return 0


def _parser():
    p = Parser(prog="python -m grader report", description="the class report of batch records")
    p.add_argument("results", nargs="+", help="batch JSONL files (a key seen twice keeps its last record)")
    p.add_argument("--out", required=True, help="folder for index.html and the figures")
    p.add_argument("--submissions", help="the batch-graded folder, for the similarity screening")
    p.add_argument("--starter", help="boilerplate for the screening (default: the bundle's starter/solution.py)")
    return p


def _require(module: str) -> None:
    import importlib.util
    if importlib.util.find_spec(module) is None:
        raise UsageError(f"{module} is not installed (the class report needs it): {INSTALL}")


def _starter(path: str | None, problem_path: Path | None) -> str | None:
    if path:
        try:
            return Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"{path}: cannot read the starter ({e})") from None
    root = Path(problem_path).resolve().parent if problem_path else BUNDLE_ROOT
    for p in (root / "starter" / "solution.py", BUNDLE_ROOT / "starter" / "solution.py"):
        if p.is_file():
            return p.read_text(encoding="utf-8")
    return None
