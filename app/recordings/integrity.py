"""What the scrub and the legal hold record about an archived recording.

The scrub reads archived objects back, the longest unchecked first
(``next_to_check``), and marks what it found (``mark_checked``); the legal
hold's flag is set here once the store has set the hold itself
(``mark_legal_hold``). Nothing here talks to the store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.recordings import stats
from app.recordings.models import INTEGRITY_PROBLEMS, Integrity, Recording
from app.recordings.queries import SID_TEXT

SCRUBBED_BYTES = "scrubbed_bytes_total"
SCRUBBED_OBJECTS = "scrubbed_objects_total"


@dataclass(frozen=True)
class ToCheck:
    """An archived recording to read back, safe outside its session."""

    id: int
    provider: str
    recording_sid: str
    key: str
    size_bytes: int
    sha256: str
    integrity: Integrity


def _archived() -> list[ColumnElement[bool]]:
    return [
        Recording.archived_at.is_not(None),
        Recording.key.is_not(None),
        Recording.sha256.is_not(None),
        Recording.size_bytes.is_not(None),
    ]


def count_archived(session: Session) -> int:
    return int(
        session.execute(
            select(func.count()).select_from(Recording).where(*_archived())
        ).scalar_one()
    )


def next_to_check(session: Session, checked_before: dt.datetime) -> ToCheck | None:
    """The archived recording whose last check is the oldest (never checked first),
    among those not checked since ``checked_before`` (a run's start: what it
    checked itself is not picked again)."""
    row = session.execute(
        select(Recording)
        .where(
            *_archived(),
            or_(
                Recording.integrity_checked_at.is_(None),
                Recording.integrity_checked_at < checked_before,
            ),
        )
        .order_by(Recording.integrity_checked_at.asc().nulls_first(), Recording.id)
        .limit(1)
    ).scalar_one_or_none()
    if row is None:
        return None
    assert row.key is not None and row.sha256 is not None and row.size_bytes is not None
    return ToCheck(
        row.id, row.provider, row.recording_sid, row.key, row.size_bytes, row.sha256, row.integrity
    )


def mark_checked(
    session: Session, checked: ToCheck, found: Integrity, bytes_read: int
) -> Recording | None:
    """Record what the read-back found; the recording, or None when it was archived
    again meanwhile (another key or digest: this check says nothing of it)."""
    recording = session.get(Recording, checked.id, with_for_update=True)
    if recording is None or recording.key != checked.key or recording.sha256 != checked.sha256:
        return None
    recording.integrity = found
    recording.integrity_checked_at = utcnow()
    stats.add(session, {(SCRUBBED_BYTES, ""): float(bytes_read), (SCRUBBED_OBJECTS, ""): 1.0})
    return recording


def is_problem(integrity: Integrity) -> bool:
    return integrity in INTEGRITY_PROBLEMS


def find_by_sid(session: Session, recording_sid: str) -> list[Recording]:
    """Every recording with this SID (one per provider at most; in practice one); none
    for text that is no SID (a NUL byte would be PostgreSQL's error, not an answer)."""
    if not SID_TEXT.fullmatch(recording_sid):
        return []
    return list(
        session.execute(
            select(Recording).where(Recording.recording_sid == recording_sid).with_for_update()
        )
        .scalars()
        .all()
    )


def mark_legal_hold(session: Session, recording: Recording, on: bool) -> None:
    recording.legal_hold = on
    recording.legal_hold_changed_at = utcnow()
