"""Resolve what the student handed in (a .py, a .ipynb, or a folder holding one) into source bytes.

The path is untrusted: links are refused (never followed), sizes are bounded before reading, and any
problem with the submission itself is the student's (a CE with a message), not the operator's. Only a
path that does not exist at all is the operator's mistake (UsageError, exit 2).
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from . import UsageError
from .judge.reasons import Found, Reason, found
from .text import LINE_LIMIT, safe

PATH_LIMIT = 1000

SOLUTION_SUFFIXES = (".py", ".ipynb")
IGNORED_NAMES = {"__init__.py", "setup.py", "conftest.py"}
IGNORED_FOLDERS = {"__pycache__", "__MACOSX"}     # (dot-folders are skipped too) caches and zip debris
MAX_DEPTH = 4               # subfolder levels searched below the submission folder
MAX_ENTRIES = 1000          # files and folders listed in all: a folder bomb costs no more than this
NOTEBOOK_FACTOR = 16        # a notebook may be this many times code_bytes: outputs and metadata
# Cell magics whose body is not Python (a %%bash cell is shell): the whole cell is dropped.
FOREIGN_CELL_MAGICS = {"bash", "sh", "script", "system", "writefile", "file", "html", "javascript", "js",
                       "latex", "markdown", "svg", "perl", "ruby", "python2", "sx", "capture_shell"}


@dataclass(frozen=True)
class Source:
    path: str                      # as given, for the report
    sha256: str | None             # of the bytes handed in (None when nothing could be read)
    code: bytes | None             # Python source to run; None when `problem` says why not
    problem: str | None = None     # the CE message
    notes: tuple[Found, ...] = field(default_factory=tuple)


def resolve(path: str | Path, code_bytes: int) -> Source:
    source = _resolve(path, code_bytes)
    # File names enter the grader here (a name may hold any bytes): the path shown and the CE
    # message are made safe once, like every other text a submission controls (grader/text.py).
    return Source(safe(source.path, PATH_LIMIT), source.sha256, source.code,
                  None if source.problem is None else safe(source.problem, LINE_LIMIT), source.notes)


def _resolve(path: str | Path, code_bytes: int) -> Source:
    shown = str(path)
    p = Path(path)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        raise UsageError(f"{shown}: no such file or folder") from None
    except OSError as e:
        raise UsageError(f"{shown}: cannot be read ({e.strerror})") from None
    if stat.S_ISLNK(st.st_mode):
        return Source(shown, None, None, f"{p.name} is a symbolic link; submit the file itself, not a link")
    if stat.S_ISDIR(st.st_mode):
        found, problem = _candidates(p)
        if problem is not None:
            return Source(shown, None, None, problem)
        if len(found) > 1:
            names = ", ".join(sorted(_rel(f, p) for f in found))
            return Source(shown, None, None, f"several candidate solution files ({names}): keep exactly one")
        p = found[0]
    elif not stat.S_ISREG(st.st_mode):
        return Source(shown, None, None, f"{p.name} is not a regular file")
    if p.suffix not in SOLUTION_SUFFIXES:
        return Source(shown, None, None, f"{p.name} is not a Python file: submit a .py file (or a .ipynb)")
    limit = code_bytes if p.suffix == ".py" else code_bytes * NOTEBOOK_FACTOR
    try:
        raw = _read_bounded(p, limit)
    except OSError as e:
        return Source(shown, None, None, f"{p.name} cannot be opened ({e.strerror})")
    digest = hashlib.sha256(raw).hexdigest() if raw is not None else None
    if raw is None:
        clear = " (clear the notebook's outputs, e.g. Edit > Clear all outputs, and save it again)" \
            if p.suffix == ".ipynb" else ""
        return Source(shown, None, None, f"{p.name} is larger than the {limit // 1024} KiB limit{clear}")
    if p.suffix == ".ipynb":
        code, notes, problem = notebook_code(raw)
        if problem is None and len(code) > code_bytes:
            problem = f"the notebook's code is larger than the {code_bytes // 1024} KiB limit"
        return Source(shown, digest, None if problem else code, problem, tuple(notes))
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return Source(shown, digest, None, f"{p.name} is not UTF-8 text (byte {e.start}): save it as UTF-8")
    if b"\x00" in raw:
        return Source(shown, digest, None, f"{p.name} contains NUL bytes: it is not a Python source file")
    return Source(shown, digest, raw)


def _candidates(folder: Path) -> tuple[list[Path], str | None]:
    """Regular files (not links) with a solution suffix in the folder or its subfolders.

    Platforms keep the configured file name's folders (PrairieLearn puts `src/solution.py` under
    /grade/student/src/), so subfolders are searched, but boundedly: at most MAX_DEPTH levels down and
    MAX_ENTRIES entries in all, links never followed (neither as files nor as folders), and hidden
    folders (`.ipynb_checkpoints`, `.git`) and caches skipped. Returns the files found, or a CE message.
    """
    out: list[Path] = []
    seen, too_deep = 0, False          # entries listed so far; whether deeper folders were left
    level = [folder]
    for depth in range(MAX_DEPTH + 1):
        below: list[Path] = []
        for current in level:
            try:
                entries = _listing(current, MAX_ENTRIES - seen)
            except OSError as e:
                if current == folder:
                    raise UsageError(f"{folder}: cannot list the folder ({e.strerror})") from None
                return [], f"the folder {_rel(current, folder)} in the submission cannot be read ({e.strerror})"
            if entries is None:
                return [], (f"the submission folder holds more than {MAX_ENTRIES} files and folders: "
                            "submit only the solution file")
            seen += len(entries)
            for entry in entries:
                if entry.name.startswith(".") or entry.name in IGNORED_NAMES:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in IGNORED_FOLDERS:
                        below.append(Path(entry.path))
                elif entry.name.endswith(SOLUTION_SUFFIXES) and entry.is_file(follow_symlinks=False):
                    out.append(Path(entry.path))
        if not below:
            break
        if depth == MAX_DEPTH:
            too_deep = True
        level = below
    if not out:
        deep = f" (folders more than {MAX_DEPTH} levels down are not searched)" if too_deep else ""
        return [], f"no solution file (.py or .ipynb) in the submission folder{deep}"
    return out, None


def _listing(folder: Path, budget: int) -> list[os.DirEntry] | None:
    """The folder's entries sorted by name, or None when there are more than `budget`: a huge folder
    is never listed in full."""
    entries = []
    with os.scandir(folder) as it:
        for entry in it:
            if len(entries) >= budget:
                return None
            entries.append(entry)
    return sorted(entries, key=lambda e: e.name)


def _rel(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix()


def _read_bounded(path: Path, limit: int) -> bytes | None:
    """Read at most limit bytes without following a link; None when the file is larger."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file")
        chunks, size = [], 0
        while size <= limit:
            data = os.read(fd, min(1 << 16, limit + 1 - size))
            if not data:
                break
            chunks.append(data)
            size += len(data)
        return None if size > limit else b"".join(chunks)
    finally:
        os.close(fd)


