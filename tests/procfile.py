"""Run the Procfile's processes exactly as a platform would, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def procfile_commands() -> dict[str, str]:
    commands = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            commands[name.strip()] = command.strip()
    return commands


def proc_stat(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command's name (the first is the
    state, then ppid, pgrp, session, ...; utime and stime are the 12th and 13th), or
    None when the process has gone. The name, in parentheses, may hold spaces and
    parentheses of its own, so the fields start after the last ')'."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()
    except OSError:
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWILIO_", "SIGNALWIRE_", "TELNYX_", "S3_", "ARCHIVE_"))
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("FLASK_DEBUG", None)
    env.update(extra)
    return env


def run_release(env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", procfile_commands()["release"]],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class Process:
    """One Procfile process in its own process group, output to a log file."""

    def __init__(
        self, name: str, env: Mapping[str, str], log_path: Path, command: str | None = None
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.popen = subprocess.Popen(
            ["bash", "-c", "exec " + (command or procfile_commands()[name])],
            cwd=ROOT,
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @classmethod
    def from_command(
        cls, name: str, command: str, env: Mapping[str, str], log_path: Path
    ) -> Process:
        return cls(name, env, log_path, command=command)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 20) -> int:
        self.signal(signal.SIGTERM)
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            code = self.popen.wait(5)
        self._log.close()
        return code


def wait_until_serving(
    base_url: str, process: Process, timeout: float = 30, path: str | None = "/healthz"
) -> None:
    """Poll until the server answers (any status when ``path`` is None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited:\n{process.log()}")
        try:
            response = requests.get(f"{base_url}{path or '/'}", timeout=5)
            if path is None or response.status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or busy starting: poll again
        time.sleep(0.05)
    raise TimeoutError(f"{process.name} did not answer in {timeout}s:\n{process.log()}")


@dataclass(frozen=True)
class Web:
    """A ``web`` process that answers, and where."""

    process: Process
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def web_process(env: Mapping[str, str], log_path: Path, *, release: bool = False) -> Iterator[Web]:
    """The Procfile's ``web`` on a free port (``PORT`` is set here), once it answers;
    ``release`` runs the Procfile's ``release`` first. Stopped however the block ends.

    One gunicorn worker unless ``env`` asks for more (``WEB_CONCURRENCY``): each one
    imports and builds the app (about a CPU-second), and a test that needs two, for
    what the workers share, says so."""
    port = free_port()
    env = {"WEB_CONCURRENCY": "1", **env, "PORT": str(port)}
    if release:
        result = run_release(env)
        assert result.returncode == 0, result.stderr
    process = Process("web", env, log_path)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", process)
        yield Web(process, port)
    finally:
        process.stop()
