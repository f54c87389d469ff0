"""Recordings and the callbacks received for them.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 02:56:20.167127

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "recording_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("dedup_key", sa.String(length=64), nullable=False),
        sa.Column("account_sid", sa.String(length=64), nullable=False),
        sa.Column("recording_sid", sa.String(length=64), nullable=False),
        sa.Column("recording_status", sa.String(length=32), nullable=False),
        sa.Column(
            "params", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("idempotency_token", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_events")),
        sa.UniqueConstraint(
            "provider", "dedup_key", name=op.f("uq_recording_events_provider_dedup_key")
        ),
    )
    with op.batch_alter_table("recording_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recording_events_recording", ["provider", "recording_sid"], unique=False
        )

    op.create_table(
        "recordings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("account_sid", sa.String(length=64), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=True),
        sa.Column("conference_sid", sa.String(length=64), nullable=True),
        sa.Column("recording_sid", sa.String(length=64), nullable=False),
        sa.Column("provider_status", sa.String(length=32), nullable=False),
        sa.Column("channels", sa.SmallInteger(), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("track", sa.String(length=32), nullable=True),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("media_url", sa.Text(), nullable=True),
        sa.Column(
            "archive_state",
            sa.Enum(
                "waiting",
                "queued",
                "running",
                "done",
                "failed",
                "no_media",
                name="archive_state",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_holder", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("bucket", sa.String(length=255), nullable=True),
        sa.Column("key", sa.Text(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("archived_channels", sa.SmallInteger(), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("original_deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
        sa.UniqueConstraint(
            "provider", "recording_sid", name=op.f("uq_recordings_provider_recording_sid")
        ),
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index("ix_recordings_archive_state", ["archive_state"], unique=False)
        batch_op.create_index("ix_recordings_call_sid", ["call_sid"], unique=False)
        batch_op.create_index(
            "ix_recordings_claimable",
            ["next_attempt_at"],
            unique=False,
            postgresql_where=sa.text("archive_state IN ('queued', 'running')"),
            sqlite_where=sa.text("archive_state IN ('queued', 'running')"),
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_recordings_claimable",
            postgresql_where=sa.text("archive_state IN ('queued', 'running')"),
            sqlite_where=sa.text("archive_state IN ('queued', 'running')"),
        )
        batch_op.drop_index("ix_recordings_call_sid")
        batch_op.drop_index("ix_recordings_archive_state")

    op.drop_table("recordings")
    with op.batch_alter_table("recording_events", schema=None) as batch_op:
        batch_op.drop_index("ix_recording_events_recording")

    op.drop_table("recording_events")
