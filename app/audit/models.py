"""The audit log's table: rows only ever inserted, each chained to the one before."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime

ACTOR_LENGTH = 160
ADDRESS_LENGTH = 64
ACTION_LENGTH = 64
SID_LENGTH = 128
DETAIL_LENGTH = 500


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (
        # /admin/audit's filters, each paged newest first by id (keyset).
        Index("ix_audit_entries_actor_id", "actor", "id"),
        Index("ix_audit_entries_action_id", "action", "id"),
        Index("ix_audit_entries_recording_sid_id", "recording_sid", "id"),
        Index("ix_audit_entries_at", "at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    address: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    action: Mapped[str] = mapped_column(String(ACTION_LENGTH))
    recording_sid: Mapped[str | None] = mapped_column(String(SID_LENGTH))
    detail: Mapped[str] = mapped_column(String(DETAIL_LENGTH), default="")
    # SHA-256 (hex) of the previous entry's hash and this entry's canonical fields.
    hash: Mapped[str] = mapped_column(String(64))
