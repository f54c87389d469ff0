"""Claim, renew, finish, give back and fail units of background work.

An item is claimable when it is ``queued`` or ``running`` and its
``run_after`` has passed: for a running item that time is its lease expiry,
so a worker that died loses its claim without anyone noticing it died (the
recordings' queue works the same way, see ``app.recordings.queue``). Claims
use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of workers claim
at once without waiting for or taking each other's rows; on SQLite the write
lock ``BEGIN IMMEDIATE`` takes (``app.db``) serialises claims instead. Every
later write checks the lease owner, so a worker whose lease was taken over
cannot undo its successor's work.

A try is counted when an item is claimed (a worker that dies mid-try has
used it) and handed back by ``give_back`` (a stop is not a try).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, exists, select, update
from sqlalchemy.orm import Session

from app.db import upsert_insert, utcnow
from app.work.models import WorkItem, WorkStatus

POLLED = (WorkStatus.QUEUED, WorkStatus.RUNNING)


@dataclass(frozen=True)
class WorkClaim:
    """A claimed item, safe to use outside the session that claimed it."""

    id: int
    kind: str
    key: str
    owner: str
    tries: int  # this one included
    started_at: dt.datetime
    lease_expires_at: dt.datetime


def enqueue(session: Session, kind: str, key: str, run_after: dt.datetime) -> bool:
    """Add ``kind``/``key`` due at ``run_after``; False (nothing changed) when it
    exists already, whatever its state: the key makes adding idempotent."""
    table: Table = WorkItem.__table__  # type: ignore[assignment]
    now = utcnow()
    result = session.execute(
        upsert_insert(session, table)
        .values(
            kind=kind,
            key=key,
            status=WorkStatus.QUEUED.value,
            run_after=run_after,
            tries=0,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["kind", "key"])
        .returning(table.c.id)  # a row only when added (rowcount is not told everywhere)
    )
    return result.first() is not None


def has_pending(session: Session, kind: str) -> bool:
    """Whether an item of ``kind`` is queued or running (due or not)."""
    return bool(
        session.execute(
            select(exists().where(WorkItem.kind == kind, WorkItem.status.in_(POLLED)))
        ).scalar()
    )


def claim(
    session: Session,
    kinds: str | Sequence[str],
    owner: str,
    lease: dt.timedelta,
    now: dt.datetime | None = None,
) -> WorkClaim | None:
    """Take the most overdue claimable item of ``kinds`` under a lease, or None."""
    now = now or utcnow()
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    item = session.execute(
        select(WorkItem)
        .where(WorkItem.kind.in_(kinds), WorkItem.status.in_(POLLED), WorkItem.run_after <= now)
        .order_by(WorkItem.run_after)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if item is None:
        return None
    expires = now + lease
    item.status = WorkStatus.RUNNING
    item.lease_owner = owner
    item.lease_expires_at = expires
    item.run_after = expires
    item.tries += 1
    item.started_at = now
    session.flush()
    return WorkClaim(item.id, item.kind, item.key, owner, item.tries, now, expires)


def _update_held(session: Session, held: WorkClaim, **values: Any) -> bool:
    """Update the item only while ``held.owner`` still holds its lease."""
    result = session.execute(
        update(WorkItem)
        .where(
            WorkItem.id == held.id,
            WorkItem.lease_owner == held.owner,
            WorkItem.status == WorkStatus.RUNNING,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def renew(
    session: Session, held: WorkClaim, lease: dt.timedelta, now: dt.datetime | None = None
) -> bool:
    """Extend the lease; False when it was lost (taken over after it ran out)."""
    expires = (now or utcnow()) + lease
    return _update_held(session, held, lease_expires_at=expires, run_after=expires)


def _let_go(
    session: Session,
    held: WorkClaim,
    status: WorkStatus,
    run_after: dt.datetime | None,
    **values: Any,
) -> bool:
    extra = {"run_after": run_after} if run_after is not None else {}
    return _update_held(
        session, held, status=status, lease_owner=None, lease_expires_at=None, **extra, **values
    )


def finish(
    session: Session, held: WorkClaim, result: str | None = None, now: dt.datetime | None = None
) -> bool:
    """Done: it is never claimed again."""
    return _let_go(
        session,
        held,
        WorkStatus.DONE,
        None,
        result=result,
        last_error=None,
        finished_at=now or utcnow(),
    )


def give_back(
    session: Session,
    held: WorkClaim,
    run_after: dt.datetime | None = None,
    result: str | None = None,
) -> bool:
    """Hand an unfinished item back (a stop, an outage of ours): due again at
    ``run_after`` (now by default), and no try counted."""
    return _let_go(
        session,
        held,
        WorkStatus.QUEUED,
        run_after or utcnow(),
        tries=WorkItem.tries - 1,
        result=result,
    )


def fail(
    session: Session,
    held: WorkClaim,
    error: str,
    retry_at: dt.datetime | None,
    result: str | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """The try failed (it counts): due again at ``retry_at`` (see ``backoff``), or
    given up for good (``failed``) when that is None."""
    if retry_at is None:
        return _let_go(
            session,
            held,
            WorkStatus.FAILED,
            None,
            last_error=error,
            result=result,
            finished_at=now or utcnow(),
        )
    return _let_go(session, held, WorkStatus.QUEUED, retry_at, last_error=error, result=result)


def backoff(tries: int, first: dt.timedelta, longest: dt.timedelta) -> dt.timedelta:
    """How long after its ``tries``-th failed try an item waits: ``first``,
    doubling with each try, never more than ``longest``."""
    return min(first * (1 << min(max(0, tries - 1), 20)), longest)


def prune(session: Session, kind: str, finished_before: dt.datetime) -> int:
    """Delete items of ``kind`` done or failed before ``finished_before``."""
    result = session.execute(
        delete(WorkItem)
        .where(
            WorkItem.kind == kind,
            WorkItem.status.in_([WorkStatus.DONE, WorkStatus.FAILED]),
            WorkItem.finished_at < finished_before,
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
