"""Durably record one callback: the event as sent, and the recording it moves.

Both writes are single upserts keyed on unique constraints, never
check-then-insert, so two copies of one callback racing in two processes
leave exactly one event and one recording row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import ArchiveState, Recording, RecordingEvent
from app.providers.callbacks import STATUS_RANK, RecordingCallback, archive_state_for

ARCHIVE_CHANNEL = "recordings_queued"


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


def _insert(session: Session) -> Any:
    # Both dialects spell ON CONFLICT the same way; pick the one in use.
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _rank(column: Any) -> Any:
    return case(STATUS_RANK, value=column, else_=0)


def store_callback(session: Session, callback: RecordingCallback, delivery: Delivery) -> bool:
    """Record ``callback``; return False when it repeats an event already stored.

    A repeat changes nothing. A new event moves the recording forward only: a
    late ``in-progress`` after ``completed`` is kept as an event but leaves the
    recording as it was.
    """
    insert = _insert(session)
    now = utcnow()
    event_id = session.execute(
        insert(RecordingEvent)
        .values(
            provider=callback.provider,
            dedup_key=dedup_key(callback.provider, delivery.params),
            account_sid=callback.account_sid,
            recording_sid=callback.recording_sid,
            recording_status=callback.status,
            params=dict(delivery.params),
            method=delivery.method,
            received_at=now,
            remote_addr=delivery.remote_addr,
            request_id=delivery.request_id,
            idempotency_token=delivery.idempotency_token,
        )
        .on_conflict_do_nothing(index_elements=["provider", "dedup_key"])
        .returning(RecordingEvent.id)
    ).scalar_one_or_none()
    if event_id is None:
        return False

    state = archive_state_for(callback.status)
    values: dict[str, Any] = {
        "provider": callback.provider,
        "account_sid": callback.account_sid,
        "recording_sid": callback.recording_sid,
        "call_sid": callback.call_sid,
        "conference_sid": callback.conference_sid,
        "provider_status": callback.status,
        "channels": callback.channels,
        "duration_seconds": callback.duration_seconds,
        "started_at": callback.started_at,
        "source": callback.source,
        "track": callback.track,
        "error_code": callback.error_code,
        "media_url": callback.media_url,
        "archive_state": state,
        "attempts": 0,
        "next_attempt_at": now if state is ArchiveState.QUEUED else None,
        "created_at": now,
        "updated_at": now,
    }
    stmt = insert(Recording).values(**values)
    excluded = stmt.excluded
    table = Recording.__table__.c

    def newer_or_kept(name: str) -> Any:
        return func.coalesce(excluded[name], table[name])

    # Only a waiting recording changes archive state: one already queued,
    # archived or failed keeps its state whatever the provider says next.
    still_waiting = table.archive_state == ArchiveState.WAITING.value
    stmt = stmt.on_conflict_do_update(
        index_elements=["provider", "recording_sid"],
        set_={
            "provider_status": excluded.provider_status,
            "call_sid": newer_or_kept("call_sid"),
            "conference_sid": newer_or_kept("conference_sid"),
            "channels": newer_or_kept("channels"),
            "duration_seconds": newer_or_kept("duration_seconds"),
            "started_at": newer_or_kept("started_at"),
            "source": newer_or_kept("source"),
            "track": newer_or_kept("track"),
            "error_code": newer_or_kept("error_code"),
            "media_url": newer_or_kept("media_url"),
            "archive_state": case(
                (still_waiting, excluded.archive_state), else_=table.archive_state
            ),
            "next_attempt_at": case(
                (still_waiting, excluded.next_attempt_at), else_=table.next_attempt_at
            ),
            "updated_at": excluded.updated_at,
        },
        where=_rank(table.provider_status) < _rank(excluded.provider_status),
    )
    session.execute(stmt)
    if state is ArchiveState.QUEUED and session.get_bind().dialect.name == "postgresql":
        # Delivered on commit; idle workers wake at once instead of at their next poll.
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": ARCHIVE_CHANNEL})
    return True
