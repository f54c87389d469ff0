"""The download as a file-like stream that hashes and counts what passes through."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from queue import Queue

from app.archive.errors import RetryableError, WorkerStopping
from app.providers.base import MediaStream
from app.storage import UploadCheck

DEFAULT_READ = 8 * 1024 * 1024


class _Digests:
    """The SHA-256 of the whole, and the store's own check, computed on a thread.

    hashlib releases the GIL on large buffers, so hashing here overlaps the
    download and the upload instead of adding to them (measured: ~70 ms per
    20 MB saved from the critical path). The queue is short, so at most a
    couple of chunks wait for it.
    """

    def __init__(self, check: UploadCheck | None) -> None:
        self.sha256 = hashlib.sha256()
        self._check = check
        self._queue: Queue[bytes | None] = Queue(maxsize=2)
        self._thread = threading.Thread(target=self._run, name="digests", daemon=True)
        self._thread.start()
        self._closed = False

    def feed(self, data: bytes) -> None:
        self._queue.put(data)

    def close(self) -> None:
        """Wait for what was fed; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            self.sha256.update(data)
            if self._check is not None:
                self._check.update(data)


class HashingReader:
    """A file-like view of a streaming download that hashes what passes through.

    The store reads it part by part, so only a few parts are ever in memory.
    It computes the SHA-256 (our metadata and record) and the store's own
    upload check, counts the bytes against ``Content-Length``, renews the
    lease now and then, and stops the transfer when the worker is asked to
    shut down. ``close()`` it when done with it, whatever happened.
    """

    def __init__(
        self,
        media: MediaStream,
        *,
        stop: threading.Event,
        heartbeat: Callable[[], None],
        heartbeat_every: float,
        check: UploadCheck | None = None,
    ) -> None:
        self._media = media
        self.expected = media.content_length
        self.size = 0
        self.check = check
        self._digests = _Digests(check)
        self._stop = stop
        self._heartbeat = heartbeat
        self._heartbeat_every = heartbeat_every
        self._last_beat = time.monotonic()
        self.done = False
        self.finished_at: float | None = None  # time.monotonic() at the last byte

    @property
    def sha256(self) -> str:
        assert self.done, "the digest is only known once the whole body was read"
        return self._digests.sha256.hexdigest()

    def read(self, size: int = -1) -> bytes:
        if self._stop.is_set():
            raise WorkerStopping(
                "stopping: transfer abandoned, the recording goes back to the queue"
            )
        if time.monotonic() - self._last_beat > self._heartbeat_every:
            self._heartbeat()
            self._last_beat = time.monotonic()
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
        self._digests.close()
        self.done = True
        self.finished_at = time.monotonic()
        if self.expected is not None and self.size != self.expected:
            raise RetryableError(
                f"download ended after {self.size} of {self.expected} bytes (Content-Length)"
            )
