"""Submission text made safe once (grader/text.py) and outputs written by what the path is
(grader/output.py). Device nodes and FIFOs are made in the test's own folder: the real /dev/null is
never touched."""
from __future__ import annotations

import json
import os
import stat
import threading

import pytest

from conftest import SUBMISSIONS, run_cli
from grader import UsageError
from grader.host.channel import Frames as _Frames
from grader.output import classify, open_append, write_output
from grader.text import TRUNCATED, clip, safe


@pytest.mark.parametrize("raw, want", [
    ("plain", "plain"),
    ("bad \ud800 end", "bad \ufffd end"),
    ("esc \x1b[31m", "esc \ufffd[31m"),
    ("nul\x00", "nul\ufffd"),
    ("bidi \u202e gnp.exe", "bidi \ufffd gnp.exe"),
    ("two\nlines\tand\r", "two lines and "),
    (b"\xff\xfe bytes", "\ufffd\ufffd bytes"),
    (12345, "int"),
])
def test_safe_makes_text_printable_and_encodable(raw, want):
    out = safe(raw)
    assert out == want
    out.encode("utf-8")


def test_safe_keeps_newlines_only_where_asked_and_clips_with_one_marker():
    assert safe("a\nb", multiline=True) == "a\nb"
    huge = safe("E" * 60_000, 120)
    assert len(huge) == 120 and huge.endswith(TRUNCATED) and huge.count(TRUNCATED) == 1
    assert clip("x" * 10, 10) == "x" * 10
    assert safe("\ud800" * 10_000_000, 50).endswith(TRUNCATED)   # bounded work, not 10 M replacements


def _frame(head: dict, payload: bytes = b"") -> bytes:
    data = json.dumps(head).encode()
    return len(data).to_bytes(4, "big") + data + payload


def test_frame_headers_are_sanitized_where_they_enter():
    f = _Frames(1 << 20)
    f.feed(_frame({"type": "error", "id": "p01", "etype": "E" * 60_000, "message": "m\ud800\n" * 5,
                   "frames": ["line 1 \x1b"] * 3}))
    f.feed(_frame({"type": "loaded", "time_s": 0.5, "settings": {"k\udcff": "v\x00"}}))
    head, _ = f.next()
    assert len(head["etype"]) <= 120 and head["etype"].endswith(TRUNCATED)
    assert "\ud800" not in head["message"] and "\n" in head["message"]     # multi-line kept
    assert head["frames"] == ["line 1 \ufffd"] * 3
    loaded, _ = f.next()         # settings ride on the frames that may carry them (channel.py's tables)
    assert loaded["settings"] == {"k\ufffd": "v\ufffd"}
    json.dumps(head, ensure_ascii=False).encode("utf-8")


# -- outputs ------------------------------------------------------------------------------------
def _char_device(tmp_path):
    node = tmp_path / "null"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))   # /dev/null's numbers, our own node
    except PermissionError:
        pytest.skip("mknod needs root")
    return node


def test_a_regular_file_is_written_atomically_and_keeps_its_mode(tmp_path):
    target = tmp_path / "v.json"
    write_output(target, "one")
    assert target.read_text() == "one" and stat.S_ISREG(target.stat().st_mode)
    target.chmod(0o640)
    write_output(target, "two")
    assert target.read_text() == "two" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["v.json"]     # no temporary file left


def test_a_character_device_is_written_in_place_never_replaced(tmp_path):
    node = _char_device(tmp_path)
    before = os.stat(node)
    write_output(node, "{}\n")
    after = os.stat(node)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino
    with open_append(node) as sink:
        sink.write("x\n")
    assert stat.S_ISCHR(os.stat(node).st_mode)


def test_a_fifo_is_written_in_place(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, encoding="utf-8").read()))
    reader.start()
    write_output(fifo, "through the pipe")
    reader.join(10)
    assert got == ["through the pipe"] and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_links_are_never_replaced_by_a_file(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_output(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    dev_link = tmp_path / "devlink"
    dev_link.symlink_to(_char_device(tmp_path))
    write_output(dev_link, "x")
    assert dev_link.is_symlink() and stat.S_ISCHR(os.stat(dev_link).st_mode)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(UsageError, match="link to nothing"):
        write_output(dangling, "x")
    assert dangling.is_symlink() and not (tmp_path / "nowhere").exists()


def test_a_folder_is_refused_and_stdout_is_written_in_place(tmp_path, capsys):
    with pytest.raises(UsageError, match="folder"):
        classify(tmp_path)
    assert classify("-")[0] == "stdout"
    write_output("-", "to stdout\n")
    assert capsys.readouterr().out == "to stdout\n"


def test_cli_refuses_a_folder_for_json_with_one_line_and_exit_2(tmp_path, test_problem_path):
    code, out, err = run_cli(["--problem", str(test_problem_path), "grade",
                              str(SUBMISSIONS / "run_time_error" / "basic_value_error.py"), "--json", str(tmp_path)])
    assert code == 2 and err.count("\n") == 1 and "folder" in err and out == ""


@pytest.mark.slow
def test_surrogate_message_gets_rte_with_the_verdict_written_and_exit_0(tmp_path, test_problem_path):
    """The issue's first bullet, end to end (sandboxed): the report printed, the JSON written."""
    target = tmp_path / "verdict.json"
    node = _char_device(tmp_path)
    path = str(SUBMISSIONS / "run_time_error" / "hostile_surrogate_message.py")
    code, out, _ = run_cli(["--problem", str(test_problem_path), "grade", path, "--json", str(target),
                            "--cases", "public"])
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert code == 0 and doc["verdict"] == "RTE" and "verdict: RTE" in out
    assert all(c["reason"] == "exception" and "\ufffd" in c["message"] for c in doc["cases"])
    out.encode("utf-8")
    code, _, _ = run_cli(["--problem", str(test_problem_path), "grade", path, "--json", str(node),
                          "--cases", "public", "--format", "gradescope"])
    assert code == 0 and stat.S_ISCHR(os.stat(node).st_mode)


def test_the_verdict_is_written_whatever_stdout_can_print(tmp_path, test_problem_path, monkeypatch):
    """A submission folder whose name is not UTF-8 (b'\\xff': a surrogate in Python), graded with
    stdout an ASCII-only stream: the verdict file is written first, the report printed with
    replacement, exit 0; then with a stdout that fails outright, the same."""
    import io
    import sys
    from grader.__main__ import main
    folder = tmp_path / os.fsdecode(b"sub\xff")
    folder.mkdir()
    target = tmp_path / "v.json"
    ascii_out = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="strict")
    monkeypatch.setattr(sys, "stdout", ascii_out)
    assert main(["--problem", str(test_problem_path), "grade", str(folder), "--json", str(target)]) == 0
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert doc["verdict"] == "CE" and "\ufffd" in doc["submission"]["path"]
    ascii_out.flush()
    assert b"verdict: CE" in ascii_out.buffer.getvalue()

    class Broken(io.StringIO):
        def write(self, s):
            raise OSError(5, "Input/output error")
    target.unlink()
    monkeypatch.setattr(sys, "stdout", Broken())
    assert main(["--problem", str(test_problem_path), "grade", str(folder), "--json", str(target)]) == 0
    assert json.loads(target.read_text(encoding="utf-8"))["verdict"] == "CE"
