"""Users: add, change role or password, remove, list. Every change that should end
a user's sessions does so here, in the same transaction, and is audited by the
caller's actor."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from app import audit
from app.audit import actions
from app.db import utcnow
from app.people.models import NAME_LENGTH, ConsoleSession, User
from app.people.passwords import DEFAULT_PROFILE, hash_password
from app.people.roles import Role

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]*")


class UserRefused(ValueError):
    """A change we do not make; the message names the reason."""


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name) or len(name) > NAME_LENGTH:
        raise UserRefused(
            f"a user name is 1-{NAME_LENGTH} letters, digits and _ . @ - "
            "(starting with a letter or digit)"
        )
    return name


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise UserRefused(
            f"no role called {value!r}; roles are {', '.join(r.value for r in Role)}"
        ) from None


def find(db: Session, name: str) -> User | None:
    return db.execute(select(User).where(User.name == name)).scalar_one_or_none()


def _existing(db: Session, name: str) -> User:
    user = find(db, name)
    if user is None:
        raise UserRefused(f"no user called {name!r}")
    return user


def end_sessions(db: Session, user: User) -> int:
    """Every session of ``user`` ends (on every web process: they read this table)."""
    result = db.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user.id))
    return int(cast(CursorResult[Any], result).rowcount)


def add(
    db: Session,
    name: str,
    role: Role,
    password: str,
    *,
    actor: str,
    address: str | None,
    hash_profile: str = DEFAULT_PROFILE,
) -> User:
    check_name(name)
    if find(db, name) is not None:
        raise UserRefused(f"there is already a user called {name!r}")
    user = User(
        name=name,
        role=role,
        password_hash=hash_password(password, hash_profile),
        created_at=utcnow(),
    )
    db.add(user)
    db.flush()
    audit.record(
        db, actor=actor, address=address, action=actions.USER_ADD, detail=f"{name} as {role}"
    )
    return user


def set_password(
    db: Session,
    name: str,
    password: str,
    *,
    actor: str,
    address: str | None,
    hash_profile: str = DEFAULT_PROFILE,
) -> User:
    user = _existing(db, name)
    user.password_hash = hash_password(password, hash_profile)
    ended = end_sessions(db, user)
    audit.record(
        db,
        actor=actor,
        address=address,
        action=actions.USER_SET_PASSWORD,
        detail=f"{name}; {ended} session(s) ended",
    )
    return user


def set_role(db: Session, name: str, role: Role, *, actor: str, address: str | None) -> User:
    user = _existing(db, name)
    before = user.role
    user.role = role
    ended = end_sessions(db, user)
    audit.record(
        db,
        actor=actor,
        address=address,
        action=actions.USER_SET_ROLE,
        detail=f"{name}: {before} -> {role}; {ended} session(s) ended",
    )
    return user


def remove(db: Session, name: str, *, actor: str, address: str | None) -> None:
    user = _existing(db, name)
    ended = end_sessions(db, user)
    db.delete(user)
    db.flush()
    audit.record(
        db,
        actor=actor,
        address=address,
        action=actions.USER_REMOVE,
        detail=f"{name}; {ended} session(s) ended",
    )


def all_users(db: Session) -> Sequence[User]:
    return db.execute(select(User).order_by(User.name)).scalars().all()
