"""A private Docker engine for the platform test: its own folders, socket, config and cgroup parent.

Nothing of the host's Docker setup is used or changed: `--iptables=false --bridge=none` keeps the
daemon off the host's network configuration (builds use `--network host`, runs `--network none`),
`--config-file` and DOCKER_CONFIG point at empty files of ours, and every client call carries our
DOCKER_HOST. stop() ends the daemon by its pid (and the containerd it started, by its pid file),
then unmounts and deletes everything under the run folder, even after a failure.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

DOCKERD = "/usr/sbin/dockerd"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30


class PlatformTestError(Exception):
    """A failure of the test's own machinery (engine, build), reported in one line."""


def ensure_packages() -> None:
    """docker.io and debootstrap from Debian's packages, when missing (root only: CI's fresh machine)."""
    missing = [pkg for pkg, binary in (("docker.io", DOCKERD), ("debootstrap", "/usr/sbin/debootstrap"))
               if not os.access(binary, os.X_OK)]
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise PlatformTestError(f"missing {', '.join(missing)}: install them (apt-get install {' '.join(missing)})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
        if subprocess.run(argv, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            raise PlatformTestError(f"`{' '.join(argv)}` failed")


def docker_client() -> str:
    """The client shipped with the daemon (docker.io's own) when present: same API version."""
    return "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else (shutil.which("docker") or "docker")


@dataclass
class Engine:
    home: Path                       # everything of this engine lives under it
    token: str                       # names its cgroup parent and containers
    proc: subprocess.Popen | None = None
    cgroups: list[str] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": f"unix://{self.home}/docker.sock",
                "DOCKER_CONFIG": str(self.home / "client"), "DOCKER_BUILDKIT": "0"}

    def docker(self, *args: str, timeout: float | None = None, check: bool = True,
               capture: bool = True, text: bool = True, **kw) -> subprocess.CompletedProcess:
        proc = subprocess.run([docker_client(), *args], env=self.env, timeout=timeout, text=text,
                              capture_output=capture, **kw)
        if check and proc.returncode != 0:
            err = (proc.stderr or proc.stdout or "") if capture else ""
            err = err.decode(errors="replace") if isinstance(err, bytes) else err
            tail = err.strip().splitlines()[-1:]
            raise PlatformTestError(f"docker {args[0]} failed (status {proc.returncode}): {' '.join(tail)}")
        return proc


def start(parent: Path) -> Engine:
    parent.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="engine-", dir=parent))
    engine = Engine(home=home, token=f"platform-test-{os.getpid()}-{home.name[-6:]}")
    for d in ("data", "exec", "client"):
        (home / d).mkdir()
    (home / "daemon.json").write_text("{}\n")
    (home / "client" / "config.json").write_text("{}\n")
    argv = [DOCKERD, "--data-root", str(home / "data"), "--exec-root", str(home / "exec"),
            "--pidfile", str(home / "dockerd.pid"), "-H", f"unix://{home}/docker.sock",
            "--config-file", str(home / "daemon.json"), "--iptables=false", "--ip6tables=false",
            "--ip-forward=false", "--ip-masq=false", "--bridge=none",
            "--exec-opt", "native.cgroupdriver=cgroupfs", "--cgroup-parent", f"/{engine.token}"]
    log = open(home / "dockerd.log", "wb")
    engine.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   start_new_session=True)
    log.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if engine.proc.poll() is not None:
            break
        if engine.docker("version", "--format", "{{.Server.Version}}", check=False, timeout=10).returncode == 0:
            return engine
        time.sleep(0.5)
    tail = (home / "dockerd.log").read_text(errors="replace").strip().splitlines()[-1:]
    stop(engine)
    raise PlatformTestError(f"the private dockerd did not start: {' '.join(tail)}")


def _kill(pid: int, timeout: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def _pid_file(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def stop(engine: Engine) -> None:
    """Containers, daemon, its containerd, leftover mounts, the folders and the cgroups: all ours."""
    if engine.proc is not None and engine.proc.poll() is None:
        ids = engine.docker("ps", "-aq", check=False, timeout=30).stdout.split()
        if ids:
            engine.docker("rm", "-f", *ids, check=False, timeout=120)
        engine.proc.send_signal(signal.SIGTERM)
        try:
            engine.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            engine.proc.kill()
            engine.proc.wait()
    containerd = _pid_file(engine.home / "exec" / "containerd" / "containerd.pid")
    if containerd:        # normally gone with dockerd; only a SIGKILLed daemon leaves it behind
        _kill(containerd, 10)
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for m in sorted((m for m in mounts if m.startswith(str(engine.home) + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
    shutil.rmtree(engine.home, ignore_errors=True)
    remove_cgroups(engine.token)


def cgroup_dirs(name: str) -> list[Path]:
    """Where cgroup `/name` lives: one folder per v1 controller, or the one v2 folder."""
    root = Path("/sys/fs/cgroup")
    found = [root / name] if (root / name).is_dir() else []
    found += [c / name for c in root.iterdir() if c.is_dir() and (c / name).is_dir()]
    return found


def remove_cgroups(token: str) -> None:
    for top in cgroup_dirs(token):
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            try:
                d.rmdir()
            except OSError:
                pass
        try:
            top.rmdir()
        except OSError:
            pass
