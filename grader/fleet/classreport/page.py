"""Stage 5: the one self-contained HTML page (no script, no network: figures are data: URIs).

Every string that came from a record or a submission is escaped here, once, at the point it enters
the markup: student code and messages are hostile text.
"""
from __future__ import annotations

import base64
from html import escape

from .figures import COLORS, Figure
from .load import RESOURCE_VERDICTS
from .similarity import Screening
from .stats import NO_REASON, ClassStats, times

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1200px;margin:0 auto;
padding:1rem 2rem;color:#222}h1{font-size:1.6rem}h2{border-bottom:2px solid #ddd;padding-top:.8rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #ccc;padding:.2rem .5rem;
text-align:left;vertical-align:top}th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:
tabular-nums}img{max-width:100%;height:auto;border:1px solid #eee}.flag{color:#b71c1c;font-weight:600}
.note{background:#fff8e1;border-left:4px solid #ffb300;padding:.5rem 1rem}.je{background:#ffebee;
border-left:4px solid #c62828;padding:.5rem 1rem}.pair{display:grid;grid-template-columns:1fr 1fr;
gap:.5rem}pre{background:#fafafa;border:1px solid #ddd;padding:.5rem;overflow:auto;max-height:28rem;
font-size:12px}mark{background:#ffe082}.v{display:inline-block;color:#fff;border-radius:3px;
padding:0 .35rem;font-size:.85em}nav a{margin-right:.8rem}.figs{display:flex;flex-wrap:wrap;gap:1rem;
align-items:flex-start}.figs p{margin:0}.glance{background:#e3f2fd;border-left:4px solid #1565c0;
padding:.3rem 1rem}
"""


def render(st: ClassStats, figs: list[Figure], screening: Screening | None, sources: list[str]) -> str:
    fig = {f.name: f for f in figs}
    n = len(st.graded) + len(st.judge_errors)
    parts = [f"<h1>Class report</h1><p>{n} submissions from {escape(', '.join(sources))}. "
             "For the instructor: no hidden expected values or internal grader details are on this page.</p>",
             "<nav>" + "".join(f'<a href="#{a}">{t}</a>' for a, t in (
                 ("je", "Judge errors"), ("scores", "Scores"), ("checks", "Checks"), ("heatmap", "Heatmap"),
                 ("items", "Item analysis"), ("mistakes", "Mistakes"), ("resources", "Time and resources"),
                 ("similarity", "Similarity"))) + "</nav>",
             _glance(st, screening), _judge_errors(st), _scores(st, fig), _checks(st, fig),
             _section("heatmap", "Students × cases", "<p>One row per submission, best score at the top; one "
                      "column per case (public first). A column of one colour is a case the whole class "
                      "shares.</p>" + _img(fig.get("heatmap"))),
             _items(st, fig), _mistakes(st, fig), _resources(st, fig), _similarity(screening)]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Class report</title>"
            f"<meta name=\"viewport\" content=\"width=device-width\"><style>{CSS}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(title, quote=False)}</h2>{body}</section>'


def _img(f: Figure | None) -> str:
    if f is None:
        return "<p>(nothing to plot)</p>"
    data = base64.b64encode(f.png).decode()
    return f'<p><img src="data:image/png;base64,{data}" alt="{escape(f.title)}" data-figure="{f.name}"></p>'


def _table(head: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _badge(v: str) -> str:
    return f'<span class="v" style="background:{COLORS.get(v, "#999")}">{escape(v)}</span>'


def _glance(st: ClassStats, sc: Screening | None) -> str:
    """The minute's reading: the few facts an instructor acts on, each pointing to its section."""
    n = len(st.graded)
    facts = []
    if st.judge_errors:
        facts.append(f'<b>{len(st.judge_errors)} judge errors</b>: not graded, regrade them (<a href="#je">list</a>)')
    ac = st.verdicts.get("AC", 0)
    facts.append(f"{ac} of {n} graded submissions accepted; "
                 + ", ".join(f"{v} {k}" for v, k in st.verdicts.items() if v not in ("AC", "JE")))
    cases = [i for i in st.items if i.kind == "case"]
    if cases:
        hard = min(cases, key=lambda i: (i.share, i.id))
        facts.append(f"hardest {st.item_set} case: {escape(hard.id)} ({escape(hard.detail)}), {hard.share:.0%} pass")
        flagged = [i.id for i in st.items if i.flag]
        if flagged:
            facts.append(f'{len(flagged)} items every student passes or fails (<a href="#items">item analysis</a>)')
    diag = [c for c in st.clusters if c.group != NO_REASON and c.code != "correct"]
    if diag:
        facts.append("most common mistakes: " + ", ".join(f"<code>{escape(c.code)}</code> ({c.students})"
                                                          for c in diag[:3]))
    legacy = sum(c.students for c in st.clusters if c.group == NO_REASON)
    if legacy:
        facts.append(f'{legacy} failing submissions were graded before reason codes: grouped by verdict only '
                     '(<a href="#mistakes">mistakes</a>)')
    if st.top_failures:
        msg, k = st.top_failures[0]
        facts.append(f"commonest first failure ({k}×): {escape(msg)}")
    if sc and sc.pairs:
        p = sc.pairs[0]
        facts.append(f'most similar pair: {escape(p.a)} ↔ {escape(p.b)}, {p.similarity:.0%} '
                     '(<a href="#similarity">a lead to read, not a verdict</a>)')
    return '<div class="glance"><ul>' + "".join(f"<li>{f}</li>" for f in facts) + "</ul></div>"


def _judge_errors(st: ClassStats) -> str:
    if not st.judge_errors:
        return _section("je", "Judge errors", "<p>None: the grader produced a verdict for every submission.</p>")
    rows = [[escape(s.label), escape(s.feedback[0] if s.feedback else "")] for s in st.judge_errors]
    return _section("je", f"Judge errors: {len(st.judge_errors)} (the grader's fault, not the students')",
                    '<div class="je">These submissions were <b>not graded</b>: the grader failed. They are '
                    "left out of every statistic below. Regrade them (<code>batch</code> reruns JE records); "
                    "the cause is in each record's <code>internal</code> field, deliberately not shown here."
                    "</div>" + _table(["submission", "message"], rows))


def _scores(st: ClassStats, fig) -> str:
    scores = [s.score for s in st.graded]
    mean = sum(scores) / len(scores) if scores else 0.0
    rows = [[_badge(v), str(k)] for v, k in st.verdicts.items()]
    return _section("scores", "Scores and verdicts",
                    f"<p>{len(scores)} graded; mean score {mean:.1f}.</p>"
                    + '<div class="figs">' + _img(fig.get("score_histogram")) + _img(fig.get("verdict_counts"))
                    + _table(["verdict", "submissions"], rows, {1}) + "</div>")


def _checks(st: ClassStats, fig) -> str:
    items = [i for i in st.items if i.kind == "check"]
    rows = [[escape(i.id), i.detail, str(i.n_pass), str(i.n - i.n_pass), f"{i.share:.0%}"] for i in items]
    return _section("checks", "Structure checks", '<div class="figs">' + _img(fig.get("checks"))
                    + _table(["check", "", "passed", "failed", "share passing"], rows, {2, 3, 4}) + "</div>")


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:+.2f}"


