"""Reading the audit log: the console's page (newest first, keyset by id) and the
export (oldest first, by day)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry

EXPORT_BATCH = 5000


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    recording_sid: str | None = None
    since: dt.date | None = None  # UTC day, included
    until: dt.date | None = None  # UTC day, included

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.actor:
            found.append(AuditEntry.actor == self.actor)
        if self.action:
            found.append(AuditEntry.action == self.action)
        if self.recording_sid:
            found.append(AuditEntry.recording_sid == self.recording_sid)
        if self.since:
            found.append(AuditEntry.at >= _midnight(self.since))
        if self.until:
            found.append(AuditEntry.at < _midnight(self.until + dt.timedelta(days=1)))
        return found


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC)


@dataclass(frozen=True)
class AuditPage:
    rows: Sequence[AuditEntry]
    next_before: int | None  # the id to page on from (``before=``)


def page(db: Session, where: AuditFilter, before: int | None, size: int) -> AuditPage:
    """Newest first. Keyset on the primary key: page N costs what page 1 does."""
    query = select(AuditEntry).where(*where.conditions())
    if before is not None:
        query = query.where(AuditEntry.id < before)
    rows = db.execute(query.order_by(AuditEntry.id.desc()).limit(size + 1)).scalars().all()
    more = len(rows) > size
    rows = rows[:size]
    return AuditPage(rows=rows, next_before=rows[-1].id if more else None)


def export(db: Session, where: AuditFilter) -> Iterator[AuditEntry]:
    """Oldest first, in batches by id (the whole log need not fit in memory)."""
    after = 0
    while True:
        batch = (
            db.execute(
                select(AuditEntry)
                .where(AuditEntry.id > after, *where.conditions())
                .order_by(AuditEntry.id)
                .limit(EXPORT_BATCH)
            )
            .scalars()
            .all()
        )
        if not batch:
            return
        yield from batch
        after = batch[-1].id
