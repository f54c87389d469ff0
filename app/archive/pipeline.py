"""Archive one claimed recording: download, upload, confirm, then delete the original.

The order is the whole point. The provider's copy is deleted only after the
store has confirmed the object (size, and a checksum where it reports one),
and each finished step is committed before the next begins: a worker that
dies after the upload resumes at the delete, without downloading again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from queue import Queue
from typing import TypeVar

import requests
import urllib3
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.archive import queue
from app.archive.errors import (
    ArchiveError,
    LeaseLost,
    PermanentError,
    RetryableError,
    WorkerStopping,
)
from app.archive.storage import PART_SIZE, ArchiveStore, StorageError, StoredObject
from app.config import Settings
from app.db import transaction, utcnow
from app.providers import api_clients
from app.providers.compat_api import CONTENT_TYPES, CompatibilityApi

log = logging.getLogger(__name__)
T = TypeVar("T")

# A database that restarts under us is waited for this long before giving up
# the step (the lease then hands the recording to whoever comes next).
DB_RETRY_DELAYS = (0.5, 1, 2, 4, 8)


class _Digests:
    """The SHA-256 of the whole and the MD5 of each ``PART_SIZE`` part, on a thread.

    hashlib releases the GIL on large buffers, so hashing here overlaps the
    download and the upload instead of adding to them (measured: ~70 ms per
    20 MB saved from the critical path). The queue is short, so at most a
    couple of chunks wait for it.
    """

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.part_md5s: list[bytes] = []
        self._part = hashlib.md5(usedforsecurity=False)
        self._part_fill = 0
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
        if self._part_fill:
            self.part_md5s.append(self._part.digest())
            self._part_fill = 0

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            self.sha256.update(data)
            view = memoryview(data)
            while view:
                take = min(len(view), PART_SIZE - self._part_fill)
                self._part.update(view[:take])
                self._part_fill += take
                view = view[take:]
                if self._part_fill == PART_SIZE:
                    self.part_md5s.append(self._part.digest())
                    self._part = hashlib.md5(usedforsecurity=False)
                    self._part_fill = 0


class HashingReader:
    """A file-like view of a streaming HTTP body that hashes what passes through.

    boto3 reads it part by part, so only a few parts are ever in memory. It
    has the SHA-256 (our metadata and record) and each part's MD5 (to check
    an S3 ETag) computed, counts the bytes against ``Content-Length``, renews
    the lease now and then, and stops the transfer when the worker is asked to
    shut down. ``close()`` it when done with it, whatever happened.
    """

    def __init__(
        self,
        response: requests.Response,
        *,
        stop: threading.Event,
        heartbeat: Callable[[], None],
        heartbeat_every: float,
    ) -> None:
        self._raw = response.raw
        length = response.headers.get("Content-Length")
        self.expected = int(length) if length and length.isdigit() else None
        self.size = 0
        self._digests = _Digests()
        self._stop = stop
        self._heartbeat = heartbeat
        self._heartbeat_every = heartbeat_every
        self._last_beat = time.monotonic()
        self.done = False

    @property
    def sha256(self) -> str:
        assert self.done, "the digest is only known once the whole body was read"
        return self._digests.sha256.hexdigest()

    @property
    def part_md5s(self) -> list[bytes]:
        assert self.done
        return self._digests.part_md5s

    def read(self, size: int = -1) -> bytes:
        if self._stop.is_set():
            raise WorkerStopping(
                "stopping: transfer abandoned, the recording goes back to the queue"
            )
        if time.monotonic() - self._last_beat > self._heartbeat_every:
            self._heartbeat()
            self._last_beat = time.monotonic()
        try:
            data = self._raw.read(size if size and size > 0 else PART_SIZE, decode_content=True)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise RetryableError(
                f"download broke after {self.size} bytes: {type(exc).__name__}"
            ) from exc
        if not data:
            self._finish()
            return b""
        self.size += len(data)
        self._digests.feed(data)
        return bytes(data)

    def close(self) -> None:
        self._digests.close()

    def _finish(self) -> None:
        if self.done:
            return
        self._digests.close()
        self.done = True
        if self.expected is not None and self.size != self.expected:
            raise RetryableError(
                f"download ended after {self.size} of {self.expected} bytes (Content-Length)"
            )

    def etag_matches(self, etag: str) -> bool | None:
        """Does an S3 ETag describe these bytes? None when it cannot say.

        A single-part upload's ETag is the MD5 of the bytes; a multipart one is
        the MD5 of the parts' MD5s, then ``-N``. Any other form (SSE-KMS, or a
        store's own scheme) proves nothing either way.
        """
        head, _, parts = etag.partition("-")
        if len(head) != 32:
            return None
        if parts:
            combined = hashlib.md5(b"".join(self.part_md5s), usedforsecurity=False)
            return etag == f"{combined.hexdigest()}-{len(self.part_md5s)}"
        if len(self.part_md5s) == 1:
            return head == self.part_md5s[0].hex()
        return None  # a plain ETag on a multipart upload: the store copied it its own way


def build_key(settings: Settings, claim: queue.Claim, ext: str) -> str:
    """The object key: unique to the recording, dated by its start (UTC)."""
    when = claim.started_at or claim.created_at
    return settings.s3_key_template.format(
        prefix=settings.s3_prefix,
        provider=claim.provider,
        account_sid=claim.account_sid,
        yyyy=f"{when.year:04d}",
        mm=f"{when.month:02d}",
        dd=f"{when.day:02d}",
        recording_sid=claim.recording_sid,
        call_sid=claim.call_sid or "no-call",
        ext=ext,
    )


def object_metadata(claim: queue.Claim, channels: int, sha256: str | None) -> dict[str, str]:
    metadata = {
        "provider": claim.provider,
        "recording-sid": claim.recording_sid,
        "call-sid": claim.call_sid or "",
        "account-sid": claim.account_sid,
        "channels": str(channels),
        "duration": "" if claim.duration_seconds is None else str(claim.duration_seconds),
        "started-at": claim.started_at.isoformat() if claim.started_at else "",
    }
    if claim.conference_sid:
        metadata["conference-sid"] = claim.conference_sid
    if sha256:
        metadata["sha256"] = sha256
    return metadata


def backoff_seconds(settings: Settings, attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter, capped; never sooner than ``Retry-After``."""
    base = settings.archive_retry_base_seconds * 2.0 ** max(0, attempts - 1)
    delay = min(settings.archive_retry_max_seconds, base) * random.uniform(0.5, 1.5)
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.archive_retry_max_seconds))
    return delay


