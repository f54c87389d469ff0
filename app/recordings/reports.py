"""Record what a provider says about a recording: the callback as received, and
the recording it moves.

Both writes are single upserts keyed on unique constraints, never
check-then-insert, so two copies of one callback racing in two processes
(or a callback racing a reconciliation) leave exactly one event and one
recording row.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, case, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.db import utcnow
from app.providers.base import RecordingReport
from app.recordings.lifecycle import STATUS_RANK, archive_state_for
from app.recordings.models import ArchiveState, Recording, RecordingEvent
from app.recordings.queue import notify_workers


@dataclass(frozen=True)
class CallbackEvent:
    """One callback as it reached us, kept for forensics."""

    method: str
    params: Mapping[str, Any]
    remote_addr: str | None
    request_id: str | None
    idempotency_token: str | None


def dedup_key(provider: str, params: Mapping[str, Any]) -> str:
    """A digest of the parameters: identical callbacks, however retried, share it."""
    canonical = json.dumps([provider, sorted(params.items())], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _rank(column: Any) -> Any:
    return case(STATUS_RANK, value=column, else_=0)


# Facts about the recording that a later report may add but never erase.
_MERGED_COLUMNS = (
    "call_sid",
    "conference_sid",
    "channels",
    "duration_seconds",
    "started_at",
    "source",
    "track",
    "error_code",
    "media_url",
)


@dataclass(frozen=True)
class _Statements:
    insert_event: Any
    upsert_recording: Any


@functools.cache
def _statements(dialect: str) -> _Statements:
    """Both upserts, built once per dialect and executed with bound parameters.

    Building them per request cost more than the database round trips (SQL
    expression construction and cache-key generation), so they are made once.
    Both dialects spell ON CONFLICT the same way.
    """
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    events = cast(Table, RecordingEvent.__table__)
    insert_event = (
        insert(events)
        .on_conflict_do_nothing(index_elements=["provider", "dedup_key"])
        .returning(events.c.id)
    )

    recordings = cast(Table, Recording.__table__)
    upsert = insert(recordings)
    excluded = upsert.excluded
    c = recordings.c

    def newer_or_kept(name: str) -> Any:
        return func.coalesce(excluded[name], c[name])

    # Only a waiting recording changes archive state: one already queued,
    # archived or failed keeps its state whatever the provider says next.
    still_waiting = c.archive_state == ArchiveState.WAITING.value
    upsert_recording = upsert.on_conflict_do_update(
        index_elements=["provider", "recording_sid"],
        set_={
            "provider_status": excluded.provider_status,
            **{name: newer_or_kept(name) for name in _MERGED_COLUMNS},
            "archive_state": case((still_waiting, excluded.archive_state), else_=c.archive_state),
            "next_attempt_at": case(
                (still_waiting, excluded.next_attempt_at), else_=c.next_attempt_at
            ),
            "updated_at": excluded.updated_at,
            # A start time heard later replaces the first-heard time.
            "recorded_at": case(
                (excluded.started_at.is_not(None), excluded.started_at), else_=c.recorded_at
            ),
        },
        where=_rank(c.provider_status) < _rank(excluded.provider_status),
    )
    return _Statements(insert_event=insert_event, upsert_recording=upsert_recording)


def store_event(
    session: Session, report: RecordingReport, event: CallbackEvent, now: dt.datetime
) -> bool:
    """Keep the callback as received; False when it repeats one already stored."""
    connection = session.connection()
    event_id = connection.execute(
        _statements(connection.dialect.name).insert_event,
        {
            "provider": report.provider,
            "dedup_key": dedup_key(report.provider, event.params),
            "account_sid": report.account_sid,
            "recording_sid": report.recording_sid,
            "recording_status": report.status,
            "params": dict(event.params),
            "method": event.method,
            "received_at": now,
            "remote_addr": event.remote_addr,
            "request_id": event.request_id,
            "idempotency_token": event.idempotency_token,
        },
    ).scalar_one_or_none()
    return event_id is not None


def _row(report: RecordingReport, now: dt.datetime) -> dict[str, Any]:
    state = archive_state_for(report.status)
    return {
        "provider": report.provider,
        "account_sid": report.account_sid,
        "recording_sid": report.recording_sid,
        "provider_status": report.status,
        **{name: getattr(report, name) for name in _MERGED_COLUMNS},
        "archive_state": state,
        "attempts": 0,
        "next_attempt_at": now if state is ArchiveState.QUEUED else None,
        "created_at": now,
        "updated_at": now,
        "recorded_at": report.started_at or now,
    }


def record_reports(session: Session, reports: list[RecordingReport], now: dt.datetime) -> None:
    """``record_report`` for many recordings at once (one batched statement)."""
    if not reports:
        return
    connection = session.connection()
    connection.execute(
        _statements(connection.dialect.name).upsert_recording, [_row(r, now) for r in reports]
    )
    if any(archive_state_for(r.status) is ArchiveState.QUEUED for r in reports):
        notify_workers(session)


def record_report(session: Session, report: RecordingReport, now: dt.datetime) -> None:
    """Create the recording, or move it forward: what the provider says, as of ``now``.

    A late ``in-progress`` after ``completed`` leaves the recording as it was;
    a ``completed`` queues a waiting recording and wakes idle workers.
    """
    connection = session.connection()
    row = _row(report, now)
    connection.execute(_statements(connection.dialect.name).upsert_recording, row)
    if row["archive_state"] is ArchiveState.QUEUED:
        # Delivered on commit; idle workers wake at once instead of at their next poll.
        notify_workers(session)


def record_callback(session: Session, report: RecordingReport, event: CallbackEvent) -> bool:
    """Store a callback and tell its recording; False when it was a repeat (nothing changes)."""
    now = utcnow()
    if not store_event(session, report, event, now):
        return False
    record_report(session, report, now)
    return True
