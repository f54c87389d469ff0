"""Archive one claimed recording: download, upload, confirm, then delete the original.

The order is the whole point. The provider's copy is deleted only after the
store has confirmed the object (size, and a checksum where it reports one),
and each finished step is committed before the next begins: a worker that
dies after the upload resumes at the delete, without downloading again.

The recording is written to the store once: one object version, its
metadata (our SHA-256 included) and its Object Lock retention all in the
upload itself. S3 fixes metadata when an upload starts, and the SHA-256 is
only known after the last byte, so the download is first spooled to an
unlinked temporary file, then uploaded from it. The digests are computed
once, on the way into the spool: our SHA-256, and whatever check the store
asks for (for S3's multipart uploads, the part MD5s its ETag is built from).
The upload only reads the file back, and what the store checks it against
was taken from the downloaded bytes, so it covers the spool too: a byte
changed on disk fails the upload (S3's single PUT carries our SHA-256) or
the confirmation (the ETag). The worker needs free space in its temporary
folder (``TMPDIR``) for the recording in hand.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from typing import BinaryIO, TypeVar, assert_never, cast

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.archive.attempt import (
    Archived,
    Attempt,
    DependencyDown,
    Facts,
    GiveUp,
    LeaseGone,
    Outcome,
    RetryLater,
    Stopping,
    classify,
    dependency_to_probe,
)
from app.archive.errors import (
    DATABASE,
    STORE,
    LeaseLost,
    PermanentError,
    RetryableError,
    statement_failure,
)
from app.archive.hashing import HashingReader, SpoolReader
from app.archive.naming import CONTENT_TYPES, build_key, media_format, object_metadata
from app.archive.outage import OutageBreaker
from app.archive.retry import backoff_seconds, riding_out_database_restarts
from app.config import Settings
from app.db import run_retrying_once_on_disconnect, transaction, utcnow
from app.deliveries.outbox import ARCHIVED, FAILED, notify_settled
from app.providers import api_clients
from app.providers.base import MediaRef, MediaStream, ProviderApi
from app.recordings import queue, stats
from app.recordings.models import AttemptOutcome
from app.storage import ArchiveStore
from app.telemetry import recording_context

log = logging.getLogger(__name__)
T = TypeVar("T")
# Below the worker's 1 MiB mmap threshold (app.worker.bound_heap_growth), so the
# chunks come from the heap and are reused: at 1 MiB each was a mapping of its
# own, faulted in and unmapped again, and the 300 MB download took twice as long.
SPOOL_CHUNK = 512 * 1024


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
        self.breaker = OutageBreaker(store, sessions, self.stop, self._count_outage)

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

    def archive_recording(self, claim: queue.Claim) -> None:
        """Take a claimed recording as far as it can go, and record where it got to."""
        attempt = Attempt(claim)
        log.info(
            "archiving %s %s (attempt %d)", claim.provider, claim.recording_sid, claim.attempts
        )
        try:
            self._take_steps(attempt)
            self._settle(attempt, Archived())  # the done mark may fail like any step
        except Exception as exc:  # noqa: BLE001
            # Every failure ends the try somehow, the unforeseen too (a bug: logged
            # with its traceback and retried); what each means is ``classify``'s to say.
            self._settle(attempt, self._classify(attempt, exc), exc)

    def _take_steps(self, attempt: Attempt) -> None:
        if attempt.claim.attempts > self.settings.archive_max_attempts:
            # Claimed back after a worker died mid-way on the last try.
            raise PermanentError(
                f"gave up after {attempt.claim.attempts - 1} tries (the last worker did not finish)"
            )
        resumed = attempt.resumed
        if not resumed:
            self._copy_to_store(attempt)
        if self.settings.delete_original and attempt.claim.original_deleted_at is None:
            self._delete_original(attempt, recheck=resumed)

    # -- what a try came to, and the one place it is applied ------------------------

    def _classify(self, attempt: Attempt, failure: BaseException) -> Outcome:
        """``classify``, with the probes it needs asked first."""
        probed = dependency_to_probe(failure)
        answers = self.breaker.answers(probed) if probed is not None else None
        facts = Facts(
            attempts=attempt.claim.attempts,
            max_attempts=self.settings.archive_max_attempts,
            stopping=self.stop.is_set(),
            store_answers=answers if probed == STORE else None,
            database_answers=answers if probed == DATABASE else None,
        )
        return classify(failure, facts)

    def _settle(
        self, attempt: Attempt, outcome: Outcome, failure: BaseException | None = None
    ) -> None:
        """Record ``outcome`` through the queue: the try closed, the lease let go."""
        claim, wid = attempt.claim, self.worker_id
        rid, sid = claim.id, claim.recording_sid
        if isinstance(outcome, RetryLater | GiveUp) and outcome.unexpected:
            log.error("unexpected error archiving %s", sid, exc_info=failure)
        match outcome:
            case Archived():
                end = attempt.end()
                self._held(
                    lambda s: queue.mark_done(s, rid, wid, end) and self._notify(s, rid, ARCHIVED)
                )
                if attempt.archived_bytes is None:  # resumed: only the delete was left
                    log.info("archived %s %s", claim.provider, sid)
                else:
                    log.info(
                        "archived %s %s (%d bytes: download %.2f s, upload and confirm %.2f s)",
                        claim.provider,
                        sid,
                        attempt.archived_bytes,
                        attempt.download_seconds or 0.0,
                        attempt.upload_seconds or 0.0,
                    )
            case LeaseGone():
                log.warning("lost the lease on %s; leaving it to its new holder", sid)
                end = attempt.end()
                self._write(
                    lambda s: queue.close_attempt(
                        s, end, AttemptOutcome.LEASE_LOST, "another worker took the recording over"
                    )
                )
            case Stopping(interrupted_by=None):
                log.info("stopping: giving %s back to the queue", sid)
                self._write(lambda s: queue.release(s, rid, wid, attempt.end()))
            case Stopping(interrupted_by=cause):
                log.info("stopping: giving %s back to the queue (%s)", sid, cause)
                self._write(lambda s: queue.release(s, rid, wid, attempt.end()))
            case DependencyDown(dependency=down, reason=reason):
                self._give_back_while_down(attempt, down, reason)
            case RetryLater(message=message):
                at = self._next_try_at(claim, outcome)
                end = attempt.end()
                self._write(lambda s: queue.schedule_retry(s, rid, wid, message, at, end))
            case GiveUp(message=message):
                log.error("%s failed after %d attempt(s): %s", sid, claim.attempts, message)
                end = attempt.end()
                self._write(
                    lambda s: (
                        queue.mark_failed(s, rid, wid, message, end)
                        and self._notify(s, rid, FAILED)
                    )
                )
            case _:  # a new kind of outcome needs its case here: mypy says so
                assert_never(outcome)

    def _notify(self, session: Session, recording_id: int, event_type: str) -> bool:
        """The event of a settled recording, in the transaction that settles it."""
        notify_settled(session, self.settings, recording_id, event_type)
        return True

    def _next_try_at(self, claim: queue.Claim, retry: RetryLater) -> dt.datetime:
        delay = backoff_seconds(self.settings, claim.attempts, retry.retry_after)
        log.warning(
            "attempt %d/%d for %s failed: %s; next try in %.1fs",
            claim.attempts,
            self.settings.archive_max_attempts,
            claim.recording_sid,
            retry.message,
            delay,
        )
        return utcnow() + dt.timedelta(seconds=delay)

    def _give_back_while_down(self, attempt: Attempt, down: str, reason: str) -> None:
        """The store or the database is away: give the recording back with no try
        counted, and claim nothing more until it answers again. With the store away
        the claim goes back first (the database answers); with the database away,
        once it is back."""
        rid, wid = attempt.claim.id, self.worker_id
        end = attempt.end()

        def give_back(session: Session) -> bool:
            return queue.release(session, rid, wid, end, reason)

        if down == STORE:
            try:
                self._write(give_back)
            except OperationalError:
                down = DATABASE
        self.breaker.ride_out(
            down, then=(lambda: self._held_or_lost(give_back)) if down == DATABASE else None
        )

    def _held_or_lost(self, step: Callable[[Session], bool]) -> None:
        try:
            self._held(step)
        except LeaseLost:
            log.warning("another worker took the recording over while the database was away")

    def _count_outage(self, dependency: str) -> None:
        self._write(
            lambda s: stats.add(s, {(stats.OUTAGES, stats.labels(dependency=dependency)): 1.0})
        )

    def database_refused(self, exc: BaseException) -> RetryableError | None:
        """The recording's own failure when the database answered but refused its
        statement (a statement or lock time-out, a deadlock); None when the
        database is really away. A fresh connection's SELECT 1 decides: given
        back with no try, a recording that always fails so would cycle forever."""
        refused = statement_failure(exc)
        if refused is None or not self.breaker.answers(DATABASE):
            return None
        return refused

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

    def _copy_to_store(self, attempt: Attempt) -> None:
        """Download the media, write it to the store in one upload, confirm the copy,
        record it as archived."""
        claim = attempt.claim
        client = self._provider(claim)
        started = time.monotonic()
        # The key first: nothing may fail between opening the download and the
        # ``try`` that closes it, or each try leaks an open connection.
        wanted = media_format(self.settings, claim)
        key = build_key(self.settings, claim, wanted)
        media = attempt.media = client.open_media(_media_ref(claim), wanted)
        with tempfile.TemporaryFile(prefix="recording-archiver-") as spool:
            try:
                if media.fmt != wanted:  # the provider chose (Telnyx serves what it recorded)
                    key = build_key(self.settings, claim, media.fmt)
                downloaded = self._download(claim, media, spool)
            finally:
                media.close()
            finished_at = time.monotonic()
            sha256 = downloaded.sha256
            reader, retain_until = self._upload(claim, spool, media, downloaded.size, key, sha256)
        if not reader.done:
            raise RetryableError("the store stopped reading before the end of the recording")
        if reader.size != downloaded.size:
            raise RetryableError("the spooled copy changed on disk before the upload")
        self.store.confirm(key, reader.size, sha256, downloaded.check)
        attempt.download_seconds = finished_at - started
        attempt.upload_seconds = time.monotonic() - finished_at
        attempt.archived_bytes = reader.size
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
                retain_until=retain_until,
            )
        )
        attempt.claim = dataclasses.replace(claim, key=key, size_bytes=reader.size, sha256=sha256)

    def _download(self, claim: queue.Claim, media: MediaStream, spool: BinaryIO) -> HashingReader:
        """Spool the whole download into ``spool``, hashing it (our SHA-256 and the
        store's upload check) and renewing the lease."""
        reader = HashingReader(
            media,
            stop=self.stop,
            heartbeat=self._heartbeat(claim),
            heartbeat_every=self.settings.archive_lease_seconds / 3,
            check=self.store.new_upload_check(media.content_length),
            sink=spool,  # written on the digest thread, while the next chunk comes in
        )
        try:
            while reader.read(SPOOL_CHUNK):
                pass
        finally:
            reader.close()
        spool.seek(0)
        return reader

    def _upload(
        self,
        claim: queue.Claim,
        spool: BinaryIO,
        media: MediaStream,
        size: int,
        key: str,
        sha256: str,
    ) -> tuple[SpoolReader, dt.datetime | None]:
        """Upload the ``spool`` of ``media`` (``size`` bytes) to ``key`` with its
        metadata and retention, renewing the lease as it goes (no hashing: the
        download did it); the reader, and the end of the retention the object was
        written with."""
        reader = SpoolReader(
            spool,
            stop=self.stop,
            heartbeat=self._heartbeat(claim),
            heartbeat_every=self.settings.archive_lease_seconds / 3,
        )
        retain_until = self.store.put_stream(
            key,
            cast(BinaryIO, reader),
            content_type=CONTENT_TYPES[media.fmt],
            metadata=object_metadata(claim, media.channels, sha256),
            size=size,
            sha256=sha256,
        )
        return reader, retain_until

    def _delete_original(self, attempt: Attempt, *, recheck: bool) -> None:
        """Delete the provider's copy; ``recheck`` the archive first on a resumed claim.

        A copy confirmed moments ago in this run needs no second look; one
        archived by an earlier try may have been touched since, and nothing
        but a confirmed copy may stand in for the original.

        The delete is recorded in the transaction that ends the try (the done
        mark, or whatever else ends it), not in one of its own: a worker that
        dies in between leaves the recording archived with its original not
        marked deleted, and the next claim deletes again, which the provider
        answers 404 (already gone), and marks it done then.
        """
        claim = attempt.claim
        client = self._provider(claim)
        if recheck:
            assert claim.key is not None and claim.size_bytes is not None and claim.sha256
            if self.store.stat(claim.key) is None:
                self._held(lambda s: queue.forget_archive(s, claim.id, self.worker_id))
                raise RetryableError(f"{claim.key} vanished before the original was deleted")
            self.store.confirm(claim.key, claim.size_bytes, claim.sha256)
        if not client.delete_original(_media_ref(claim)):
            log.info("original of %s was already gone (404)", claim.recording_sid)
        attempt.original_deleted_at = utcnow()


def _media_ref(claim: queue.Claim) -> MediaRef:
    return MediaRef(
        account_sid=claim.account_sid,
        recording_sid=claim.recording_sid,
        media_url=claim.media_url,
        channels=claim.channels,
    )
