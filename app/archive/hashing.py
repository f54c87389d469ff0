"""The download as a file-like stream that hashes and counts what passes through."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from queue import Full, Queue
from typing import BinaryIO

from app.archive.errors import RetryableError, WorkerStopping
from app.providers.base import MediaStream
from app.storage import UploadCheck

DEFAULT_READ = 8 * 1024 * 1024


class _Digests:
    """The SHA-256 of the whole, and the store's own check, computed on a thread,
    which also writes the bytes to the ``sink`` (the spool) when there is one.

    hashlib releases the GIL on large buffers, and so does a file's write, so
    hashing and spooling here overlap the download instead of adding to it
    (the socket is read while the last chunk is hashed and written: a 300 MB
    download 0.5-0.8 s against 1.0-1.3 s with the write on the reading side).
    The queue is short, so at most a few chunks (2 MiB) wait for it.
    """

    # How long one wait on the other side lasts before looking again whether the
    # thread is still there: a wait can never outlive the thread it waits for.
    SLICE_SECONDS = 0.5

    def __init__(self, check: UploadCheck | None, sink: BinaryIO | None = None) -> None:
        self.sha256 = hashlib.sha256()
        self._check = check
        self._sink = sink
        self._queue: Queue[bytes | None] = Queue(maxsize=4)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="digests", daemon=True)
        self._thread.start()
        self._closed = False

    def feed(self, data: bytes) -> None:
        """Queue ``data`` for hashing; raises what ended the hashing thread, if it did."""
        self._put(data)

    def finish(self) -> None:
        """Wait for what was fed; raises what ended the hashing thread, if it did
        (the digest then covers only part of the body)."""
        self.close()
        self._raise_if_failed()

    def close(self) -> None:
        """Wait for what was fed, whatever happened; idempotent, never raises (it runs
        while another error is on its way out)."""
        if self._closed:
            return
        self._closed = True
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=self.SLICE_SECONDS)
                break
            except Full:
                continue
        while self._thread.is_alive():
            self._thread.join(self.SLICE_SECONDS)

    def _put(self, item: bytes | None) -> None:
        while True:
            self._raise_if_failed()
            try:
                self._queue.put(item, timeout=self.SLICE_SECONDS)
                return
            except Full:
                if not self._thread.is_alive():
                    self._raise_if_failed()
                    raise RuntimeError("the digest thread ended before the download did") from None

    def _raise_if_failed(self) -> None:
        if isinstance(self._error, RetryableError):
            raise self._error
        if self._error is not None:
            raise RetryableError(
                f"hashing the download failed: {type(self._error).__name__}: {self._error}"
            ) from self._error

    def _run(self) -> None:
        try:
            while (data := self._queue.get()) is not None:
                self.sha256.update(data)
                if self._check is not None:
                    self._check.update(data)
                if self._sink is not None:
                    self._write(data)
            if self._sink is not None:
                self._sink.flush()
        except Exception as exc:  # noqa: BLE001 - handed to the feeder, who raises it
            self._error = exc

    def _write(self, data: bytes) -> None:
        assert self._sink is not None
        try:
            self._sink.write(data)
        except OSError as exc:
            raise RetryableError(f"spooling the download failed: {exc}") from exc


class _Pace:
    """What every read of a transfer does first, download or upload: stop when the
    worker is asked to shut down, and renew the lease now and then."""

    def __init__(self, stop: threading.Event, heartbeat: Callable[[], None], every: float) -> None:
        self._stop = stop
        self._heartbeat = heartbeat
        self._every = every
        self._last_beat = time.monotonic()

    def step(self) -> None:
        if self._stop.is_set():
            raise WorkerStopping(
                "stopping: transfer abandoned, the recording goes back to the queue"
            )
        if time.monotonic() - self._last_beat > self._every:
            self._heartbeat()
            self._last_beat = time.monotonic()


class HashingReader:
    """A file-like view of a streaming download that hashes what passes through.

    The store reads it part by part, so only a few parts are ever in memory.
    It computes the SHA-256 (our metadata and record) and the store's own
    upload check, counts the bytes against ``Content-Length``, renews the
    lease now and then, and stops the transfer when the worker is asked to
    shut down. With a ``sink``, every byte read is also written there (and
    flushed) by the time the last read returns. ``close()`` it when done with
    it, whatever happened.
    """

    def __init__(
        self,
        media: MediaStream,
        *,
        stop: threading.Event,
        heartbeat: Callable[[], None],
        heartbeat_every: float,
        check: UploadCheck | None = None,
        sink: BinaryIO | None = None,
    ) -> None:
        self._media = media
        self.expected = media.content_length
        self.size = 0
        self.check = check
        self._digests = _Digests(check, sink)
        self._pace = _Pace(stop, heartbeat, heartbeat_every)
        self.done = False
        self.finished_at: float | None = None  # time.monotonic() at the last byte

    @property
    def sha256(self) -> str:
        assert self.done, "the digest is only known once the whole body was read"
        return self._digests.sha256.hexdigest()

    def read(self, size: int = -1) -> bytes:
        self._pace.step()
        data = self._media.read(size if size and size > 0 else DEFAULT_READ)
        if not data:
            self._finish()
            return b""
        self.size += len(data)
        self._digests.feed(data)
        return data

    def close(self) -> None:
        self._digests.close()

    def _finish(self) -> None:
        if self.done:
            return
        self._digests.finish()
        self.done = True
        self.finished_at = time.monotonic()
        if self.expected is not None and self.size != self.expected:
            raise RetryableError(
                f"download ended after {self.size} of {self.expected} bytes (Content-Length)"
            )


class SpoolReader:
    """The spooled download read back for the upload, as a seekable file.

    Seekable so a store may rewind it to send it again; like the download's
    reader it renews the lease now and then and stops the transfer when the
    worker is asked to shut down. ``done`` once a read found the end, and
    ``size`` is then where the end was.
    """

    def __init__(
        self,
        spool: BinaryIO,
        *,
        stop: threading.Event,
        heartbeat: Callable[[], None],
        heartbeat_every: float,
    ) -> None:
        self._spool = spool
        self._pace = _Pace(stop, heartbeat, heartbeat_every)
        self.size = 0
        self.done = False

    def read(self, size: int = -1) -> bytes:
        self._pace.step()
        try:
            data = self._spool.read(size if size and size > 0 else DEFAULT_READ)
            if not data:
                self.size = self._spool.tell()
                self.done = True
        except OSError as exc:
            raise RetryableError(f"reading the spooled download failed: {exc}") from exc
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        self.done = False
        return self._spool.seek(offset, whence)

    def tell(self) -> int:
        return self._spool.tell()
