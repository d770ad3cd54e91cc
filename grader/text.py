"""Submission text made safe once, where it enters the grader.

Everything a submission controls and the grader shows (exception types and messages, traceback
frames, type names, dtype strings, printed output, notebook cells, file names) passes through
`safe` exactly once, at the edge: frame headers in execute.py, output in execute.py, names and
cells in submission.py. After it, a string is valid UTF-8 (lone surrogates and undecodable bytes
become U+FFFD), holds no control character but the newlines a multi-line field needs, and is at
most its bound long with one visible marker. So the report, the JSON and every adapter can print
it without failing, and no message grows with what the submission chose to raise.
"""
from __future__ import annotations

import unicodedata

TRUNCATED = " … [truncated]"
REPLACEMENT = "\ufffd"
# Bounds per kind of field (characters): docs/feedback.md promises 300 for a message's detail.
NAME_LIMIT = 120        # a type name, a dtype, a key
LINE_LIMIT = 300        # one-line details: an exception's first words, a frame
MESSAGE_LIMIT = 2000    # a whole exception message (hints match fragments of it)
OUTPUT_LIMIT = 4096     # printed output kept for the report


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, with the one marker when something was cut."""
    return text if len(text) <= limit else text[:max(0, limit - len(TRUNCATED))] + TRUNCATED


def _clean_char(ch: str, multiline: bool) -> str:
    if ch == "\n":
        return "\n" if multiline else " "
    if ch in "\t\r\v\f":
        return " "
    cat = unicodedata.category(ch)
    if cat == "Cs":                     # a lone surrogate: not encodable as UTF-8
        return REPLACEMENT
    if cat in ("Cc", "Zl", "Zp") or ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069":
        return REPLACEMENT              # control characters and bidi overrides rewrite the display
    return ch


def safe(value: object, limit: int = LINE_LIMIT, multiline: bool = False) -> str:
    """A printable, UTF-8-encodable string of at most `limit` characters.

    Bytes are decoded as UTF-8 with replacement; anything else that is not a str becomes its type's
    name (never its repr: a submission's __repr__ is its code, and its str may be a bomb)."""
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value[:limit * 4 + 4]).decode("utf-8", "replace")
    elif isinstance(value, str):
        text = str.__str__(value)       # a str subclass's own __str__ never runs
    else:
        text = type(value).__name__
    # Clip before cleaning too, so a 60 MB string costs no more than its bound.
    text = text[:limit + len(TRUNCATED) + 1] if len(text) > limit else text
    clean = "".join(c if (" " <= c < "\x7f") else _clean_char(c, multiline) for c in text)
    return clip(clean, limit)


def encodable(text: str) -> str:
    """Last line of defence for text built by the grader from safe parts: encodable as UTF-8."""
    return text.encode("utf-8", "replace").decode("utf-8")
