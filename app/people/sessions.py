"""Server-side console sessions: a random token in the (signed) cookie, its hash in
``console_sessions``. Ending a session is deleting its row, so logout, a password or
role change and removal take effect on every web process at the next request."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.audit import actions
from app.db import utcnow
from app.people.models import ConsoleSession, User
from app.people.roles import Role

# last_seen_at is written at most this often: the idle limit needs minutes,
# not a write on every page.
TOUCH_EVERY = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class SignedIn:
    """Who a console request is from."""

    name: str
    role: Role
    user_id: int | None  # None: the ADMIN_USERNAME/ADMIN_PASSWORD login

    @property
    def actor(self) -> str:
        return actions.user_actor(self.name)

    def allows(self, needed: Role) -> bool:
        return self.role.allows(needed)


@dataclass(frozen=True)
class Lifetimes:
    idle: dt.timedelta
    absolute: dt.timedelta


def token_hash(token: str) -> str:
    # The token is 256 random bits: a plain SHA-256 cannot be reversed or
    # guessed, so no slow hash is needed (unlike a person's password).
    return hashlib.sha256(token.encode()).hexdigest()


def credential_binding(secret_key: str, username: str | None, password: str | None) -> str | None:
    """What ties the env admin's sessions to the configured credentials (None when
    they are unset). Keyed with SECRET_KEY, so the table holds nothing that could be
    tried against guesses of ADMIN_PASSWORD."""
    if not username or not password:
        return None
    message = f"{username}\0{password}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def start(db: Session, *, user: User | None, name: str, binding: str | None) -> str:
    """A new session; returns the token for the cookie."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.add(
        ConsoleSession(
            token_hash=token_hash(token),
            user_id=user.id if user else None,
            name=name,
            credential_binding=None if user else binding,
            created_at=now,
            last_seen_at=now,
        )
    )
    if user is not None:
        user.last_sign_in_at = now
    db.flush()
    return token


def end(db: Session, token: str) -> None:
    db.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == token_hash(token)))


def resolve(
    db: Session, token: str, lifetimes: Lifetimes, binding: str | None, now: dt.datetime
) -> SignedIn | None:
    """Who holds ``token``, or None when the session ended, expired or no longer
    matches the configured admin credentials (an expired row is deleted)."""
    key = token_hash(token)
    row = db.execute(
        select(ConsoleSession, User)
        .outerjoin(User, User.id == ConsoleSession.user_id)
        .where(ConsoleSession.token_hash == key)
    ).first()
    if row is None:
        return None
    found, user = row
    expired = (
        now - found.created_at >= lifetimes.absolute or now - found.last_seen_at >= lifetimes.idle
    )
    if found.user_id is None:
        valid = binding is not None and hmac.compare_digest(found.credential_binding or "", binding)
    else:
        valid = user is not None
    if expired or not valid:
        db.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == key))
        return None
    if now - found.last_seen_at >= TOUCH_EVERY:
        db.execute(
            update(ConsoleSession).where(ConsoleSession.token_hash == key).values(last_seen_at=now)
        )
    if user is None:
        return SignedIn(name=found.name, role=Role.ADMIN, user_id=None)
    return SignedIn(name=user.name, role=user.role, user_id=user.id)


def signed_in_now(db: Session, lifetimes: Lifetimes, now: dt.datetime) -> list[tuple[str, Role]]:
    """Who has a live session (for the console's users page)."""
    rows = db.execute(
        select(
            ConsoleSession.name, User.role, ConsoleSession.created_at, ConsoleSession.last_seen_at
        )
        .outerjoin(User, User.id == ConsoleSession.user_id)
        .order_by(ConsoleSession.name)
    ).all()
    live = {
        (name, role or Role.ADMIN)
        for name, role, created, seen in rows
        if now - created < lifetimes.absolute and now - seen < lifetimes.idle
    }
    return sorted(live)
