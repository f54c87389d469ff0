"""Call details on the recording: from, to, direction, caller name, look-up state.

Recordings known before this revision start ``pending``; they get their
details when reconciliation lists them again (within its look-back window,
or from ``reconcile --since`` for older ones), which queues their look-up.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 02:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("from_number", sa.Text(), nullable=True))
        batch.add_column(sa.Column("to_number", sa.Text(), nullable=True))
        batch.add_column(sa.Column("from_digits_reversed", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("to_digits_reversed", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("direction", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("caller_name", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column(
                "call_details_state",
                sa.String(length=16),
                server_default="pending",
                nullable=False,
            )
        )
        batch.add_column(sa.Column("call_details_error", sa.Text(), nullable=True))
    for side in ("from", "to"):
        op.create_index(
            f"ix_recordings_{side}_digits",
            "recordings",
            [f"{side}_digits_reversed"],
            unique=False,
            postgresql_where=sa.text(f"{side}_digits_reversed IS NOT NULL"),
            sqlite_where=sa.text(f"{side}_digits_reversed IS NOT NULL"),
        )


def downgrade() -> None:
    """Downgrade schema."""
    for side in ("from", "to"):
        op.drop_index(
            f"ix_recordings_{side}_digits",
            table_name="recordings",
            postgresql_where=sa.text(f"{side}_digits_reversed IS NOT NULL"),
            sqlite_where=sa.text(f"{side}_digits_reversed IS NOT NULL"),
        )
    with op.batch_alter_table("recordings") as batch:
        for name in (
            "call_details_error",
            "call_details_state",
            "caller_name",
            "direction",
            "to_digits_reversed",
            "from_digits_reversed",
            "to_number",
            "from_number",
        ):
            batch.drop_column(name)
