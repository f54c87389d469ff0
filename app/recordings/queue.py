"""The archive queue lives in the recordings table.

A recording is claimable when its state is ``queued`` or ``running`` and its
``next_attempt_at`` has passed: for a running recording that time is its lease
expiry, so a worker that died loses its claim without anyone noticing it died.
Claims use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (any number of workers on
any number of machines); on SQLite the write lock taken by ``BEGIN IMMEDIATE``
serialises claims instead. Every later write checks the lease holder, so a
worker whose lease was taken over cannot overwrite its successor's work.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, text, update
from sqlalchemy.orm import Session

from app.db import is_postgresql, utcnow
from app.recordings import stats
from app.recordings.models import (
    ArchiveAttempt,
    ArchiveState,
    AttemptOutcome,
    Integrity,
    Recording,
    RecordingEvent,
)

# Idle workers on PostgreSQL LISTEN here; whoever queues work NOTIFYs.
WAKE_CHANNEL = "recordings_queued"
_NOTIFY = text("SELECT pg_notify(:channel, '')")


def notify_workers(target: Session | Connection) -> None:
    """Wake idle workers when this transaction commits (PostgreSQL; a no-op elsewhere)."""
    connection = target.connection() if isinstance(target, Session) else target
    if is_postgresql(connection):
        connection.execute(_NOTIFY, {"channel": WAKE_CHANNEL})


@dataclass(frozen=True)
class Claim:
    """A snapshot of a claimed recording, safe to use outside the session."""

    id: int
    provider: str
    account_sid: str
    recording_sid: str
    call_sid: str | None
    conference_sid: str | None
    media_url: str | None
    channels: int | None
    duration_seconds: int | None
    started_at: dt.datetime | None
    created_at: dt.datetime
    attempts: int
    key: str | None
    size_bytes: int | None
    sha256: str | None
    archived_at: dt.datetime | None
    original_deleted_at: dt.datetime | None
    attempt_id: int = 0  # this try's row in archive_attempts
    request_id: str | None = None  # of the latest callback: the worker's log lines carry it
    # Voice Recording Encryption, as the provider reported it (see Recording).
    encryption_details: dict[str, str] | None = None
    encryption_details_unparsed: str | None = None

    @property
    def encrypted(self) -> bool:
        return self.encryption_details is not None or self.encryption_details_unparsed is not None

    # The call's details, when looked up before this try (app.calls).
    from_number: str | None = None
    to_number: str | None = None
    direction: str | None = None


def claim_next(
    session: Session, worker_id: str, lease_seconds: float, now: dt.datetime | None = None
) -> Claim | None:
    """Take the most overdue claimable recording under a lease, or None."""
    now = now or utcnow()
    recording = session.execute(
        select(Recording)
        .where(
            Recording.archive_state.in_([ArchiveState.QUEUED, ArchiveState.RUNNING]),
            Recording.next_attempt_at <= now,
        )
        .order_by(Recording.next_attempt_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if recording is None:
        return None
    expires = now + dt.timedelta(seconds=lease_seconds)
    recording.archive_state = ArchiveState.RUNNING
    recording.lease_holder = worker_id
    recording.lease_expires_at = expires
    recording.next_attempt_at = expires
    recording.attempts += 1
    recording.updated_at = now
    attempt_id = _start_attempt(session, recording, worker_id, now)
    request_id = _latest_request_id(session, recording)
    own = ("attempt_id", "request_id")
    fields = {
        name: getattr(recording, name) for name in Claim.__dataclass_fields__ if name not in own
    }
    return Claim(**fields, attempt_id=attempt_id, request_id=request_id)


def _start_attempt(session: Session, recording: Recording, worker_id: str, now: dt.datetime) -> int:
    """This try's row; a try still "running" belongs to a worker whose lease ran out."""
    session.execute(
        update(ArchiveAttempt)
        .where(
            ArchiveAttempt.recording_id == recording.id,
            ArchiveAttempt.outcome == AttemptOutcome.RUNNING.value,
        )
        .values(
            outcome=AttemptOutcome.ABANDONED.value,
            ended_at=now,
            error="the worker stopped answering; its lease ran out",
        )
        .execution_options(synchronize_session=False)
    )
    attempt = ArchiveAttempt(
        recording_id=recording.id,
        number=recording.attempts,
        worker_id=worker_id,
        started_at=now,
        outcome=AttemptOutcome.RUNNING.value,
    )
    session.add(attempt)
    session.flush()
    return attempt.id


