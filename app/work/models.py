"""The work items' table."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, string_enum, utcnow


class WorkStatus(enum.StrEnum):
    """Where a unit of work stands.

    ``queued`` and ``running`` are the states workers poll; ``running`` is only
    ever held under a lease, so a dead worker's claim runs out by itself.
    """

    QUEUED = "queued"  # due at run_after
    RUNNING = "running"  # a worker holds the lease; run_after is the lease's expiry
    DONE = "done"
    FAILED = "failed"  # given up: no retry was asked for


class WorkItem(Base):
    __tablename__ = "work_items"
    __table_args__ = (
        UniqueConstraint("kind", "key"),
        # The claim reads only these rows; keep its index small.
        Index(
            "ix_work_items_claimable",
            "kind",
            "run_after",
            postgresql_where=text("status IN ('queued', 'running')"),
            sqlite_where=text("status IN ('queued', 'running')"),
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(128))
    status: Mapped[WorkStatus] = mapped_column(string_enum(WorkStatus, "work_status"))
    # When it is due; while running, when the lease runs out (one column, so
    # one condition and one index find every claimable row).
    run_after: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)  # how the last try went, for people
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<WorkItem {self.kind}:{self.key} {self.status.value}>"
