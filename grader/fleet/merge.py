"""Combine batch shards into one gradebook: `python -m grader merge A.jsonl B.jsonl ... --out all.jsonl
[--csv grades.csv]`.

Every record must come from the same bundle (fingerprint) and the same environment (Python and library
versions): grades from another bundle or another JAX are not comparable, so a mismatch is refused
(exit 2, naming the file and the key) rather than mixed in. A key seen twice keeps its last record.
Exit 3 when a merged record is JE, as `batch` does.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .. import Parser, UsageError
from .records import bundle_key, csv_text, environment_key, read_records, summary, write_records, write_text


def main(argv: list[str], problem_path: Path | None = None) -> int:
    p = Parser(prog="python -m grader merge", description="merge batch JSONL shards into one")
    p.add_argument("inputs", nargs="+", type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--csv", type=Path)
    args = p.parse_args(argv)
    merged: dict[str, dict] = {}
    first: tuple[Path, dict] | None = None
    for path in args.inputs:
        for rec in read_records(path, strict=True):
            if first is None:
                first = (path, rec)
            elif bundle_key(rec) != bundle_key(first[1]):
                raise UsageError(f"{path}: {rec['key']} was graded by bundle {bundle_key(rec)}, "
                                 f"{first[0]} by {bundle_key(first[1])}: regrade one of them with the same bundle")
            elif environment_key(rec) != environment_key(first[1]):
                raise UsageError(f"{path}: {rec['key']} was graded in another environment "
                                 f"({_env(rec)}) than {first[0]} ({_env(first[1])})")
            if rec["key"] in merged and merged[rec["key"]].get("content_sha256") != rec.get("content_sha256"):
                print(f"note: {rec['key']} appears with different contents; keeping the one in {path}",
                      file=sys.stderr)
            merged[rec["key"]] = rec
    records = [merged[k] for k in sorted(merged)]
    write_records(args.out, records)
    if args.csv:
        write_text(args.csv, csv_text(records))
    sys.stderr.write(f"merged {len(args.inputs)} files into {args.out}\n" + summary(records))
    return 3 if any(r["verdict"].get("verdict") == "JE" for r in records) else 0


def _env(rec: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in environment_key(rec))
