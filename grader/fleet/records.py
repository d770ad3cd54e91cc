"""Batch records: one JSON line per graded submission, shared by `batch` and `merge`.

A record is the native verdict plus who it belongs to:
  {"record_version": 1, "key": folder or file name in the export, "path": ..., "content_sha256": ...,
   "cases": "public"|"hidden"|"all", "students": [{"id", "name", "email"}], "node": hostname,
   "isolation": bwrap|uid|process, "verdict": {native verdict}}
The verdict carries the bundle fingerprint and the environment, which `merge` insists agree, and which
a resumed `batch` compares before it reuses a record. `node` and `isolation` say where and how it was
graded (a cluster's tasks run on several machines); they never decide whether records may be mixed.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import socket
from collections import Counter
from pathlib import Path

from .. import UsageError

RECORD_VERSION = 1
CSV_COLUMNS = ("id", "name", "email", "verdict", "score", "max")
METADATA = "submission_metadata.yml"   # Gradescope's export names the students here


def content_hash(path: Path) -> str:
    """sha256 of a submission as exported: a file's bytes, a link's target, or a folder's tree
    (relative names and contents, links not followed). Stable across machines: shards use it."""
    h = hashlib.sha256()

    def add(p: Path, rel: str) -> None:
        if p.is_symlink():
            h.update(b"L" + rel.encode() + b"\0" + os.readlink(p).encode() + b"\0")
        elif p.is_file():
            h.update(b"F" + rel.encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
        elif p.is_dir():
            h.update(b"D" + rel.encode() + b"\0")
            for child in sorted(p.iterdir(), key=lambda c: c.name):
                add(child, f"{rel}/{child.name}" if rel else child.name)

    add(path, "")
    return h.hexdigest()


def environment_key(record: dict) -> tuple:
    """What must agree between records to share a gradebook: library versions, not the isolation."""
    env = dict(record["verdict"].get("environment") or {})
    env.pop("isolation", None)
    env.pop("landlock", None)        # like the isolation: how it was sandboxed, not what graded it
    return tuple(sorted(env.items()))


def where_graded(verdict: dict) -> dict:
    """The record's `node` and `isolation` fields, for the gradebook's provenance."""
    return {"node": socket.gethostname(), "isolation": (verdict.get("environment") or {}).get("isolation")}


def reusable(record: dict, sha256: str, current: dict) -> bool:
    """A record a rerun may keep: same contents, bundle, environment and case set, and not JE.
    `current` holds the run's "bundle", "env" (an environment_key) and "cases"."""
    return record.get("content_sha256") == sha256 and bundle_key(record) == current["bundle"] \
        and environment_key(record) == current["env"] and record.get("cases") == current["cases"] \
        and record["verdict"].get("verdict") != "JE"


def bundle_key(record: dict) -> str:
    return str((record["verdict"].get("bundle") or {}).get("fingerprint"))


