"""Failed logins slow the next ones down: a lock-out that doubles with each failure.

Kept in the database so every web worker (and every machine) counts the
same failures. A try is counted *before* its password is checked, by one
statement per key that both decides and counts: an upsert whose update only
happens while the key is not locked, returning the new count (PostgreSQL
holds the row's lock from that statement to the commit, so twenty
simultaneous tries after a lock ran out see each other: one is let through
and locks the key again, the others are refused without a password check).
A right password then clears the counts.

The client's address is counted first, then the username:

- an address gets 3 free failures, then 1 s, 2 s, 4 s ... up to 15 minutes;
- a username gets 10 free failures, then 1 s, 2 s ... up to 5 minutes (a
  ceiling: a guesser keeps the name locked only while guessing);
- the username's lock applies only to addresses that have failures of their
  own. Someone on the internet guessing at ``admin`` from many addresses
  slows every guessing address down, but the real admin, from an address
  with no failures, still gets a password check.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy.orm import Session

from app.admin.models import AdminLoginFailure
from app.db import upsert_insert

FREE_FAILURES = 3  # failures allowed from one address before any lock-out
LONGEST_LOCK = dt.timedelta(minutes=15)
USER_FREE_FAILURES = 10
USER_LONGEST_LOCK = dt.timedelta(minutes=5)
# A key's failures are forgotten this long after its last one, once its lock is
# over: long past LONGEST_LOCK, so a slow guesser is still counted up to the
# longest lock, and the table holds a day of failures, not every one ever made.
FORGET_AFTER = dt.timedelta(days=1)


def lock_for(
    failures: int, free: int = FREE_FAILURES, longest: dt.timedelta = LONGEST_LOCK
) -> dt.timedelta:
    """1 s after the 3rd failure, then 2, 4, 8 ... up to 15 minutes."""
    if failures < free:
        return dt.timedelta(0)
    return min(longest, dt.timedelta(seconds=2 ** min(failures - free, 30)))


def address_key(address: str | None) -> str:
    return f"addr:{address or '?'}"[:160]


def user_key(username: str) -> str:
    return f"user:{username.strip().lower()}"[:160]


def keys_for(address: str | None, username: str) -> list[str]:
    return [address_key(address), user_key(username)]


@dataclass(frozen=True)
class Claim:
    """A try let through (its password may be checked), or refused for ``wait`` s."""

    allowed: bool
    wait: float = 0.0


def _count(
    session: Session, key: str, now: dt.datetime, *, free: int, longest: dt.timedelta, gate: bool
) -> int | None:
    """Count one failure against ``key`` unless it is locked (``gate``), in one statement.
    Returns the new count, or None when the key was locked (nothing counted)."""
    table = cast(Table, AdminLoginFailure.__table__)
    upsert = upsert_insert(session, table).values(
        key=key, failures=1, last_failed_at=now, locked_until=now + lock_for(1, free, longest)
    )
    unlocked = or_(table.c.locked_until.is_(None), table.c.locked_until <= now)
    failures = session.execute(
        upsert.on_conflict_do_update(
            index_elements=["key"],
            set_={"failures": table.c.failures + 1, "last_failed_at": now},
            where=unlocked if gate else None,
        ).returning(table.c.failures)
    ).scalar()
    if failures is None:
        return None
    failures = int(failures)
    # Still under the row lock the upsert took: no other try reads it in between.
    session.execute(
        update(AdminLoginFailure)
        .where(AdminLoginFailure.key == key)
        .values(locked_until=now + lock_for(failures, free, longest))
    )
    return failures


def _wait(session: Session, key: str, now: dt.datetime) -> float:
    until = session.execute(
        select(AdminLoginFailure.locked_until).where(AdminLoginFailure.key == key)
    ).scalar()
    return max(0.0, (until - now).total_seconds()) if until else 0.0


def claim(session: Session, address: str | None, username: str, now: dt.datetime) -> Claim:
    """Count this try as a failure (``clear`` undoes it when the password is right),
    or refuse it. Commit before checking the password: the count is what stops the
    next simultaneous try."""
    by_address = _count(
        session, address_key(address), now, free=FREE_FAILURES, longest=LONGEST_LOCK, gate=True
    )
    if by_address is None:
        return Claim(False, _wait(session, address_key(address), now))
    # This address's first failure: the username's lock does not apply to it.
    clean = by_address == 1
    key = user_key(username)
    by_user = _count(
        session, key, now, free=USER_FREE_FAILURES, longest=USER_LONGEST_LOCK, gate=not clean
    )
    if by_user is None:
        return Claim(False, _wait(session, key, now))
    return Claim(True)


def locked_for(session: Session, keys: list[str], now: dt.datetime) -> float:
    """Seconds until a login may be tried again (0: now); for pages and tests."""
    return max([0.0, *(_wait(session, key, now) for key in keys)])


def clear(session: Session, address: str | None, username: str) -> None:
    keys = keys_for(address, username)
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