def _as_archive_error(exc: BaseException) -> ArchiveError | None:
    """Find our own error inside what boto3 or requests wrapped it in."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ArchiveError | WorkerStopping | LeaseLost):
            return seen if isinstance(seen, ArchiveError) else None
        seen = seen.__cause__ or seen.__context__
    return None


class Archiver:
    """Runs the pipeline for claimed recordings; one per worker process."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        store: ArchiveStore,
        worker_id: str,
        stop: threading.Event | None = None,
        providers: dict[str, CompatibilityApi] | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.store = store
        self.worker_id = worker_id
        self.stop = stop or threading.Event()
        self.providers = api_clients(settings) if providers is None else providers

    # -- transactions, one per step -------------------------------------------------

    def _write(self, step: Callable[[Session], T]) -> T:
        """Run one short transaction, riding out a database restart."""
        for delay in (*DB_RETRY_DELAYS, None):
            try:
                with transaction(self.sessions) as session:
                    return step(session)
            except OperationalError as exc:
                if delay is None:
                    raise
                log.warning("database unavailable (%s); retrying in %ss", type(exc).__name__, delay)
                self.stop.wait(delay)
        raise AssertionError("unreachable")

    def _held(self, step: Callable[[Session], bool]) -> None:
        if not self._write(step):
            raise LeaseLost("another worker holds this recording now")

    # -- the loop body -----------------------------------------------------------------

    def claim(self) -> queue.Claim | None:
        lease = self.settings.archive_lease_seconds
        return self._write(lambda s: queue.claim_next(s, self.worker_id, lease))

    def run_once(self) -> bool:
        """Claim and archive one recording; False when there was nothing to do."""
        claim = self.claim()
        if claim is None:
            return False
        self.archive_recording(claim)
        return True

    def archive_recording(self, claim: queue.Claim) -> None:
        """Take a claimed recording as far as it can go, and record where it got to."""
        rid, wid = claim.id, self.worker_id
        log.info(
            "archiving %s %s (attempt %d)", claim.provider, claim.recording_sid, claim.attempts
        )
        try:
            if claim.attempts > self.settings.archive_max_attempts:
                # Claimed back after a worker died mid-way on the last try.
                raise PermanentError(
                    f"gave up after {claim.attempts - 1} tries (the last worker did not finish)"
                )
            resumed = claim.archived_at is not None
            if not resumed:
                claim = self._copy_to_store(claim)
            if self.settings.delete_original and claim.original_deleted_at is None:
                self._delete_original(claim, recheck=resumed)
            self._held(lambda s: queue.mark_done(s, rid, wid))
            log.info("archived %s %s", claim.provider, claim.recording_sid)
        except LeaseLost:
            log.warning("lost the lease on %s; leaving it to its new holder", claim.recording_sid)
        except WorkerStopping:
            log.info("stopping: giving %s back to the queue", claim.recording_sid)
            self._write(lambda s: queue.release(s, rid, wid))
        except Exception as exc:
            error = _as_archive_error(exc)
            if self.stop.is_set() and (error is None or error.retryable):
                # Interrupted by the shutdown (a read cut short, say): not a real try.
                log.info("stopping: giving %s back to the queue (%s)", claim.recording_sid, exc)
                self._write(lambda s: queue.release(s, rid, wid))
                return
            if error is None:
                # Unexpected (a bug, or an S3/boto error): retry, but say what it was.
                log.exception("unexpected error archiving %s", claim.recording_sid)
                error = RetryableError(f"{type(exc).__name__}: {exc}")
            self._record_failure(claim, error)

    def _record_failure(self, claim: queue.Claim, error: ArchiveError) -> None:
        rid, wid = claim.id, self.worker_id
        if error.retryable and claim.attempts < self.settings.archive_max_attempts:
            delay = backoff_seconds(self.settings, claim.attempts, error.retry_after)
            at = utcnow() + dt.timedelta(seconds=delay)
            log.warning(
                "attempt %d/%d for %s failed: %s; next try in %.1fs",
                claim.attempts,
                self.settings.archive_max_attempts,
                claim.recording_sid,
                error.message,
                delay,
            )
            self._write(lambda s: queue.schedule_retry(s, rid, wid, error.message, at))
        else:
            log.error(
                "%s failed after %d attempt(s): %s",
                claim.recording_sid,
                claim.attempts,
                error.message,
            )
            self._write(lambda s: queue.mark_failed(s, rid, wid, error.message))

    # -- the steps -------------------------------------------------------------------------

    def _provider(self, claim: queue.Claim) -> CompatibilityApi:
        client = self.providers.get(claim.provider)
        if client is None:
            raise PermanentError(f"{claim.provider} is not configured (no credentials)")
        if client.account_sid != claim.account_sid:
            raise PermanentError(f"account {claim.account_sid} is not the configured account")
        return client

    def _recording_url(self, claim: queue.Claim, client: CompatibilityApi) -> str:
        if not claim.media_url:
            raise PermanentError("the callback gave no RecordingUrl")
        return client.checked_recording_url(claim.media_url, claim.account_sid, claim.recording_sid)

    def _heartbeat(self, claim: queue.Claim) -> Callable[[], None]:
        def beat() -> None:
            lease = self.settings.archive_lease_seconds
            self._held(lambda s: queue.renew_lease(s, claim.id, self.worker_id, lease))

        return beat

    def _copy_to_store(self, claim: queue.Claim) -> queue.Claim:
        client = self._provider(claim)
        url = self._recording_url(claim, client)
        fmt = self.settings.recording_format
        content_type = CONTENT_TYPES[fmt]
        key = build_key(self.settings, claim, fmt)
        response, channels = client.open_media(url, fmt, claim.channels)
        with response:
            reader = HashingReader(
                response,
                stop=self.stop,
                heartbeat=self._heartbeat(claim),
                heartbeat_every=self.settings.archive_lease_seconds / 3,
            )
            try:
                self.store.put_stream(
                    key,
                    reader,  # type: ignore[arg-type]
                    content_type=content_type,
                    metadata=object_metadata(claim, channels, None),
                )
            except (StorageError, ClientError, BotoCoreError, S3UploadFailedError) as exc:
                wrapped = _as_archive_error(exc)
                if wrapped is not None:
                    raise wrapped from exc
                raise RetryableError(f"upload failed: {exc}") from exc
            finally:
                reader.close()
            if not reader.done:
                raise RetryableError("the store stopped reading before the end of the download")
        sha256 = reader.sha256
        try:
            self.store.set_metadata(
                key, content_type=content_type, metadata=object_metadata(claim, channels, sha256)
            )
            stored = self.store.stat(key)
        except (StorageError, ClientError, BotoCoreError) as exc:
            raise RetryableError(f"confirming the upload failed: {exc}") from exc
        self._confirm(stored, key, reader.size, sha256, reader)
        self._held(
            lambda s: queue.mark_archived(
                s,
                claim.id,
                self.worker_id,
                bucket=self.store.location,
                key=key,
                size_bytes=reader.size,
                sha256=sha256,
                channels=channels,
            )
        )
        return dataclasses.replace(claim, key=key, size_bytes=reader.size, sha256=sha256)

    def _confirm(
        self,
        stored: StoredObject | None,
        key: str,
        size: int,
        sha256: str,
        reader: HashingReader | None = None,
    ) -> None:
        """Raise unless the store holds exactly the bytes we sent."""
        if stored is None:
            raise RetryableError(f"{key} is not in the store after the upload")
        if stored.size != size:
            raise RetryableError(f"{key} holds {stored.size} bytes, expected {size}")
        if stored.sha256 is not None and stored.sha256 != sha256:
            raise RetryableError(f"{key} SHA-256 {stored.sha256} does not match {sha256}")
        if stored.metadata.get("sha256") != sha256:
            raise RetryableError(f"{key} metadata sha256 does not match the bytes sent")
        if (
            reader is not None
            and stored.etag
            and self.settings.s3_sse != "aws:kms"
            and reader.etag_matches(stored.etag) is False
        ):
            raise RetryableError(f"{key} ETag {stored.etag} does not match the bytes sent")

    def _delete_original(self, claim: queue.Claim, *, recheck: bool) -> None:
        """Delete the provider's copy; ``recheck`` the archive first on a resumed claim.

        A copy confirmed moments ago in this run needs no second look; one
        archived by an earlier try may have been touched since, and nothing
        but a confirmed copy may stand in for the original.
        """
        client = self._provider(claim)
        url = self._recording_url(claim, client)
        if recheck:
            assert claim.key is not None and claim.size_bytes is not None and claim.sha256
            try:
                stored = self.store.stat(claim.key)
            except (StorageError, ClientError, BotoCoreError) as exc:
                raise RetryableError(f"checking the archive before deleting failed: {exc}") from exc
            if stored is None:
                self._held(lambda s: queue.forget_archive(s, claim.id, self.worker_id))
                raise RetryableError(f"{claim.key} vanished before the original was deleted")
            self._confirm(stored, claim.key, claim.size_bytes, claim.sha256)
        deleted = client.delete_recording(url)
        if not deleted:
            log.info("original of %s was already gone (404)", claim.recording_sid)
        self._held(lambda s: queue.mark_original_deleted(s, claim.id, self.worker_id))