def read_records(path: Path, *, strict: bool) -> list[dict]:
    """Records of a JSONL file. A run killed mid-write may leave a last line cut short: dropped when
    not strict (batch resuming its own file), an error when strict (merge)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        if strict:
            raise UsageError(f"{path}: no such file") from None
        return []
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read: {e}") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            ok = isinstance(rec, dict) and rec.get("record_version") == RECORD_VERSION \
                and isinstance(rec.get("key"), str) and isinstance(rec.get("verdict"), dict)
        except ValueError:
            ok = False
        if not ok:
            if strict or n < len(lines):
                raise UsageError(f"{path}:{n}: not a batch record (record_version {RECORD_VERSION})")
            continue
        out.append(rec)
    return out


def dump_line(record: dict) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n"


def write_records(path: Path, records: list[dict]) -> None:
    """Replace a JSONL file in one rename: a reader sees the old file or the new one."""
    write_text(path, "".join(dump_line(r) for r in records))


def write_text(path: Path, text: str) -> None:
    from ..judge.verdict import write_atomic
    try:
        write_atomic(path, text)
    except OSError as e:
        raise UsageError(f"{path}: cannot write ({e.strerror or e})") from None


def csv_text(records: list[dict]) -> str:
    """One row per student (a group submission gives one row each); without a roster, the key.
    After the fixed columns, one `case:<id>` column per case (its verdict: AC, WA, ...) and one
    `check:<id>` column per check (`pass`/`fail`), in the verdicts' order (public cases first);
    empty where a record did not grade that item (e.g. a `--cases public` run)."""
    cases, checks = _item_columns(records)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS + tuple(f"case:{c}" for c in cases) + tuple(f"check:{c}" for c in checks))
    for rec in sorted(records, key=lambda r: r["key"]):
        v = rec["verdict"]
        by_case = {str(c.get("id")): str(c.get("verdict") or "") for c in v.get("cases") or [] if isinstance(c, dict)}
        by_check = {str(c.get("id")): "pass" if c.get("passed") is True else "fail"
                    for c in v.get("checks") or [] if isinstance(c, dict)}
        items = [by_case.get(c, "") for c in cases] + [by_check.get(c, "") for c in checks]
        for s in rec.get("students") or [{"id": rec["key"], "name": "", "email": ""}]:
            w.writerow([s.get("id", ""), s.get("name", ""), s.get("email", ""), v.get("verdict"),
                        _num(v.get("score")), _num(v.get("max_score"))] + items)
    return buf.getvalue()


def _item_columns(records: list[dict]) -> tuple[list[str], list[str]]:
    """Case ids (public first, then hidden, each in first-seen order) and check ids of all records."""
    cases: dict[str, bool] = {}
    checks: dict[str, None] = {}
    for rec in sorted(records, key=lambda r: r["key"]):
        for c in rec["verdict"].get("cases") or []:
            if isinstance(c, dict):
                cases.setdefault(str(c.get("id")), c.get("set") == "public")
        for c in rec["verdict"].get("checks") or []:
            if isinstance(c, dict):
                checks.setdefault(str(c.get("id")))
    return sorted(cases, key=lambda c: not cases[c]), list(checks)


def _num(x) -> str:
    return "" if x is None else f"{float(x):g}"


def failure_message(verdict: dict) -> str | None:
    """The line a class-wide summary groups by: the first failing case's verdict and reason code
    (never its sentence, whose numbers differ per student), else the first hint's reason."""
    if verdict.get("verdict") == "AC":
        return None
    for case in verdict.get("cases") or []:
        if case.get("verdict") != "AC":
            return f"{case.get('verdict')}: {case.get('reason') or 'unknown'}"
    hints = verdict.get("hints") or [{}]
    return f"{verdict.get('verdict')}: {hints[0].get('reason') or 'unknown'}"


def summary(records: list[dict], top: int = 5) -> str:
    if not records:
        return "no records"
    verdicts = Counter(r["verdict"].get("verdict") for r in records)
    scores = [float(r["verdict"].get("score") or 0) for r in records]
    maxes = {float(r["verdict"].get("max_score") or 0) for r in records}
    lines = [f"{len(records)} submissions: " + ", ".join(f"{k} {n}" for k, n in verdicts.most_common()),
             f"mean score {sum(scores) / len(scores):.2f} / {'/'.join(f'{m:g}' for m in sorted(maxes))}"]
    failures = Counter(m for r in records if (m := failure_message(r["verdict"])))
    if failures:
        lines.append("most common failures:")
        lines += [f"  {n:4d} x {msg}" for msg, n in failures.most_common(top)]
    return "\n".join(lines) + "\n"


def read_roster(root: Path) -> dict[str, list[dict]]:
    """Gradescope's export: {folder: {":submitters": [{":name", ":sid", ":email"}], ...}}. The file is
    Ruby's YAML, so unknown tags are read as plain values instead of failing."""
    path = root / METADATA
    if not path.is_file():
        return {}
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: (
        loader.construct_mapping(node) if isinstance(node, yaml.MappingNode) else
        loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode) else loader.construct_scalar(node)))
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=Loader) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise UsageError(f"{path}: cannot read the export's metadata: {str(e).splitlines()[0]}") from None
    roster = {}
    for folder, entry in raw.items() if isinstance(raw, dict) else ():
        subs = entry.get(":submitters") or entry.get("submitters") or [] if isinstance(entry, dict) else []
        roster[str(folder)] = [{"id": str(s.get(":sid") or s.get("sid") or s.get(":id") or ""),
                                "name": str(s.get(":name") or s.get("name") or ""),
                                "email": str(s.get(":email") or s.get("email") or "")}
                               for s in subs if isinstance(s, dict)]
    return roster
