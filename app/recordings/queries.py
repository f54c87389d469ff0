"""What the pages and the metrics read about recordings.

The listing pages by keyset, newest first on ``(recorded_at, id)``: a page
starts after the last row of the one before, so deep pages cost what the
first does and rows arriving meanwhile never shift the pages being read.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, tuple_
from sqlalchemy.orm import Session

from app.db import utcnow
from app.recordings import phones
from app.recordings.models import (
    INTEGRITY_PROBLEMS,
    ArchiveAttempt,
    ArchiveState,
    AttemptOutcome,
    Integrity,
    Recording,
    RecordingEvent,
)

# The listing's integrity filter: a state, or every problem at once.
INTEGRITY_PROBLEMS_FILTER = "problems"

SEARCH_MIN = 8  # characters of a SID prefix worth searching for
SID_TEXT = re.compile(r"[A-Za-z0-9_.:-]{1,128}")  # what a SID (or its start) is made of


@dataclass(frozen=True)
class Waiting:
    """The recording that has waited longest to be archived."""

    id: int
    recording_sid: str
    since: dt.datetime  # when we first heard of it


@dataclass(frozen=True)
class Overview:
    counts: dict[ArchiveState, int]
    bytes_archived: int
    oldest_queued_age: float | None  # seconds
    failures_24h: int  # failed tries that ended in the last 24 hours
    oldest_waiting: Waiting | None = None
    # Archived, but the scrub found the object missing or changed (counted in
    # ``counts[DONE]`` too).
    integrity_problems: int = 0
    # Archived recordings by what their last read-back found (the scrub).
    integrity: dict[Integrity, int] = field(default_factory=dict)


def oldest_queued_age(session: Session, now: dt.datetime) -> float | None:
    """How long the most overdue queued recording has waited, in seconds."""
    oldest = session.execute(
        select(func.min(Recording.next_attempt_at)).where(
            Recording.archive_state == ArchiveState.QUEUED
        )
    ).scalar()
    if oldest is None:
        return None
    if oldest.tzinfo is None:  # SQLite's MIN() bypasses the column type
        oldest = dt.datetime.fromisoformat(str(oldest)).replace(tzinfo=dt.UTC)
    return max(0.0, (now - oldest).total_seconds())


def oldest_waiting(session: Session) -> Waiting | None:
    """The queued or running recording first heard of longest ago.

    Not ``oldest_queued_age``: that is how overdue the next claim is, 0 while a
    recording waits out its backoff between tries, however long it has waited.
    """
    row = session.execute(
        select(Recording.id, Recording.recording_sid, Recording.created_at)
        .where(Recording.archive_state.in_([ArchiveState.QUEUED, ArchiveState.RUNNING]))
        .order_by(Recording.created_at, Recording.id)
        .limit(1)
    ).first()
    return Waiting(row.id, row.recording_sid, row.created_at) if row else None


def integrity_problems(session: Session) -> int:
    """Archived recordings whose object the scrub found missing or changed."""
    return int(
        session.execute(
            select(func.count()).where(
                Recording.archive_state == ArchiveState.DONE,
                Recording.integrity.in_(INTEGRITY_PROBLEMS),
            )
        ).scalar_one()
    )


def overview(session: Session, now: dt.datetime | None = None) -> Overview:
    now = now or utcnow()
    rows = session.execute(
        select(
            Recording.archive_state, func.count(), func.coalesce(func.sum(Recording.size_bytes), 0)
        ).group_by(Recording.archive_state)
    ).all()
    counts = {state: 0 for state in ArchiveState}
    archived = 0
    for state, number, total in rows:
        counts[state] = int(number)
        if state is ArchiveState.DONE:
            archived = int(total or 0)
    failures = session.execute(
        select(func.count())
        .select_from(ArchiveAttempt)
        .where(
            ArchiveAttempt.ended_at >= now - dt.timedelta(hours=24),
            ArchiveAttempt.outcome.in_([AttemptOutcome.RETRY.value, AttemptOutcome.FAILED.value]),
        )
    ).scalar_one()
    integrity = {state: 0 for state in Integrity}
    for found, number in session.execute(
        select(Recording.integrity, func.count())
        .where(Recording.archived_at.is_not(None))
        .group_by(Recording.integrity)
    ).all():
        integrity[Integrity(found)] = int(number)
    return Overview(
        counts,
        archived,
        oldest_queued_age(session, now),
        int(failures),
        oldest_waiting(session),
        integrity_problems(session),
        integrity,
    )


def _prefix(text: str) -> str:
    """``text`` for LIKE 'text%', its wildcards taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass(frozen=True)