def _latest_request_id(session: Session, recording: Recording) -> str | None:
    """The request id of the recording's latest callback, for the worker's log lines."""
    return session.execute(
        select(RecordingEvent.request_id)
        .where(
            RecordingEvent.provider == recording.provider,
            RecordingEvent.recording_sid == recording.recording_sid,
        )
        .order_by(RecordingEvent.id.desc())
        .limit(1)
    ).scalar()


@dataclass(frozen=True)
class AttemptEnd:
    """How the current try ended, for its row in archive_attempts and the totals."""

    attempt_id: int | None = None
    bytes_moved: int | None = None  # received from the provider in this try
    archived_bytes: int | None = None  # the size of the copy this try confirmed
    download_seconds: float | None = None  # request to the last byte received
    upload_seconds: float | None = None  # last byte received to the copy confirmed
    # The provider's original deleted (or found gone) in this try: recorded on the
    # recording by whichever write ends the try (``_let_go``), so the done mark and
    # the delete are one commit.
    original_deleted_at: dt.datetime | None = None


def close_attempt(
    session: Session, end: AttemptEnd, outcome: AttemptOutcome, error: str | None = None
) -> None:
    """Record how a try ended, and count it in the totals /metrics reads."""
    increments = {(stats.ATTEMPTS, stats.labels(outcome=outcome.value)): 1.0}
    if outcome is AttemptOutcome.DONE and end.archived_bytes is not None:
        increments[(stats.ARCHIVED_BYTES, "")] = float(end.archived_bytes)
    for name, seconds in (
        (stats.DOWNLOAD_SECONDS, end.download_seconds),
        (stats.UPLOAD_SECONDS, end.upload_seconds),
    ):
        if seconds is not None:
            increments.update(stats.histogram(name, seconds))
    stats.add(session, increments)
    if not end.attempt_id:
        return
    session.execute(
        update(ArchiveAttempt)
        .where(
            ArchiveAttempt.id == end.attempt_id,
            ArchiveAttempt.outcome == AttemptOutcome.RUNNING.value,
        )
        .values(outcome=outcome.value, ended_at=utcnow(), error=error, bytes_moved=end.bytes_moved)
        .execution_options(synchronize_session=False)
    )


