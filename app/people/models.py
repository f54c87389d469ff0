"""Console users and their server-side sessions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, string_enum
from app.people.roles import Role

NAME_LENGTH = 64


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    role: Mapped[Role] = mapped_column(string_enum(Role, "user_role"))
    # Argon2id, in its own encoded form (parameters and salt included).
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ConsoleSession(Base):
    """One signed-in browser. The cookie holds a random token; only its SHA-256 is
    kept here, so reading this table gives no one a session. Deleting the row
    ends the session on every web process at once."""

    __tablename__ = "console_sessions"
    __table_args__ = (Index("ix_console_sessions_user_id", "user_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # A database user's session; NULL for the ADMIN_USERNAME/ADMIN_PASSWORD login.
    user_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("users.id", ondelete="CASCADE"),
    )
    # The name signed in with (the env admin's name; a user's, for display).
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    # The env admin's session is bound to a hash of the configured credentials:
    # changing or unsetting ADMIN_PASSWORD ends it.
    credential_binding: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