class RecordingFilter:
    """What the listing (and the bulk retry) is narrowed to."""

    state: ArchiveState | None = None
    provider_status: str | None = None
    provider: str | None = None
    since: dt.date | None = None  # recorded on or after this day (UTC)
    until: dt.date | None = None  # recorded on or before this day (UTC)
    search: str | None = None  # a call, recording or conference SID, or its first characters
    account_sid: str | None = None  # one account's (a Twilio subaccount's) recordings
    legal_hold: bool = False  # only recordings under a legal hold
    integrity: str | None = None  # an Integrity value, or INTEGRITY_PROBLEMS_FILTER
    # The API's filters: an exact call, and instants rather than days.
    call_sid: str | None = None
    recorded_from: dt.datetime | None = None  # recorded at or after
    recorded_before: dt.datetime | None = None  # recorded before
    # Digits either of the call's numbers ends with (``phones.search_digits``);
    # with ``search`` as well, a recording matching either is found.
    phone: str | None = None

    @classmethod
    def for_search(cls, text: str, region: str, **others: Any) -> RecordingFilter:
        """The filter for what someone typed into one search box: a phone number
        (any common way of writing it, or its last four digits or more), a SID
        or its first characters, or digits that may be either."""
        digits = phones.search_digits(text, region)
        sid_like = len(text) >= SEARCH_MIN and SID_TEXT.fullmatch(text) is not None
        return cls(search=text if sid_like else None, phone=digits, **others)

    def _search_conditions(self) -> list[ColumnElement[bool]]:
        either: list[ColumnElement[bool]] = []
        if self.search:
            pattern = _prefix(self.search)
            either += [
                Recording.recording_sid.like(pattern, escape="\\"),
                Recording.call_sid.like(pattern, escape="\\"),
                Recording.conference_sid.like(pattern, escape="\\"),
            ]
        if self.phone:
            low, high = phones.digits_range(self.phone)
            for column in (Recording.from_digits_reversed, Recording.to_digits_reversed):
                either.append(and_(column >= low, column < high) if high else column >= low)
        return [or_(*either)] if either else []

    def conditions(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.state is not None:
            where.append(Recording.archive_state == self.state)
        if self.provider_status:
            where.append(Recording.provider_status == self.provider_status)
        if self.provider:
            where.append(Recording.provider == self.provider)
        if self.account_sid:
            where.append(Recording.account_sid == self.account_sid)
        if self.since is not None:
            start = dt.datetime.combine(self.since, dt.time(), dt.UTC)
            where.append(Recording.recorded_at >= start)
        if self.until is not None:
            end = dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time(), dt.UTC)
            where.append(Recording.recorded_at < end)
        if self.legal_hold:
            where.append(Recording.legal_hold.is_(True))
        if self.integrity == INTEGRITY_PROBLEMS_FILTER:
            where.append(Recording.integrity.in_(INTEGRITY_PROBLEMS))
        elif self.integrity is not None:
            where.append(Recording.integrity == Integrity(self.integrity))
        if self.call_sid:
            where.append(Recording.call_sid == self.call_sid)
        if self.recorded_from is not None:
            where.append(Recording.recorded_at >= self.recorded_from)
        if self.recorded_before is not None:
            where.append(Recording.recorded_at < self.recorded_before)
        where += self._search_conditions()
        return where


@dataclass(frozen=True)
class Position:
    """Where a page starts: just after this row, in newest-first order."""

    recorded_at: dt.datetime
    id: int

    def encode(self) -> str:
        return f"{self.recorded_at.astimezone(dt.UTC).strftime('%Y%m%dT%H%M%S.%fZ')}~{self.id}"

    @classmethod
    def decode(cls, text: str) -> Position:
        """ValueError when ``text`` is not one of ours."""
        stamp, _, number = text.partition("~")
        when = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=dt.UTC)
        return cls(when, int(number))


