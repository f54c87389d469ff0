"""Failed logins slow the next ones down: a lock-out that doubles with each failure.

Kept in the database so every web worker (and every machine) counts the
same failures. Both the client's address and the username are counted, so
neither many guesses from one address nor a few guesses each from many
addresses go fast.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session

from app.admin.models import AdminLoginFailure
from app.db import upsert_insert

FREE_FAILURES = 3  # failures allowed before any lock-out
LONGEST_LOCK = dt.timedelta(minutes=15)
# A key's failures are forgotten this long after its last one, once its lock is
# over: long past LONGEST_LOCK, so a slow guesser is still counted up to the
# longest lock, and the table holds a day of failures, not every one ever made.
FORGET_AFTER = dt.timedelta(days=1)


def lock_for(failures: int) -> dt.timedelta:
    """1 s after the 3rd failure, then 2, 4, 8 ... up to 15 minutes."""
    if failures < FREE_FAILURES:
        return dt.timedelta(0)
    return min(LONGEST_LOCK, dt.timedelta(seconds=2 ** (failures - FREE_FAILURES)))


def keys_for(address: str | None, username: str) -> list[str]:
    return [f"addr:{address or '?'}"[:160], f"user:{username.strip().lower()}"[:160]]


def locked_for(session: Session, keys: Sequence[str], now: dt.datetime) -> float:
    """Seconds until a login may be tried again (0: now)."""
    until = session.execute(
        select(AdminLoginFailure.locked_until).where(AdminLoginFailure.key.in_(keys))
    ).scalars()
    waits = [(moment - now).total_seconds() for moment in until if moment is not None]
    return max([0.0, *waits])


def record_failure(session: Session, keys: Sequence[str], now: dt.datetime) -> None:
    """Count a failure against each key: one upsert each, so two failures racing in two
    workers both count."""
    table = cast(Table, AdminLoginFailure.__table__)
    for key in keys:
        upsert = upsert_insert(session, table).values(key=key, failures=1, last_failed_at=now)
        failures = session.execute(
            upsert.on_conflict_do_update(
                index_elements=["key"],
                set_={"failures": table.c.failures + 1, "last_failed_at": now},
            ).returning(table.c.failures)
        ).scalar_one()
        session.execute(
            update(AdminLoginFailure)
            .where(AdminLoginFailure.key == key)
            .values(locked_until=now + lock_for(failures))
        )


def clear(session: Session, keys: Sequence[str]) -> None:
    session.execute(delete(AdminLoginFailure).where(AdminLoginFailure.key.in_(keys)))


def prune_forgotten(session: Session, now: dt.datetime, limit: int) -> int:
    """Delete up to ``limit`` keys whose lock is over and whose last failure is
    ``FORGET_AFTER`` old: a pruning step for the worker's retention run."""
    keys = list(
        session.execute(
            select(AdminLoginFailure.key)
            .where(
                AdminLoginFailure.last_failed_at < now - FORGET_AFTER,
                (AdminLoginFailure.locked_until.is_(None)) | (AdminLoginFailure.locked_until < now),
            )
            .order_by(AdminLoginFailure.key)
            .limit(limit)
        ).scalars()
    )
    if keys:
        session.execute(delete(AdminLoginFailure).where(AdminLoginFailure.key.in_(keys)))
    return len(keys)
