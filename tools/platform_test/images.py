"""The three images: a Debian bookworm base, the Gradescope autograder image, the PrairieLearn image.

No image is pulled from a registry of images. The base is `debootstrap --variant=minbase bookworm`
from the Debian archive apt uses here, imported, plus one layer carrying this machine's registry
client configuration (registry.py), and tagged `debian:bookworm-slim`: the FROM of the shipped
PrairieLearn Dockerfile, which then builds unchanged from dist/prairielearn/. The Gradescope image
is made the way Gradescope makes it: the zip extracted into /autograder/source, setup.sh run there
as root, run_autograder copied to /autograder/. Gradescope's real base is Ubuntu 22.04, which cannot
be had here (no image registry, no Ubuntu archive configured): the bookworm base stands in for it.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import registry
from engine import Engine, PlatformTestError

BASE_TAG = "debian:bookworm-slim"
GS_TAG = "platform-test/gradescope:latest"
PL_TAG = "platform-test/prairielearn:latest"
BUILD_TIMEOUT_S = 1500
# Gradescope's base image ships its harness's own python3 (with pip): a stand-in for it.
GRADESCOPE_DOCKERFILE = """\
FROM {base}
RUN apt-get update -q && apt-get install -y -q --no-install-recommends python3 python3-pip \\
 && rm -rf /var/lib/apt/lists/*
COPY source/ /autograder/source/
RUN cd /autograder/source && bash ./setup.sh \\
 && cp /autograder/source/run_autograder /autograder/run_autograder && chmod 755 /autograder/run_autograder
WORKDIR /autograder
"""


def base_tarball(cache: Path, mirror: str) -> Path:
    """The minbase root file system as a tarball, kept in the clone's own cache folder between runs."""
    key = hashlib.sha256(f"bookworm minbase {mirror}".encode()).hexdigest()[:12]
    tarball = cache / f"bookworm-minbase-{key}.tar"
    if tarball.is_file():
        return tarball
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="debootstrap-", dir=cache))
    try:
        root = work / "rootfs"
        proc = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(root), mirror],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:]
            raise PlatformTestError(f"debootstrap failed: {' '.join(tail)}")
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):   # as the slim images do
            for p in (root / leftover).glob("*"):
                if p.is_file():
                    p.unlink()
        partial = work / "rootfs.tar"
        subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."], check=True)
        os.replace(partial, tarball)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tarball


def build_base(engine: Engine, cache: Path, python: str, servers: registry.LocalServers) -> None:
    tarball = base_tarball(cache, registry.debian_mirror())
    engine.docker("import", str(tarball), "platform-test/bookworm-minbase:latest", timeout=600)
    context = Path(tempfile.mkdtemp(prefix="base-", dir=engine.home))
    (context / "rootfs" / "etc").mkdir(parents=True)
    registry.apt_files(context)
    conf = registry.pip_conf(registry.pip_settings(python), context, servers)
    (context / "rootfs" / "etc" / "pip.conf").write_text(conf)
    (context / "Dockerfile").write_text(
        "FROM platform-test/bookworm-minbase:latest\n"
        "RUN rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*\n"
        "COPY rootfs/ /\n"
        'CMD ["bash"]\n')
    engine.docker("build", "--network", "host", "-t", BASE_TAG, str(context), timeout=BUILD_TIMEOUT_S)


def extract_zip(archive: Path, dest: Path) -> None:
    """What Gradescope's unzip does: the files with their executable bits (zipfile drops them)."""
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            z.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(dest / info.filename, mode)


def build_gradescope(engine: Engine, zip_path: Path, log: Path) -> None:
    context = Path(tempfile.mkdtemp(prefix="gradescope-", dir=engine.home))
    extract_zip(zip_path, context / "source")
    (context / "Dockerfile").write_text(GRADESCOPE_DOCKERFILE.format(base=BASE_TAG))
    _build(engine, context, GS_TAG, log)


def build_prairielearn(engine: Engine, dist_pl: Path, log: Path) -> None:
    """dist/prairielearn/ as `make prairielearn` left it: its own Dockerfile, its own context."""
    _build(engine, dist_pl, PL_TAG, log)


def _build(engine: Engine, context: Path, tag: str, log: Path) -> None:
    with open(log, "w") as out:
        proc = engine.docker("build", "--network", "host", "--pull=false", "-t", tag, str(context),
                             timeout=BUILD_TIMEOUT_S, check=False, capture=False,
                             stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise PlatformTestError(f"building {tag} failed (log: {log}): {' | '.join(tail)}")
