"""The outbox's table: one row per forwarded callback or notification.

A row is written in the same transaction as what causes it (the callback
stored, the archive step settled), so nothing is sent that did not happen and
nothing that happened goes unsent. The worker claims rows like work items
(a status, ``run_after`` and a lease) but from this table itself: a
delivery's order, receiver and answers are its own columns, which the claim
and the console page read.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, string_enum, utcnow
from app.recordings.models import JSONType


class DeliveryKind(enum.StrEnum):
    """Which receiver a delivery goes to (each kind is one URL setting)."""

    FORWARD = "forward"  # a provider's callback, on to FORWARD_URL
    NOTIFICATION = "notification"  # one of our events, to NOTIFY_URL


class DeliveryStatus(enum.StrEnum):
    """Where a delivery stands; ``pending`` and ``sending`` are the polled states."""

    PENDING = "pending"  # due at run_after (attempts > 0: retrying)
    SENDING = "sending"  # a worker holds the lease; run_after is the lease's expiry
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # a 4xx that is not 408/429, or retried for the whole window


POLLED = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
_POLLED_SQL = "status IN ('pending', 'sending')"


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        # The claim reads only polled rows; keep its index small.
        Index(
            "ix_deliveries_claimable",
            "run_after",
            postgresql_where=text(_POLLED_SQL),
            sqlite_where=text(_POLLED_SQL),
        ),
        # A recording's deliveries in order: the console page, and the claim's
        # "nothing earlier for this recording still to send".
        Index("ix_deliveries_recording_sid", "recording_sid", "id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    kind: Mapped[DeliveryKind] = mapped_column(string_enum(DeliveryKind, "delivery_kind"))
    # What it is: "recording.archived", "recording.failed"...; a forward's is "callback".
    event_type: Mapped[str] = mapped_column(String(64))
    recording_sid: Mapped[str | None] = mapped_column(String(64))
    # Whose callback a forward is (the signing key is looked up by these at send time).
    provider: Mapped[str | None] = mapped_column(String(32))
    account_sid: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(8), default="POST")
    # A forward: [[name, value], ...] as received, order and repeats kept.
    # A notification: the event's data (the JSON body is built at send time).
    content: Mapped[Any] = mapped_column(JSONType)
    # Standard Webhooks' webhook-id: the same for every try, so receivers can
    # tell a retry from a new event.
    message_id: Mapped[str] = mapped_column(String(64))

    status: Mapped[DeliveryStatus] = mapped_column(string_enum(DeliveryStatus, "delivery_status"))
    run_after: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    # After this, a retryable answer ends it as failed (enqueue or redeliver + 24 h).
    give_up_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    # How the last try went, for people: "HTTP 503 Service Unavailable",
    # "timed out"... never the receiver's URL or body.
    last_answer: Mapped[str | None] = mapped_column(Text)
    last_tried_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def retrying(self) -> bool:
        return self.status is DeliveryStatus.PENDING and self.attempts > 0

    def __repr__(self) -> str:
        return f"<Delivery {self.id} {self.kind.value} {self.event_type} {self.status.value}>"
