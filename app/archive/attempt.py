"""One try at archiving one claim: what it knows, what it did, and what its end means.

The pipeline runs the steps and, whatever happens, asks ``classify`` once what
the try came to; the pipeline then applies that outcome in one place. The
classifier is pure: whatever it needs from the world (whether the store or the
database answers a probe, whether the worker is stopping) is asked first and
handed to it as ``Facts``, so every way a try can end is a row in a table test.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from app.archive.errors import (
    DATABASE,
    STORE,
    LeaseLost,
    RetryableError,
    WorkerStopping,
    as_archive_error,
    dependency_down,
    statement_failure,
)
from app.providers.base import MediaStream
from app.recordings import queue


@dataclass
class Attempt:
    """The state of the current try, kept off the ``Archiver`` so no try sees another's
    (its row in the database is ``app.recordings.models.ArchiveAttempt``)."""

    claim: queue.Claim  # updated with the key, size and digest once the copy is confirmed
    media: MediaStream | None = None  # this try's download, once opened
    archived_bytes: int | None = None  # the size of the copy this try confirmed
    download_seconds: float | None = None
    upload_seconds: float | None = None
    # When this try deleted the provider's original (or found it gone): written
    # with the try's end, whatever the outcome (``queue.AttemptEnd``).
    original_deleted_at: dt.datetime | None = None

    @property
    def resumed(self) -> bool:
        """An earlier try already archived the recording: only the delete is left."""
        return self.claim.archived_at is not None

    def end(self) -> queue.AttemptEnd:
        """How far this try got, for its row in archive_attempts and the totals."""
        return queue.AttemptEnd(
            self.claim.attempt_id,
            bytes_moved=self.media.received if self.media is not None else None,
            archived_bytes=self.archived_bytes,
            download_seconds=self.download_seconds,
            upload_seconds=self.upload_seconds,
            original_deleted_at=self.original_deleted_at,
        )


# -- what a try came to ----------------------------------------------------------------


@dataclass(frozen=True)
class Archived:
    """Copied, confirmed and (where configured) the original deleted; marked done."""


@dataclass(frozen=True)
class LeaseGone:
    """Another worker took the recording over: close this try, touch nothing else."""


@dataclass(frozen=True)
class Stopping:
    """The worker is shutting down mid-try: given back, no try counted."""

    interrupted_by: str | None = None  # the failure the shutdown caused, if one did


@dataclass(frozen=True)
class DependencyDown:
    """Our own store or database is away: given back with no try counted, and the
    worker claims nothing more until it answers (see ``app.archive.outage``)."""

    dependency: str  # STORE or DATABASE
    reason: str


@dataclass(frozen=True)
class RetryLater:
    """The recording's own failure, with tries left: queued again after a backoff."""

    message: str
    retry_after: float | None = None  # the provider's Retry-After: the backoff's floor
    unexpected: bool = False  # nobody foresaw it (a bug): logged with its traceback


@dataclass(frozen=True)
class GiveUp:
    """Failed for good: no tries left, or another cannot help."""

    message: str
    unexpected: bool = False


Outcome = Archived | LeaseGone | Stopping | DependencyDown | RetryLater | GiveUp


@dataclass(frozen=True)
class Facts:
    """What the classifier may know beyond the failure itself, asked just before."""

    attempts: int  # this try's number
    max_attempts: int
    stopping: bool = False  # the worker's stop event was set
    store_answers: bool | None = None  # a fresh probe's answer; None: not asked
    database_answers: bool | None = None


def dependency_to_probe(failure: BaseException) -> str | None:
    """Which of our dependencies to probe before classifying ``failure``, if any.

    A store error is ours only if the store does not answer now (else it was this
    request's own: an option refused, a 5xx for this object). A database error is
    ours unless the database answered but refused the statement (a time-out, a
    deadlock); a lost connection needs no probe to say so.
    """
    down = dependency_down(failure)
    if down == STORE:
        return STORE
    if down == DATABASE and statement_failure(failure) is not None:
        return DATABASE
    return None


def classify(failure: BaseException | None, facts: Facts) -> Outcome:
    """What a try came to: ``failure`` is what ended it (None: every step succeeded)."""
    if failure is None:
        return Archived()
    if isinstance(failure, LeaseLost):
        return LeaseGone()
    if isinstance(failure, WorkerStopping):
        return Stopping()
    down = dependency_down(failure)
    if down == STORE and facts.store_answers:
        down = None
    refused = statement_failure(failure) if down == DATABASE and facts.database_answers else None
    if refused is not None:
        # Given back with no try, a recording that always fails so would cycle forever.
        down = None
    if down is not None:
        return DependencyDown(down, f"the {down} was unavailable ({type(failure).__name__})")
    error = refused or as_archive_error(failure)
    if facts.stopping and (error is None or error.retryable):
        # Interrupted by the shutdown (a read cut short, say): not a real try.
        return Stopping(interrupted_by=str(failure))
    unexpected = error is None
    if error is None:
        error = RetryableError(f"{type(failure).__name__}: {failure}")
    if error.retryable and facts.attempts < facts.max_attempts:
        return RetryLater(error.message, error.retry_after, unexpected)
    return GiveUp(error.message, unexpected)
