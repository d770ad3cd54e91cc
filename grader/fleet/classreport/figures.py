"""Stage 3: the figures, drawn with matplotlib (Agg, no display), saved as PNG and SVG files.

Each figure is also returned as PNG bytes so the page can embed it as a data: URI and open from
disk with no network and no neighbouring files. SVG metadata carries no date and a fixed hash
salt, so the same records give the same files.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from .load import VERDICTS
from .stats import ClassStats, times

COLORS = {"AC": "#2e7d32", "WA": "#ef6c00", "RTE": "#c62828", "TLE": "#6a1b9a", "MLE": "#8e24aa",
          "OLE": "#ab47bc", "CE": "#757575", "JE": "#000000"}
CELL = ("AC", "WA", "RTE", "TLE", "MLE", "OLE", "CE", "JE")    # heatmap colour index order


@dataclass(frozen=True)
class Figure:
    name: str            # file stem: DIR/<name>.png and DIR/<name>.svg
    title: str
    png: bytes


def draw_all(st: ClassStats, out: Path) -> list[Figure]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"svg.hashsalt": "class-report", "font.size": 9, "figure.dpi": 100})
    figs = [_scores(plt, st), _verdicts(plt, st), _checks(plt, st), _items(plt, st), _heatmap(plt, st),
            _clusters(plt, st), _times(plt, st)]
    result = []
    for name, title, fig in (f for f in figs if f is not None):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        fig.savefig(out / f"{name}.svg", format="svg", bbox_inches="tight", metadata={"Date": None})
        (out / f"{name}.png").write_bytes(buf.getvalue())
        plt.close(fig)
        result.append(Figure(name, title, buf.getvalue()))
    return result


def _scores(plt, st: ClassStats):
    scores = [s.score for s in st.graded]
    top = max([s.max_score for s in st.graded] + [1.0])
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(scores, bins=20, range=(0, top), color="#1565c0", edgecolor="white")
    ax.set(xlabel=f"score (of {top:g})", ylabel="submissions", title="Score distribution")
    return "score_histogram", "Score distribution", fig


def _verdicts(plt, st: ClassStats):
    names = list(st.verdicts)
    fig, ax = plt.subplots(figsize=(6, 2.6))
    bars = ax.bar(names, [st.verdicts[v] for v in names], color=[COLORS.get(v, "#999") for v in names])
    ax.bar_label(bars)
    ax.set(ylabel="submissions", title="Verdicts")
    return "verdict_counts", "Verdicts", fig


def _checks(plt, st: ClassStats):
    items = [i for i in st.items if i.kind == "check"]
    if not items:
        return None
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * len(items)))
    y = range(len(items))
    ax.barh(y, [i.n_pass for i in items], color=COLORS["AC"], label="passed")
    ax.barh(y, [i.n - i.n_pass for i in items], left=[i.n_pass for i in items], color=COLORS["WA"],
            label="failed")
    ax.set_yticks(list(y), [i.id for i in items])
    ax.invert_yaxis()
    ax.set(xlabel="submissions", title="Structure checks")
    ax.legend(loc="lower right", fontsize=8)
    return "checks", "Structure checks", fig


def _items(plt, st: ClassStats):
    items = [i for i in st.items if i.kind == "case"]
    if not items:
        return None
    fig, ax = plt.subplots(figsize=(max(6, 0.28 * len(items)), 3.2))
    x = range(len(items))
    ax.bar(x, [i.share for i in items], color=["#9e9e9e" if i.flag else "#1565c0" for i in items])
    ax.plot(x, [i.top_minus_bottom if i.top_minus_bottom is not None else float("nan") for i in items],
            "o", color="#ef6c00", label="discrimination (top − bottom 27%)")
    ax.set_xticks(list(x), [f"{i.id} {i.detail}" for i in items], rotation=90, fontsize=7)
    ax.set(ylim=(-0.05, 1.05), ylabel="share passing", title=f"{st.item_set.capitalize()} cases: share passing "
           "(grey: everyone passes or fails)")
    ax.legend(loc="lower left", fontsize=8)
    return "item_analysis", f"Item analysis of the {st.item_set} cases", fig


def _heatmap(plt, st: ClassStats):
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch
    subs, ids = st.graded, st.case_ids
    if not subs or not ids:
        return None
    grid = [[CELL.index(_cell(s, cid)) for cid in ids] for s in subs]
    h = min(30.0, 1.2 + 0.16 * len(subs))
    fig, ax = plt.subplots(figsize=(max(7, 0.22 * len(ids) + 3), h))
    ax.imshow(grid, aspect="auto", interpolation="nearest", vmin=0, vmax=len(CELL) - 1,
              cmap=ListedColormap([COLORS[v] for v in CELL]))
    ax.set_xticks(range(len(ids)), ids, rotation=90, fontsize=6)
    ax.set_yticks(range(len(subs)), [f"{s.key[:34]} ({s.score:g})" for s in subs], fontsize=5)
    ax.set_title("Students × cases, best score at the top")
    used = sorted({v for row in grid for v in row})
    ax.legend(handles=[Patch(color=COLORS[CELL[v]], label=CELL[v]) for v in used], loc="upper left",
              bbox_to_anchor=(1.01, 1), fontsize=7)
    return "heatmap", "Students × cases", fig


def _cell(s, cid: str) -> str:
    for c in s.cases:
        if c.id == cid:
            return c.verdict if c.verdict in CELL else "JE"
    return "CE"


def _clusters(plt, st: ClassStats):
    cl = list(st.clusters)[:20]
    if not cl:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 0.6 + 0.3 * len(cl)))
    ax.barh(range(len(cl)), [c.students for c in cl], color=["#ef6c00" if c.group.startswith("diag") else
            "#1565c0" if c.group.startswith("pitfall") else "#9e9e9e" for c in cl])
    ax.set_yticks(range(len(cl)), [c.code for c in cl], fontsize=7)
    ax.invert_yaxis()
    ax.set(xlabel="students", title="Mistake clusters (orange: wrong variant, blue: pitfall, grey: other)")
    return "mistake_clusters", "Mistake clusters", fig


def _times(plt, st: ClassStats):
    if not times(st.graded):
        return None
    fig, ax = plt.subplots(figsize=(6, 2.8))
    groups = [(v, [s.total_s for s in st.graded if s.verdict == v and s.total_s is not None]) for v in VERDICTS]
    groups = [(v, t) for v, t in groups if t]
    ax.hist([t for _, t in groups], bins=20, stacked=True, color=[COLORS[v] for v, _ in groups],
            label=[v for v, _ in groups])
    ax.set(xlabel="grading time per submission (s)", ylabel="submissions", title="Grading times by verdict")
    ax.legend(fontsize=7)
    return "grading_times", "Grading times", fig
