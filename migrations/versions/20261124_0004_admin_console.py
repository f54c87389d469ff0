"""The admin console: listing order and its indexes, archive attempts, login failures.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 21:56:30.235378

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _sid_index(batch_op: object, column: str, partial: bool) -> None:
    where = sa.text(f"{column} IS NOT NULL") if partial else None
    batch_op.create_index(  # type: ignore[attr-defined]
        f"ix_recordings_{column}",
        [column],
        unique=False,
        postgresql_ops={column: "varchar_pattern_ops"},
        postgresql_where=where,
        sqlite_where=where,
    )


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "admin_login_failures",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_admin_login_failures")),
    )
    op.create_table(
        "archive_attempts",
        sa.Column("id", ID, nullable=False),
        sa.Column("recording_id", ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=128), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("bytes_moved", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_archive_attempts_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_attempts")),
    )
    with op.batch_alter_table("archive_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_archive_attempts_ended_at", ["ended_at"], unique=False)
        batch_op.create_index("ix_archive_attempts_recording", ["recording_id", "id"], unique=False)

    # recorded_at: added empty, filled from what is known, then required.
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recorded_at", UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE recordings SET recorded_at = COALESCE(started_at, created_at)")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.alter_column(
            "recorded_at", existing_type=UTCDateTime(timezone=True), nullable=False
        )
        batch_op.drop_index("ix_recordings_archive_state")
        batch_op.drop_index("ix_recordings_call_sid")
        batch_op.create_index("ix_recordings_listing", ["recorded_at", "id"], unique=False)
        batch_op.create_index(
            "ix_recordings_state_listing",
            ["archive_state", "recorded_at", "id"],
            unique=False,
            postgresql_include=["size_bytes"],
        )
        _sid_index(batch_op, "recording_sid", partial=False)
        _sid_index(batch_op, "call_sid", partial=True)
        _sid_index(batch_op, "conference_sid", partial=True)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        for name in (
            "ix_recordings_conference_sid",
            "ix_recordings_call_sid",
            "ix_recordings_recording_sid",
            "ix_recordings_state_listing",
            "ix_recordings_listing",
        ):
            batch_op.drop_index(name)
        batch_op.create_index("ix_recordings_call_sid", ["call_sid"], unique=False)
        batch_op.create_index("ix_recordings_archive_state", ["archive_state"], unique=False)
        batch_op.drop_column("recorded_at")
    op.drop_table("archive_attempts")
    op.drop_table("admin_login_failures")