def notebook_code(raw: bytes) -> tuple[bytes, list[Found], str | None]:
    """The code cells of a notebook in order; IPython magics and shell lines are dropped (with a note)."""
    try:
        nb = json.loads(raw.decode("utf-8"))
        cells = nb["cells"]
        if not isinstance(cells, list):
            raise TypeError
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError) as e:
        at = f" (line {e.lineno}, column {e.colno}: {e.msg})" if isinstance(e, json.JSONDecodeError) else ""
        return b"", [], (f"the notebook is not valid .ipynb JSON{at}: download it again with "
                         "File > Download .ipynb and submit that file unchanged")
    out, dropped, foreign = [], 0, []
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        text = "".join(map(str, src)) if isinstance(src, list) else str(src)
        # A cell may hold lone surrogates ("\ud800" in the JSON): not encodable, so replaced.
        lines = text.encode("utf-8", "replace").decode("utf-8").splitlines()
        first = lines[0].strip() if lines else ""
        if first.startswith("%%") and first[2:].split(" ")[0] in FOREIGN_CELL_MAGICS:
            foreign.append(f"{i + 1} ({safe(first.split(' ')[0], 40)})")
            continue
        kept = []
        for line in lines:
            if line.lstrip().startswith(("%", "!")):
                dropped += 1
                indent = line[:len(line) - len(line.lstrip())]
                kept.append(f"{indent}pass  # (dropped an IPython magic or shell line)" if indent else "")
            else:
                kept.append(line)
        out.append(f"# --- notebook cell {i + 1} ---\n" + "\n".join(kept) + "\n")
    notes = [found(Reason.NOTEBOOK_LINES_DROPPED, count=dropped)] if dropped else []
    if foreign:
        notes.append(found(Reason.NOTEBOOK_CELLS_SKIPPED, cells=safe(", ".join(foreign), LINE_LIMIT)))
    return "\n".join(out).encode("utf-8"), notes, None
