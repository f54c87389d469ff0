"""API tokens: a name, a role, and the SHA-256 of a secret shown once.

A token is 32 random bytes (``secrets.token_urlsafe``) behind the prefix ``ra_``
(Recording Archiver), so secret scanners can be taught to find a leaked one.
Only its SHA-256 is kept. A slow password hash (Argon2) is for secrets people
choose and reuse; 256 random bits cannot be guessed however fast each guess is,
and a fast hash lets every API request be checked with one indexed look-up.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import BigInteger, Index, Integer, String, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.db import Base, UTCDateTime, utcnow

PREFIX = "ra_"
# ``token_urlsafe(32)``: 43 characters of the URL-safe base64 alphabet.
TOKEN_SHAPE = re.compile(r"ra_[A-Za-z0-9_-]{43}")
NAME_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
ROLES = ("viewer", "operator", "admin")


class TokenRefused(ValueError):
    """A token name or role we do not take, with the reason."""


class ApiToken(Base):
    __tablename__ = "api_tokens"
    __table_args__ = (
        # Names are unique among live tokens; a revoked one's name may be reused.
        Index(
            "uq_api_tokens_live_name",
            "name",
            unique=True,
            postgresql_where=text("revoked_at IS NULL"),
            sqlite_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(160))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class TokenHolder:
    """Who a request's token says it is."""

    name: str
    role: str

    @property
    def actor(self) -> str:
        return f"token:{self.name}"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    if not NAME_SHAPE.fullmatch(name):
        raise TokenRefused(
            "a token name is 1 to 64 letters, digits and _ . @ -, starting with a letter or digit"
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise TokenRefused(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def create(db: Session, name: str, role: str, created_by: str) -> str:
    """A new token; the returned secret is never stored and cannot be shown again."""
    check_name(name)
    check_role(role)
    live = db.execute(
        select(ApiToken.id).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
    ).first()
    if live is not None:
        raise TokenRefused(f"a token called {name!r} exists; revoke it first")
    secret = PREFIX + secrets.token_urlsafe(32)
    db.add(ApiToken(name=name, role=role, token_sha256=digest(secret), created_by=created_by))
    db.flush()
    return secret


def revoke(db: Session, name: str) -> bool:
    """End the live token called ``name`` at once; False when there is none."""
    done = db.execute(
        update(ApiToken)
        .where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def holder_of(db: Session, token: str) -> TokenHolder | None:
    """The live token's holder, or None (unknown, malformed or revoked)."""
    if not TOKEN_SHAPE.fullmatch(token):
        return None
    row = db.execute(
        select(ApiToken.name, ApiToken.role).where(
            ApiToken.token_sha256 == digest(token), ApiToken.revoked_at.is_(None)
        )
    ).first()
    return TokenHolder(row.name, row.role) if row else None


def live_tokens(db: Session) -> list[ApiToken]:
    return list(
        db.execute(
            select(ApiToken).where(ApiToken.revoked_at.is_(None)).order_by(ApiToken.name)
        ).scalars()
    )
