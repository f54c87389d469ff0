"""Work items (claimed rows under a lease) replace scheduled_runs.

The reconciliation's periods become items of kind ``reconcile``. Nothing in
``scheduled_runs`` is worth carrying over: it held only when the next run was
due and the last run's summary. Without it the current period is due at once,
so after the upgrade the first worker reconciles the look-back window once,
which changes nothing that was already recorded (a run is idempotent).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 00:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POLLED = "status IN ('queued', 'running')"


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "work_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "done",
                "failed",
                name="work_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("run_after", UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("tries", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_items")),
        sa.UniqueConstraint("kind", "key", name=op.f("uq_work_items_kind_key")),
    )
    op.create_index(
        "ix_work_items_claimable",
        "work_items",
        ["kind", "run_after"],
        unique=False,
        postgresql_where=sa.text(POLLED),
        sqlite_where=sa.text(POLLED),
    )
    op.drop_table("scheduled_runs")


def downgrade() -> None:
    """Downgrade schema."""
    op.create_table(
        "scheduled_runs",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("next_run_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_started_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_summary", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduled_runs")),
    )
    op.drop_index("ix_work_items_claimable", table_name="work_items")
    op.drop_table("work_items")
