"""Stage 4: similarity screening with copydetect (winnowed k-gram fingerprints, names and comments
filtered out), with the starter's fingerprints removed as boilerplate.

Submissions are read as text only, never run or imported: a link is skipped (it could point anywhere
on the machine), as are files over the code-size cap, non-UTF-8 files and folders that do not hold
exactly one solution file; a notebook contributes its code cells. Similarity is a lead for a human
to read the code side by side, never a verdict: shared skeletons, a short exercise and the
statement's own hints make honest solutions look alike.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from html import escape
from itertools import combinations
from pathlib import Path

NOISE_T = 25            # copydetect's defaults: k-grams of 25 filtered characters, window 1
CODE_CAP = 128 * 1024   # problem.yaml's code_bytes default: what the grader would read at all
TOP_PAIRS = 5


@dataclass(frozen=True)
class Source:
    key: str
    code: str


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    similarity: float            # max of the two files' shares of copied tokens
    shares: tuple[float, float]
    overlap_tokens: int
    html_a: str                  # escaped code with the shared parts in <mark>
    html_b: str


@dataclass(frozen=True)
class Screening:
    pairs: tuple[Pair, ...]      # best first
    skipped: tuple[tuple[str, str], ...]   # (key, why)
    files: int


def read_sources(root: Path, keys: list[str]) -> tuple[list[Source], list[tuple[str, str]]]:
    sources, skipped = [], []
    for key in keys:
        p = root / key
        try:
            if Path(key).name != key or key in (".", ".."):
                raise ValueError("not a plain file name")   # a record's key never leaves the folder
            code = _code_of(p)
        except ValueError as e:
            skipped.append((key, str(e)))
            continue
        sources.append(Source(key, code))
    return sources, skipped


def _code_of(p: Path) -> str:
    if p.is_symlink():
        raise ValueError("a link: not followed")
    if p.is_dir():
        files = [f for f in p.iterdir() if f.suffix in (".py", ".ipynb") and not f.is_symlink()]
        if len(files) != 1:
            raise ValueError(f"{len(files)} solution files in the folder")
        p = files[0]
    if not p.is_file():
        raise ValueError("not in the submissions folder")
    if p.stat().st_size > CODE_CAP:
        raise ValueError("over the code-size limit")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    if p.suffix == ".ipynb":
        try:
            cells = json.loads(text).get("cells") or []
            return "\n\n".join("".join(c.get("source") or []) for c in cells if c.get("cell_type") == "code")
        except (ValueError, AttributeError, TypeError):
            raise ValueError("not a readable notebook") from None
    return text


def screen(sources: list[Source], starter: str | None, top: int = TOP_PAIRS) -> Screening:
    from copydetect import CodeFingerprint, compare_files
    boiler = []
    if starter:
        boiler = list(CodeFingerprint("starter.py", NOISE_T, 1, fp=io.StringIO(starter)).hashes)
    prints, skipped = {}, []
    for s in sources:
        try:
            prints[s.key] = CodeFingerprint(f"{s.key}.py", NOISE_T, 1, boilerplate=boiler, fp=io.StringIO(s.code))
        except Exception as e:  # noqa: BLE001 - a file the tokenizer chokes on is skipped, not fatal
            skipped.append((s.key, f"not tokenizable ({type(e).__name__})"))
    scored = []
    for a, b in combinations(sorted(prints), 2):
        overlap, (sa, sb), slices = compare_files(prints[a], prints[b])
        scored.append((max(sa, sb), a, b, (float(sa), float(sb)), int(overlap), slices))
    # copydetect's ranking (the larger share); ties by the smaller share, then by tokens shared
    scored.sort(key=lambda t: (-t[0], -min(t[3]), -t[4], t[1], t[2]))
    pairs = []
    for i, (sim, a, b, shares, overlap, slices) in enumerate(scored):
        ha = hb = ""
        if i < top and overlap:
            ha, hb = _marked(prints[a].raw_code, slices[0]), _marked(prints[b].raw_code, slices[1])
        pairs.append(Pair(a, b, float(sim), shares, overlap, ha, hb))
    return Screening(tuple(pairs), tuple(skipped), len(prints))


def _marked(code: str, slices) -> str:
    """The code, escaped, with copydetect's copied slices wrapped in <mark>."""
    out, pos = [], 0
    for start, end in sorted(zip(slices[0].tolist(), slices[1].tolist())):
        start, end = max(int(start), pos), int(end)
        if end <= start:
            continue
        out += [escape(code[pos:start]), "<mark>", escape(code[start:end]), "</mark>"]
        pos = end
    out.append(escape(code[pos:]))
    return "".join(out)
