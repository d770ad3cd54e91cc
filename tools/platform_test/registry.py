"""Reach the package registries from inside the builds exactly as this machine's own clients do.

pip: `pip config list` (every file pip reads and the PIP_* environment, in pip's own precedence) is
turned into an /etc/pip.conf for the images. Network locations stay as they are; the certificate
authority pip trusts and any constraint file are copied in; local locations (file:// indexes,
find-links folders) cannot be seen from a build, so each is served read-only on 127.0.0.1 for the
duration of the test (builds run with `--network host`) and its URL rewritten to that server.
apt: the enabled sources (and the keyrings they name) and the Acquire:: settings are copied.
All of it goes into the derived base layer only: the shipped zip and dist/ stay as built.
"""
from __future__ import annotations

import ast
import functools
import http.server
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from engine import PlatformTestError

IN_IMAGE = Path("/etc/platform-test")        # where copied files land inside the base layer
LOCATION_KEYS = ("index-url", "extra-index-url", "find-links")
FILE_KEYS = ("cert", "client-cert", "constraint")
APT_SOURCES = Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@dataclass
class LocalServers:
    """One read-only HTTP server per local folder, on 127.0.0.1 and a free port."""
    servers: list[http.server.ThreadingHTTPServer] = field(default_factory=list)

    def serve(self, folder: Path) -> str:
        handler = functools.partial(_Quiet, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    def close(self) -> None:
        for s in self.servers:
            s.shutdown()
            s.server_close()


def pip_settings(python: str) -> dict[str, str]:
    """key -> value as pip resolves them: later lines of `pip config list` are of lower precedence
    than :env: ones, so the environment wins, as in pip itself."""
    out = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True)
    if out.returncode != 0:
        raise PlatformTestError(f"`pip config list` failed: {out.stderr.strip()[-200:]}")
    settings: dict[str, str] = {}
    env: dict[str, str] = {}
    for line in out.stdout.splitlines():
        name, sep, raw = line.partition("=")
        if not sep:
            continue
        scope, _, key = name.rpartition(".")
        value = ast.literal_eval(raw)
        (env if scope == ":env:" else settings)[key] = value
    return {**settings, **env}


def _local(item: str) -> Path | None:
    if item.startswith("file://"):
        return Path(item[len("file://"):])
    return Path(item) if item.startswith("/") else None


def _served(path: Path, key: str, servers: LocalServers) -> str:
    """The URL of a local location once served. An index is served from its parent folder (its
    pages link upwards, e.g. ../../files/); a find-links folder as itself."""
    if key == "find-links" and path.is_dir():
        return servers.serve(path) + "/"
    return f"{servers.serve(path.parent)}/{path.name}" + ("/" if path.is_dir() else "")


def pip_conf(settings: dict[str, str], context: Path, servers: LocalServers) -> str:
    lines = ["# Written by tools/platform_test from this machine's pip configuration (test images only)",
             "[global]"]
    for key, value in sorted(settings.items()):
        if key in LOCATION_KEYS:
            items = []
            for item in value.split():
                path = _local(item)
                if path is None:
                    items.append(item)                      # a network location: as configured
                elif path.exists():
                    items.append(_served(path, key, servers))
            if items:
                lines.append(f"{key} = {' '.join(items)}")
        elif key in FILE_KEYS:
            src = Path(value)
            if src.is_file():
                dest = context / "rootfs" / IN_IMAGE.relative_to("/") / f"{key}-{src.name}"
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(src, dest)
                lines.append(f"{key} = {IN_IMAGE / dest.name}")
        else:
            lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


def apt_files(context: Path) -> list[Path]:
    """Copy the enabled apt sources, the keyrings they name and the Acquire:: settings into context."""
    files = apt_sources()
    conf = Path("/etc/apt/apt.conf.d")
    if conf.is_dir():
        files += sorted(p for p in conf.iterdir() if p.is_file() and "Acquire::" in p.read_text(errors="replace"))
    for f in list(files):
        for word in f.read_text(errors="replace").replace("=", " ").replace("]", " ").split():
            if word.startswith("/") and (word.endswith(".gpg") or word.endswith(".asc")) and Path(word).is_file():
                files.append(Path(word))
    for f in files:
        dest = context / "rootfs" / f.relative_to("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dest)
    return files


def debian_mirror() -> str:
    """The first Debian archive apt uses here (for debootstrap): a URI serving the bookworm suite."""
    texts = [p.read_text(errors="replace") for p in apt_sources()]
    for text in texts:
        for block in text.split("\n\n"):                    # deb822 stanzas
            fields = dict(l.split(":", 1) for l in block.splitlines() if ":" in l and not l.startswith("#"))
            suites, uris = fields.get("Suites", "").split(), fields.get("URIs", "").split()
            if "bookworm" in suites and uris and fields.get("Enabled", "yes").strip() != "no":
                return uris[0]
        for line in text.splitlines():                      # one-line style
            words = [w for w in line.split() if not w.startswith("[")]
            if len(words) >= 3 and words[0] == "deb" and words[2] == "bookworm":
                return words[1]
    raise PlatformTestError("no Debian bookworm archive in apt's sources (/etc/apt/sources.list*)")


def apt_sources() -> list[Path]:
    """The files apt reads its sources from (others, e.g. *.disabled, it ignores too)."""
    files = [APT_SOURCES[0]] if APT_SOURCES[0].is_file() else []
    if APT_SOURCES[1].is_dir():
        files += sorted(p for p in APT_SOURCES[1].iterdir() if p.suffix in (".list", ".sources"))
    return files