def _update_held(session: Session, claim_id: int, worker_id: str, **values: Any) -> bool:
    """Update the recording only while ``worker_id`` still holds its lease."""
    values.setdefault("updated_at", utcnow())
    result = session.execute(
        update(Recording)
        .where(
            Recording.id == claim_id,
            Recording.lease_holder == worker_id,
            Recording.archive_state == ArchiveState.RUNNING,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def renew_lease(session: Session, claim_id: int, worker_id: str, lease_seconds: float) -> bool:
    expires = utcnow() + dt.timedelta(seconds=lease_seconds)
    return _update_held(
        session, claim_id, worker_id, lease_expires_at=expires, next_attempt_at=expires
    )


def mark_archived(
    session: Session,
    claim_id: int,
    worker_id: str,
    *,
    bucket: str,
    key: str,
    size_bytes: int,
    sha256: str,
    channels: int,
    retain_until: dt.datetime | None = None,
) -> bool:
    return _update_held(
        session,
        claim_id,
        worker_id,
        bucket=bucket,
        key=key,
        size_bytes=size_bytes,
        sha256=sha256,
        archived_channels=channels,
        archived_at=utcnow(),
        retain_until=retain_until,
        # A fresh copy: nothing has read it back yet.
        integrity=Integrity.UNCHECKED,
        integrity_checked_at=None,
        last_error=None,
    )


def forget_archive(session: Session, claim_id: int, worker_id: str) -> bool:
    """The archived object vanished before the original was deleted: archive again."""
    return _update_held(
        session,
        claim_id,
        worker_id,
        archived_at=None,
        key=None,
        size_bytes=None,
        sha256=None,
        archived_channels=None,
    )


def _let_go(
    session: Session,
    claim_id: int,
    worker_id: str,
    state: ArchiveState,
    next_attempt_at: dt.datetime | None,
    attempt: tuple[AttemptEnd, AttemptOutcome, str | None],
    **values: Any,
) -> bool:
    """Leave ``running`` for ``state``; the lease goes, whatever comes next. The try
    is closed with it, in the same transaction, and the original's delete, if the
    try made one, is recorded."""
    end, outcome, error = attempt
    if end.original_deleted_at is not None:
        values["original_deleted_at"] = end.original_deleted_at
    held = _update_held(
        session,
        claim_id,
        worker_id,
        archive_state=state,
        lease_holder=None,
        lease_expires_at=None,
        next_attempt_at=next_attempt_at,
        **values,
    )
    if held:
        close_attempt(session, end, outcome, error)
    return held


def mark_done(
    session: Session, claim_id: int, worker_id: str, end: AttemptEnd = AttemptEnd()
) -> bool:
    return _let_go(
        session,
        claim_id,
        worker_id,
        ArchiveState.DONE,
        None,
        (end, AttemptOutcome.DONE, None),
        last_error=None,
    )


def schedule_retry(
    session: Session,
    claim_id: int,
    worker_id: str,
    error: str,
    at: dt.datetime,
    end: AttemptEnd = AttemptEnd(),
) -> bool:
    return _let_go(
        session,
        claim_id,
        worker_id,
        ArchiveState.QUEUED,
        at,
        (end, AttemptOutcome.RETRY, error),
        last_error=error,
    )


def mark_failed(
    session: Session, claim_id: int, worker_id: str, error: str, end: AttemptEnd = AttemptEnd()
) -> bool:
    return _let_go(
        session,
        claim_id,
        worker_id,
        ArchiveState.FAILED,
        None,
        (end, AttemptOutcome.FAILED, error),
        last_error=error,
    )


def release(
    session: Session,
    claim_id: int,
    worker_id: str,
    end: AttemptEnd = AttemptEnd(),
    reason: str = "the worker stopped",
) -> bool:
    """Give a claim back unfinished (a shutdown, our store or database away): no
    attempt is counted."""
    return _let_go(
        session,
        claim_id,
        worker_id,
        ArchiveState.QUEUED,
        utcnow(),
        (end, AttemptOutcome.RELEASED, f"{reason}; given back with no try counted"),
        attempts=Recording.attempts - 1,
    )


def requeue_one(session: Session, recording_id: int) -> bool:
    """Put one failed recording back in the queue with a fresh set of tries;
    False (and nothing changed) when it is not failed."""
    return requeue_failed(session, Recording.id == recording_id) == 1


def archive_again(session: Session, recording_id: int) -> bool:
    """Queue an archived recording whose stored object went missing, forgetting the
    archive it had. Only while the provider still has the original (nothing else
    to copy from); False, and nothing changed, otherwise."""
    now = utcnow()
    result = session.execute(
        update(Recording)
        .where(
            Recording.id == recording_id,
            Recording.archive_state == ArchiveState.DONE,
            Recording.archived_at.is_not(None),
            Recording.original_deleted_at.is_(None),
        )
        .values(
            archive_state=ArchiveState.QUEUED,
            attempts=0,
            next_attempt_at=now,
            updated_at=now,
            archived_at=None,
            key=None,
            size_bytes=None,
            sha256=None,
            archived_channels=None,
            last_error="archived again: the stored object was missing",
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        notify_workers(session)
    return bool(result.rowcount)  # type: ignore[attr-defined]


def requeue_failed(session: Session, *conditions: Any) -> int:
    """Put failed recordings (every one, or those matching ``conditions``) back in
    the queue with a fresh set of tries."""
    now = utcnow()
    result = session.execute(
        update(Recording)
        .where(Recording.archive_state == ArchiveState.FAILED, *conditions)
        .values(archive_state=ArchiveState.QUEUED, attempts=0, next_attempt_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        notify_workers(session)
    return int(result.rowcount)  # type: ignore[attr-defined]