@dataclass(frozen=True)
class Page:
    rows: Sequence[Recording]
    next: Position | None = None
    extra: dict[str, str] = field(default_factory=dict)


def list_recordings(
    session: Session, where: RecordingFilter, after: Position | None = None, limit: int = 50
) -> Page:
    """A page of recordings, newest first, and where the next one starts."""
    query = select(Recording).where(*where.conditions())
    if after is not None:
        query = query.where(
            tuple_(Recording.recorded_at, Recording.id) < (after.recorded_at, after.id)
        )
    rows = (
        session.execute(
            query.order_by(Recording.recorded_at.desc(), Recording.id.desc()).limit(limit + 1)
        )
        .scalars()
        .all()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    return Page(rows, Position(last.recorded_at, last.id) if more and last else None)


# The listing counts its matches this far, then says "more than": at a million
# recordings an exact count of a broad filter costs more than the page itself.
COUNT_CAP = 1_000


def count_matching(session: Session, where: RecordingFilter, cap: int = COUNT_CAP) -> int:
    """How many recordings match ``where``, counted no further than ``cap`` + 1 (so
    a page's "of 67" costs an index scan of at most that many rows)."""
    matching = select(Recording.id).where(*where.conditions()).limit(cap + 1).subquery()
    return int(session.execute(select(func.count()).select_from(matching)).scalar_one())


def any_failed(session: Session, where: RecordingFilter) -> bool:
    """Whether any failed recording matches ``where`` (the bulk retry is offered then)."""
    conditions = [*where.conditions(), Recording.archive_state == ArchiveState.FAILED]
    return session.execute(select(Recording.id).where(*conditions).limit(1)).first() is not None


def count_failed(session: Session, where: RecordingFilter) -> int:
    """How many failed recordings match ``where`` (for the bulk retry's confirmation)."""
    conditions = [*where.conditions(), Recording.archive_state == ArchiveState.FAILED]
    return int(session.execute(select(func.count()).where(and_(*conditions))).scalar_one())


@dataclass(frozen=True)
class Detail:
    recording: Recording
    events: Sequence[RecordingEvent]
    attempts: Sequence[ArchiveAttempt]


def recording_detail(session: Session, recording_id: int) -> Detail | None:
    """One recording with every callback received for it and every try, in order."""
    recording = session.get(Recording, recording_id)
    if recording is None:
        return None
    events = (
        session.execute(
            select(RecordingEvent)
            .where(
                RecordingEvent.provider == recording.provider,
                RecordingEvent.recording_sid == recording.recording_sid,
            )
            .order_by(RecordingEvent.received_at, RecordingEvent.id)
        )
        .scalars()
        .all()
    )
    attempts = (
        session.execute(
            select(ArchiveAttempt)
            .where(ArchiveAttempt.recording_id == recording.id)
            .order_by(ArchiveAttempt.id)
        )
        .scalars()
        .all()
    )
    return Detail(recording, events, attempts)


def recording_by_sid(session: Session, recording_sid: str) -> Recording | None:
    """The recording with this SID, at whichever provider (SIDs do not collide
    across providers: each has its own format); None for text no provider issues as a
    SID (PostgreSQL refuses a NUL byte in a query with an error, not an empty answer)."""
    if not SID_TEXT.fullmatch(recording_sid):
        return None
    return (
        session.execute(
            select(Recording)
            .where(Recording.recording_sid == recording_sid)
            .order_by(Recording.id)
            .limit(1)
        )
        .scalars()
        .first()
    )


def export_recordings(
    session: Session, where: RecordingFilter, limit: int, page_size: int = 1000
) -> Iterator[Recording]:
    """Every recording matching ``where``, newest first, at most ``limit``: read a
    keyset page at a time (each page its own short query, so a long export holds
    no transaction open and memory stays one page deep)."""
    after: Position | None = None
    left = limit
    while left > 0:
        page = list_recordings(session, where, after, min(page_size, left))
        yield from page.rows
        session.expunge_all()
        left -= len(page.rows)
        if page.next is None:
            return
        after = page.next
        session.rollback()  # end the read's transaction between pages
