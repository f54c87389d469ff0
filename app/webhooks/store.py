"""Durably record one callback: the event as sent, and the recording it moves.

Both writes are single upserts keyed on unique constraints, never
check-then-insert, so two copies of one callback racing in two processes
leave exactly one event and one recording row.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, case, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.archive.queue import notify_workers
from app.db import utcnow
from app.models import ArchiveState, Recording, RecordingEvent
from app.providers.callbacks import STATUS_RANK, RecordingCallback, archive_state_for


@dataclass(frozen=True)
class Delivery:
    """How a callback reached us, kept for forensics."""

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
        },
        where=_rank(c.provider_status) < _rank(excluded.provider_status),
    )
    return _Statements(insert_event=insert_event, upsert_recording=upsert_recording)


# Facts about the recording that a later callback may add but never erase.
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


def store_callback(session: Session, callback: RecordingCallback, delivery: Delivery) -> bool:
    """Record ``callback``; return False when it repeats an event already stored.

    A repeat changes nothing. A new event moves the recording forward only: a
    late ``in-progress`` after ``completed`` is kept as an event but leaves the
    recording as it was.
    """
    connection = session.connection()
    dialect = connection.dialect.name
    statements = _statements(dialect)
    now = utcnow()
    event_id = connection.execute(
        statements.insert_event,
        {
            "provider": callback.provider,
            "dedup_key": dedup_key(callback.provider, delivery.params),
            "account_sid": callback.account_sid,
            "recording_sid": callback.recording_sid,
            "recording_status": callback.status,
            "params": dict(delivery.params),
            "method": delivery.method,
            "received_at": now,
            "remote_addr": delivery.remote_addr,
            "request_id": delivery.request_id,
            "idempotency_token": delivery.idempotency_token,
        },
    ).scalar_one_or_none()
    if event_id is None:
        return False

    state = archive_state_for(callback.status)
    connection.execute(
        statements.upsert_recording,
        {
            "provider": callback.provider,
            "account_sid": callback.account_sid,
            "recording_sid": callback.recording_sid,
            "provider_status": callback.status,
            **{name: getattr(callback, name) for name in _MERGED_COLUMNS},
            "archive_state": state,
            "attempts": 0,
            "next_attempt_at": now if state is ArchiveState.QUEUED else None,
            "created_at": now,
            "updated_at": now,
        },
    )
    if state is ArchiveState.QUEUED:
        # Delivered on commit; idle workers wake at once instead of at their next poll.
        notify_workers(session)
    return True