def _items(st: ClassStats, fig) -> str:
    rows = [[i.kind, escape(i.id), escape(i.detail), f"{i.share:.0%} ({i.n_pass}/{i.n})", _fmt(i.r),
             _fmt(i.top_minus_bottom), f'<span class="flag">{i.flag}</span>' if i.flag else ""] for i in st.items]
    scope = "" if st.item_set == "hidden" else ("<p>This batch was graded on the public cases only: they are "
                                                "analysed instead of the hidden ones.</p>")
    return _section("items", "Item analysis", scope + _img(fig.get("item_analysis"))
                    + "<p><b>r</b>: PrairieLearn's discrimination, the correlation of passing the item with "
                    "the total score. <b>top − bottom</b>: share passing among the best 27% minus the worst "
                    "27%. Near zero or negative: the item does not separate who understood. Flagged items "
                    "(everyone passes or everyone fails) measure nothing about this class.</p>"
                    + _table(["kind", "item", "", "share passing", "r", "top − bottom", "flag"], rows, {3, 4, 5}))


def _mistakes(st: ClassStats, fig) -> str:
    rows = [[escape(c.group), f"<code>{escape(c.code)}</code>", str(c.students), escape(c.example)]
            for c in st.clusters]
    legacy = [c for c in st.clusters if c.group == NO_REASON]
    note = (f"<p>{sum(c.students for c in legacy)} submissions were graded before reason codes existed: "
            "they are grouped by verdict only (regrade to diagnose them).</p>") if legacy else ""
    top = _table(["submissions", "first failure message"], [[str(k), escape(m)] for m, k in st.top_failures], {0})
    return _section("mistakes", "Mistake clusters", _img(fig.get("mistake_clusters"))
                    + "<p>Grouped by the reason codes the verdicts carry (a student counts once per code); "
                    "one anonymised example message each.</p>" + note
                    + _table(["group", "reason", "students", "example"], rows, {2})
                    + "<h3>Top failure messages</h3>" + top)


