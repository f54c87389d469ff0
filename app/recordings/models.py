"""The recording's tables: one row per recording, one per callback received."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, string_enum, utcnow

# JSONB on PostgreSQL (indexable, compact), plain JSON text elsewhere.
JSONType = JSON().with_variant(postgresql.JSONB(), "postgresql")
# The same, where Python's None is SQL NULL (not JSON null), so COALESCE keeps
# what an earlier report said.
NullableJSONType = JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True), "postgresql"
)


class ArchiveState(enum.StrEnum):
    """Where a recording stands in the archive pipeline.

    ``queued`` and ``running`` are the states the worker polls; ``running`` is
    only ever held under a lease, so a dead worker's claim runs out.
    """

    WAITING = "waiting"  # known, but the provider has not finished it yet
    QUEUED = "queued"  # ready: archive it, or finish deleting the original
    RUNNING = "running"  # a worker holds the lease
    DONE = "done"  # archive confirmed and the original deleted (or kept by choice)
    FAILED = "failed"  # gave up after the last try; retry from admin or CLI
    NO_MEDIA = "no_media"  # absent/failed at the provider: nothing to archive


class Integrity(enum.StrEnum):
    """What the last read-back of an archived object found (contract v3's ``integrity``)."""

    UNCHECKED = "unchecked"  # not read back since it was archived
    OK = "ok"  # every byte read back, SHA-256 and size as recorded
    MISSING = "missing"  # nothing under the key any more
    MISMATCH = "mismatch"  # something else under the key: other bytes or another size


INTEGRITY_PROBLEMS = (Integrity.MISSING, Integrity.MISMATCH)


class CallDetailsState(enum.StrEnum):
    """Whether the call's details (from, to, direction) were looked up."""

    PENDING = "pending"  # not looked up yet (or being retried)
    DONE = "done"
    UNAVAILABLE = "unavailable"  # given up: call_details_error says why


class Recording(Base):
    __tablename__ = "recordings"
    __table_args__ = (
        UniqueConstraint("provider", "recording_sid"),
        # The worker's claim query reads only these rows; keep its index small.
        Index(
            "ix_recordings_claimable",
            "next_attempt_at",
            postgresql_where=text("archive_state IN ('queued', 'running')"),
            sqlite_where=text("archive_state IN ('queued', 'running')"),
        ),
        # The admin listing: newest first, keyset-paged on (recorded_at, id),
        # whole or by archive state (whose index also covers the bytes archived,
        # so the overview's sums need not visit the table).
        Index("ix_recordings_listing", "recorded_at", "id"),
        Index(
            "ix_recordings_state_listing",
            "archive_state",
            "recorded_at",
            "id",
            postgresql_include=["size_bytes"],
        ),
        # SID search by prefix: pattern operators let PostgreSQL use the index
        # for LIKE 'prefix%' whatever the database's collation.
        Index(
            "ix_recordings_recording_sid",
            "recording_sid",
            postgresql_ops={"recording_sid": "varchar_pattern_ops"},
        ),
        Index(
            "ix_recordings_call_sid",
            "call_sid",
            postgresql_ops={"call_sid": "varchar_pattern_ops"},
            postgresql_where=text("call_sid IS NOT NULL"),
            sqlite_where=text("call_sid IS NOT NULL"),
        ),
        Index(
            "ix_recordings_conference_sid",
            "conference_sid",
            postgresql_ops={"conference_sid": "varchar_pattern_ops"},
            postgresql_where=text("conference_sid IS NOT NULL"),
            sqlite_where=text("conference_sid IS NOT NULL"),
        ),
        # The scrub: archived recordings, the longest unchecked first.
        Index(
            "ix_recordings_scrub_order",
            "integrity_checked_at",
            "id",
            postgresql_where=text("archived_at IS NOT NULL"),
            sqlite_where=text("archived_at IS NOT NULL"),
        ),
        # The console's "legal hold" and "integrity problems" filters: few rows each.
        Index(
            "ix_recordings_legal_hold",
            "recorded_at",
            "id",
            postgresql_where=text("legal_hold"),
            sqlite_where=text("legal_hold"),
        ),
        Index(
            "ix_recordings_integrity_problems",
            "recorded_at",
            "id",
            postgresql_where=text("integrity IN ('missing', 'mismatch')"),
            sqlite_where=text("integrity IN ('missing', 'mismatch')"),
        ),
        # Phone search by the number's last digits: each side's digits reversed,
        # searched as a range of prefixes (app.recordings.phones), which a plain
        # B-tree serves on both databases.
        Index(
            "ix_recordings_from_digits",
            "from_digits_reversed",
            postgresql_where=text("from_digits_reversed IS NOT NULL"),
            sqlite_where=text("from_digits_reversed IS NOT NULL"),
        ),
        Index(
            "ix_recordings_to_digits",
            "to_digits_reversed",
            postgresql_where=text("to_digits_reversed IS NOT NULL"),
            sqlite_where=text("to_digits_reversed IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    account_sid: Mapped[str] = mapped_column(String(64))
    call_sid: Mapped[str | None] = mapped_column(String(128))
    conference_sid: Mapped[str | None] = mapped_column(String(64))
    recording_sid: Mapped[str] = mapped_column(String(64))

    provider_status: Mapped[str] = mapped_column(String(32))
    channels: Mapped[int | None] = mapped_column(SmallInteger)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str | None] = mapped_column(String(64))
    track: Mapped[str | None] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(32))
    media_url: Mapped[str | None] = mapped_column(Text)
    # Voice Recording Encryption: type, public_key_sid, encrypted_cek, iv (see
    # app.providers.encryption); or, when the provider's details could not be
    # read, the text as received.
    encryption_details: Mapped[dict[str, str] | None] = mapped_column(NullableJSONType)
    encryption_details_unparsed: Mapped[str | None] = mapped_column(Text)

    archive_state: Mapped[ArchiveState] = mapped_column(string_enum(ArchiveState, "archive_state"))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lease_holder: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    bucket: Mapped[str | None] = mapped_column(String(255))
    key: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    archived_channels: Mapped[int | None] = mapped_column(SmallInteger)
    archived_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    original_deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Object Lock: the retention the object was written with (None: none).
    retain_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    legal_hold_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The scrub's last read-back of the archived object.
    integrity: Mapped[Integrity] = mapped_column(
        string_enum(Integrity, "integrity"), default=Integrity.UNCHECKED, server_default="unchecked"
    )
    integrity_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    # The call's details, looked up at the provider after the recording is first
    # seen (app.calls). Numbers in E.164 when they are phone numbers, else as
    # the provider sent them (client:alice, sip:..., anonymous). Columns of the
    # recording rather than a table of their own: the listing, the search and
    # the CSV read them with every row, in the listing's index order.
    from_number: Mapped[str | None] = mapped_column(Text)
    to_number: Mapped[str | None] = mapped_column(Text)
    from_digits_reversed: Mapped[str | None] = mapped_column(String(32))
    to_digits_reversed: Mapped[str | None] = mapped_column(String(32))
    direction: Mapped[str | None] = mapped_column(String(32))
    caller_name: Mapped[str | None] = mapped_column(Text)
    # A server default only: the webhook's one-statement INSERT ... SELECT on
    # PostgreSQL would otherwise bind a Python default it is not given (NULL).
    call_details_state: Mapped[str] = mapped_column(String(16), server_default="pending")
    call_details_error: Mapped[str | None] = mapped_column(Text)

    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the recording was made, for ordering: its start, or when we first
    # heard of it when the provider gave no start.
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def encrypted(self) -> bool:
        """Whether the provider encrypted the bytes (read or not, its details came)."""
        return self.encryption_details is not None or self.encryption_details_unparsed is not None

    def __repr__(self) -> str:
        return (
            f"<Recording {self.provider}:{self.recording_sid} "
            f"{self.provider_status}/{self.archive_state.value}>"
        )


class RecordingEvent(Base):
    """One callback as received: every parameter as the provider sent it.

    ``dedup_key`` is a digest of the provider and its parameters, so a
    provider's retry of the same callback lands on the unique constraint and is
    stored once.
    """

    __tablename__ = "recording_events"
    __table_args__ = (
        UniqueConstraint("provider", "dedup_key"),
        Index("ix_recording_events_recording", "provider", "recording_sid"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    dedup_key: Mapped[str] = mapped_column(String(64))
    account_sid: Mapped[str] = mapped_column(String(64))
    recording_sid: Mapped[str] = mapped_column(String(64))
    recording_status: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType)
    method: Mapped[str] = mapped_column(String(8))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # As the peer (or a trusted proxy) gave it; any length, so never refused.
    remote_addr: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(128))
    idempotency_token: Mapped[str | None] = mapped_column(String(128))


class AttemptOutcome(enum.StrEnum):
    RUNNING = "running"  # a worker is on it
    DONE = "done"  # archived and confirmed (and the original deleted, unless kept)
    RETRY = "retry"  # failed; another try is scheduled
    FAILED = "failed"  # failed; no tries left, or nothing a retry could fix
    RELEASED = "released"  # the worker stopped (SIGTERM) and gave it back, no try counted
    LEASE_LOST = "lease-lost"  # another worker took it over
    ABANDONED = "abandoned"  # the worker died; its lease ran out


class ArchiveAttempt(Base):
    """One try at archiving a recording, written by the worker as it goes."""

    __tablename__ = "archive_attempts"
    __table_args__ = (
        Index("ix_archive_attempts_recording", "recording_id", "id"),
        Index("ix_archive_attempts_ended_at", "ended_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    recording_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("recordings.id", ondelete="CASCADE"),
    )
    number: Mapped[int] = mapped_column(Integer)
    worker_id: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(16))
    bytes_moved: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)


class MetricTotal(Base):
    """A running total the workers add to (attempts by outcome, bytes archived,
    histogram buckets), so /metrics on any web process reports every worker on
    every machine, read from one small table."""

    __tablename__ = "metric_totals"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    labels: Mapped[str] = mapped_column(String(255), primary_key=True)  # 'k="v",k="v"'
    # Which writer's share of the total (``stats.SHARDS`` of them; readers sum
    # them): one shared row per total made every worker's try-ending commit
    # wait on the others' row locks. Rows from before the shards are shard 0.
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default="0")
    value: Mapped[float] = mapped_column(Float)


class ProviderAccount(Base):
    """An account a provider listed to us (Twilio's subaccounts): what people call
    it, for the console's filter and listing. Reconciliation keeps it current."""

    __tablename__ = "provider_accounts"

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    friendly_name: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str | None] = mapped_column(String(32))  # the provider's: active, closed...
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
