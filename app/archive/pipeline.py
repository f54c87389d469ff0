"""Archive one claimed recording: download, upload, confirm, then delete the original.

The order is the whole point. The provider's copy is deleted only after the
store has confirmed the object (size, and a checksum where it reports one),
and each finished step is committed before the next begins: a worker that
dies after the upload resumes at the delete, without downloading again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import BinaryIO, TypeVar, cast

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.archive.errors import (
    DATABASE,
    STORE,
    ArchiveError,
    LeaseLost,
    PermanentError,
    RetryableError,
    WorkerStopping,
    as_archive_error,
    dependency_down,
    statement_failure,
)
from app.archive.hashing import HashingReader
from app.archive.naming import CONTENT_TYPES, build_key, object_metadata
from app.archive.retry import backoff_seconds, riding_out_database_restarts
from app.config import Settings
from app.db import run_retrying_once_on_disconnect, transaction, utcnow
from app.providers import api_clients
from app.providers.base import MediaRef, MediaStream, ProviderApi
from app.recordings import queue, stats
from app.recordings.models import AttemptOutcome
from app.storage import ArchiveStore, StorageError
from app.telemetry import recording_context

log = logging.getLogger(__name__)
T = TypeVar("T")

# The longest wait between two looks at a store or database that is away.
MAX_OUTAGE_WAIT = 15.0


class Archiver:
    """Runs the pipeline for claimed recordings; one per worker process."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        store: ArchiveStore,
        worker_id: str,
        stop: threading.Event | None = None,
        providers: Mapping[str, ProviderApi] | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.store = store
        self.worker_id = worker_id
        self.stop = stop or threading.Event()
        self.providers = api_clients(settings) if providers is None else providers
        self._media: MediaStream | None = None  # the current claim's download

    # -- transactions, one per step -------------------------------------------------

    def _write(self, step: Callable[[Session], T]) -> T:
        """Run one short transaction, riding out a database restart."""

        def attempt() -> T:
            with transaction(self.sessions) as session:
                return step(session)

        # A connection that died in a restart since its last use is not the
        # database being away: once more at once, on a fresh one, before waiting.
        return riding_out_database_restarts(
            lambda: run_retrying_once_on_disconnect(attempt), self.stop
        )

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
        with recording_context(claim.request_id, f"{claim.provider}:{claim.recording_sid}"):
            self.archive_recording(claim)
        return True

    def _end(self, claim: queue.Claim) -> queue.AttemptEnd:
        media = self._media
        return queue.AttemptEnd(
            claim.attempt_id,
            bytes_moved=media.received if media is not None else None,
            archived_bytes=self._archived_bytes,
            download_seconds=self._download_seconds,
            upload_seconds=self._upload_seconds,
        )

    def archive_recording(self, claim: queue.Claim) -> None:
        """Take a claimed recording as far as it can go, and record where it got to."""
        rid, wid = claim.id, self.worker_id
        self._media = None
        self._archived_bytes: int | None = None
        self._download_seconds: float | None = None
        self._upload_seconds: float | None = None
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
            self._held(lambda s: queue.mark_done(s, rid, wid, self._end(claim)))
            log.info("archived %s %s", claim.provider, claim.recording_sid)
        except LeaseLost:
            log.warning("lost the lease on %s; leaving it to its new holder", claim.recording_sid)
            end = self._end(claim)
            self._write(
                lambda s: queue.close_attempt(
                    s, end, AttemptOutcome.LEASE_LOST, "another worker took the recording over"
                )
            )
        except WorkerStopping:
            log.info("stopping: giving %s back to the queue", claim.recording_sid)
            self._write(lambda s: queue.release(s, rid, wid, self._end(claim)))
        except Exception as exc:
            down = dependency_down(exc)
            if down == STORE and self._answers(STORE):
                # The store answers: the failure was this request's own (an
                # option it refuses, a 5xx for this object), a real try.
                down = None
            refused = self.database_refused(exc) if down == DATABASE else None
            if refused is not None:
                down = None
            if down is not None:
                self._give_back_while_down(claim, down, exc)
                return
            error = refused or as_archive_error(exc)
            if self.stop.is_set() and (error is None or error.retryable):
                # Interrupted by the shutdown (a read cut short, say): not a real try.
                log.info("stopping: giving %s back to the queue (%s)", claim.recording_sid, exc)
                self._write(lambda s: queue.release(s, rid, wid, self._end(claim)))
                return
            if error is None:
                # Unexpected (a bug): retry, but say what it was.
                log.exception("unexpected error archiving %s", claim.recording_sid)
                error = RetryableError(f"{type(exc).__name__}: {exc}")
            self._record_failure(claim, error)

    # -- our own outages: never a recording's try -----------------------------------

    def _give_back_while_down(self, claim: queue.Claim, down: str, exc: BaseException) -> None:
        """The store or the database is away: give the recording back with no try
        counted, and claim nothing more until it answers again (a circuit breaker
        for the whole worker). With the store away the claim goes back first (the
        database answers); with the database away, once it is back."""
        rid, wid = claim.id, self.worker_id
        reason = f"the {down} was unavailable ({type(exc).__name__})"
        end = self._end(claim)
        if down == STORE:
            try:
                self._write(lambda s: queue.release(s, rid, wid, end, reason))
            except OperationalError:
                down = DATABASE
        outage = self._wait_until_up(down)
        if down == DATABASE and not self.stop.is_set():
            self._held_or_lost(lambda s: queue.release(s, rid, wid, end, reason))
        if outage is not None:
            self._write(
                lambda s: stats.add(s, {(stats.OUTAGES, stats.labels(dependency=down)): 1.0})
            )

    def _held_or_lost(self, step: Callable[[Session], bool]) -> None:
        try:
            self._held(step)
        except LeaseLost:
            log.warning("another worker took the recording over while the database was away")

    def _probe(self, dependency: str) -> None:
        if dependency == STORE:
            self.store.probe()
            return

        def select_1() -> None:
            with self.sessions() as session:
                session.execute(text("SELECT 1"))

        # A dead pooled connection says nothing about whether the database answers.
        run_retrying_once_on_disconnect(select_1)

    def database_refused(self, exc: BaseException) -> RetryableError | None:
        """The recording's own failure when the database answered but refused its
        statement (a statement or lock time-out, a deadlock); None when the
        database is really away. A fresh connection's SELECT 1 decides: given
        back with no try, a recording that always fails so would cycle forever."""
        refused = statement_failure(exc)
        if refused is None or not self._answers(DATABASE):
            return None
        return refused

    def _answers(self, dependency: str) -> bool:
        try:
            self._probe(dependency)
        except (StorageError, OperationalError):
            return False
        return True

    def _wait_until_up(self, dependency: str) -> float | None:
        """Wait, probing with backoff, until ``dependency`` answers (or the worker stops);
        how long it was away, or None when it answered at once."""
        started = time.monotonic()
        delay = 0.5
        warned = False
        while not self.stop.is_set():
            try:
                self._probe(dependency)
                break
            except (StorageError, OperationalError) as exc:
                if not warned:
                    log.warning(
                        "the %s is unavailable (%s): claiming nothing until it answers",
                        dependency,
                        type(exc).__name__,
                    )
                    warned = True
            self.stop.wait(delay)
            delay = min(delay * 2, MAX_OUTAGE_WAIT)
        if not warned:
            return None
        away = time.monotonic() - started
        if not self.stop.is_set():
            log.warning("the %s answers again after %.1fs; claiming again", dependency, away)
        return away

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
            end = self._end(claim)
            self._write(lambda s: queue.schedule_retry(s, rid, wid, error.message, at, end))
        else:
            log.error(
                "%s failed after %d attempt(s): %s",
                claim.recording_sid,
                claim.attempts,
                error.message,
            )
            end = self._end(claim)
            self._write(lambda s: queue.mark_failed(s, rid, wid, error.message, end))

    # -- the steps -------------------------------------------------------------------------

    def _provider(self, claim: queue.Claim) -> ProviderApi:
        client = self.providers.get(claim.provider)
        if client is None:
            raise PermanentError(f"{claim.provider} is not configured (no credentials)")
        if not client.handles(claim.account_sid):
            raise PermanentError(f"account {claim.account_sid} is not the configured account")
        return client

    def _heartbeat(self, claim: queue.Claim) -> Callable[[], None]:
        def beat() -> None:
            lease = self.settings.archive_lease_seconds
            self._held(lambda s: queue.renew_lease(s, claim.id, self.worker_id, lease))

        return beat

    def _copy_to_store(self, claim: queue.Claim) -> queue.Claim:
        """Stream the media into the store, confirm the copy, record it as archived."""
        client = self._provider(claim)
        started = time.monotonic()
        # The key first: nothing may fail between opening the download and the
        # ``try`` that closes it, or each try leaks an open connection.
        wanted = self.settings.recording_format
        key = build_key(self.settings, claim, wanted)
        media = self._media = client.open_media(_media_ref(claim), wanted)
        try:
            if media.fmt != wanted:  # the provider chose (Telnyx serves what it recorded)
                key = build_key(self.settings, claim, media.fmt)
            content_type = CONTENT_TYPES[media.fmt]
            reader = HashingReader(
                media,
                stop=self.stop,
                heartbeat=self._heartbeat(claim),
                heartbeat_every=self.settings.archive_lease_seconds / 3,
                check=self.store.new_upload_check(),
            )
            try:
                self.store.put_stream(
                    key,
                    cast(BinaryIO, reader),
                    content_type=content_type,
                    metadata=object_metadata(claim, media.channels, None),
                )
            finally:
                reader.close()
        finally:
            media.close()
        if not reader.done:
            raise RetryableError("the store stopped reading before the end of the download")
        sha256 = reader.sha256
        metadata = object_metadata(claim, media.channels, sha256)
        self.store.set_metadata(key, content_type=content_type, metadata=metadata)
        self.store.confirm(key, reader.size, sha256, reader.check)
        assert reader.finished_at is not None
        self._download_seconds = reader.finished_at - started
        self._upload_seconds = time.monotonic() - reader.finished_at
        self._archived_bytes = reader.size
        self._held(
            lambda s: queue.mark_archived(
                s,
                claim.id,
                self.worker_id,
                bucket=self.store.location,
                key=key,
                size_bytes=reader.size,
                sha256=sha256,
                channels=media.channels,
            )
        )
        return dataclasses.replace(claim, key=key, size_bytes=reader.size, sha256=sha256)

    def _delete_original(self, claim: queue.Claim, *, recheck: bool) -> None:
        """Delete the provider's copy; ``recheck`` the archive first on a resumed claim.

        A copy confirmed moments ago in this run needs no second look; one
        archived by an earlier try may have been touched since, and nothing
        but a confirmed copy may stand in for the original.
        """
        client = self._provider(claim)
        if recheck:
            assert claim.key is not None and claim.size_bytes is not None and claim.sha256
            if self.store.stat(claim.key) is None:
                self._held(lambda s: queue.forget_archive(s, claim.id, self.worker_id))
                raise RetryableError(f"{claim.key} vanished before the original was deleted")
            self.store.confirm(claim.key, claim.size_bytes, claim.sha256)
        if not client.delete_original(_media_ref(claim)):
            log.info("original of %s was already gone (404)", claim.recording_sid)
        self._held(lambda s: queue.mark_original_deleted(s, claim.id, self.worker_id))


def _media_ref(claim: queue.Claim) -> MediaRef:
    return MediaRef(
        account_sid=claim.account_sid,
        recording_sid=claim.recording_sid,
        media_url=claim.media_url,
        channels=claim.channels,
    )