def _resources(st: ClassStats, fig) -> str:
    t = times(st.graded)
    line = (f"<p>Grading time per submission: median {t['median']:.1f} s, mean {t['mean']:.1f} s, "
            f"max {t['max']:.1f} s ({t['n']} submissions).</p>") if t else "<p>No timings recorded.</p>"
    rows = [[_badge(v), str(st.resources[v]), str(st.resource_cases[v])] for v in RESOURCE_VERDICTS]
    slow = sorted((s for s in st.graded if s.total_s is not None), key=lambda s: -s.total_s)[:5]
    return _section("resources", "Grading time and resource limits", line + _img(fig.get("grading_times"))
                    + _table(["limit", "submissions (verdict)", "cases"], rows, {1, 2})
                    + _table(["slowest", "verdict", "seconds"], [[escape(s.label), _badge(s.verdict),
                             f"{s.total_s:.1f}"] for s in slow], {2}))


def _similarity(sc: Screening | None) -> str:
    note = ('<div class="note"><b>Similarity is a lead, never a verdict.</b> This is a short exercise with '
            "a given skeleton and step-by-step hints, so honest solutions share much of their code. A high "
            "score is a reason to read both files side by side, and to talk to the students, nothing more.</div>")
    if sc is None:
        return _section("similarity", "Similarity screening", note + "<p>Not run: pass <code>--submissions "
                        "DIR</code> (the folder that was batch-graded) to screen the code.</p>")
    rows = [[str(i + 1), escape(p.a), escape(p.b), f"{p.similarity:.0%}", f"{p.shares[0]:.0%} / {p.shares[1]:.0%}",
             str(p.overlap_tokens)] for i, p in enumerate(sc.pairs[:25])]
    body = (note + f"<p>{sc.files} files compared pairwise with copydetect (names and strings replaced, comments "
            "dropped, the starter removed as boilerplate); the 25 most similar pairs:</p>"
            + _table(["#", "submission", "submission", "similarity", "share of each", "shared tokens"], rows,
                     {0, 3, 5}))
    for i, p in enumerate(p for p in sc.pairs if p.html_a):
        body += (f"<h3>Pair {i + 1}: {escape(p.a)} ↔ {escape(p.b)} ({p.similarity:.0%})</h3><div class=\"pair\">"
                 f"<pre>{p.html_a}</pre><pre>{p.html_b}</pre></div>")
    if sc.skipped:
        body += "<p>Not screened: " + ", ".join(f"{escape(k)} ({escape(w)})" for k, w in sc.skipped) + ".</p>"
    return _section("similarity", "Similarity screening", body)
