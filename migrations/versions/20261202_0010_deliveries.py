"""The outbox: forwarded callbacks and signed notifications (issue 18).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 02:19:14

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.db import UTCDateTime

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POLLED = "status IN ('pending', 'sending')"


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", _enum("delivery_kind", "forward", "notification"), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("recording_sid", sa.String(length=64), nullable=True),
        sa.Column("provider", sa.String(length=32), nullable=True),
        sa.Column("account_sid", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column(
            "content",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            _enum("delivery_status", "pending", "sending", "delivered", "failed"),
            nullable=False,
        ),
        sa.Column("run_after", UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("give_up_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_status_code", sa.SmallInteger(), nullable=True),
        sa.Column("last_answer", sa.Text(), nullable=True),
        sa.Column("last_tried_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
    )
    op.create_index(
        "ix_deliveries_claimable",
        "deliveries",
        ["run_after"],
        unique=False,
        postgresql_where=sa.text(POLLED),
        sqlite_where=sa.text(POLLED),
    )
    op.create_index(
        "ix_deliveries_recording_sid", "deliveries", ["recording_sid", "id"], unique=False
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_deliveries_recording_sid", table_name="deliveries")
    op.drop_index("ix_deliveries_claimable", table_name="deliveries")
    op.drop_table("deliveries")
