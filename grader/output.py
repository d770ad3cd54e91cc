"""Every file the grader writes for someone else (`--json`, batch `--out`/`--csv`, a worker's
result, validate's report) goes through `write_output`, which decides by what the path is:

- `-`: standard output, in place.
- a regular file, or nothing yet: written atomically (a temporary file in the same folder, then a
  rename), so a reader sees the old file or the new one. An existing file keeps its mode.
- a character device or a FIFO (`/dev/null`, `/dev/stdout`, a pipe): opened and written in place,
  never replaced: renaming onto `/dev/null` as root would turn it into a regular file for everyone.
- a symbolic link is never replaced by a file: a link to a regular file has its *target* replaced
  atomically (the link then points at the new content); a link to a device or FIFO is written
  through; a link to nothing or to a folder is refused.
- a folder, a block device, a socket: refused with a one-line error (UsageError, exit 2). A block
  device is refused because writing a verdict onto a disk is never what the operator meant.
"""
from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path

from . import UsageError


def classify(path: str | Path) -> tuple[str, Path]:
    """('stdout' | 'atomic' | 'in_place', the path to write) or UsageError saying why not."""
    if str(path) == "-":
        return "stdout", Path("-")
    p = Path(path)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        return "atomic", p
    except OSError as e:
        raise UsageError(f"{path}: cannot be written ({e.strerror})") from None
    if stat.S_ISLNK(st.st_mode):
        try:
            st = os.stat(p)
        except OSError:
            raise UsageError(f"{path}: a symbolic link to nothing; not replaced (remove it or give "
                             "another path)") from None
        p = Path(os.path.realpath(p))
    if stat.S_ISREG(st.st_mode):
        return "atomic", p
    if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        return "in_place", p
    what = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file, character device or FIFO"
    raise UsageError(f"{path}: {what}; give a file path")


def write_output(path: str | Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` as the module docstring says. OSError when the system refuses."""
    how, target = classify(path)
    data = text.encode("utf-8", "replace")
    if how == "stdout":   # bytes when stdout has them (any locale), else its own text stream
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is not None:
            sys.stdout.flush()
            buffer.write(data)
            buffer.flush()
        else:
            sys.stdout.write(text)
        return
    if how == "in_place":
        fd = os.open(target, os.O_WRONLY | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        return
    _write_atomic(target, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write_atomic(path: Path, data: bytes) -> None:
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            os.fchmod(fd, mode)
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def open_append(path: str | Path):
    """A text sink for a JSONL file that grows as results arrive (batch `--out`): stdout for `-`,
    the device or FIFO itself, else the file opened for appending (a link: its target)."""
    how, target = classify(path)
    if how == "stdout":
        return _Unclosed(sys.stdout)
    return open(target, "a", encoding="utf-8", errors="replace")


def is_regular(path: str | Path) -> bool:
    """Whether `path` is (or will be) a regular file: only those are read back (batch resumes)."""
    return classify(path)[0] == "atomic"


class _Unclosed:
    """stdout as a context manager that does not close it."""
    def __init__(self, stream):
        self.stream = stream

    def __enter__(self):
        return self.stream

    def __exit__(self, *exc):
        self.stream.flush()
        return False
