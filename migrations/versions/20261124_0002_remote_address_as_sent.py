"""Keep a callback's remote address as sent, whatever its length.

A trusted proxy's X-Forwarded-For can be longer than 64 characters; the
column took it on SQLite and refused it on PostgreSQL (a 500).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 21:30:08.663136

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("recording_events", schema=None) as batch_op:
        batch_op.alter_column(
            "remote_addr",
            existing_type=sa.VARCHAR(length=64),
            type_=sa.Text(),
            existing_nullable=True,
        )


def downgrade() -> None:
    """Downgrade schema (longer addresses are cut to the old column's 64 characters)."""
    with op.batch_alter_table("recording_events", schema=None) as batch_op:
        batch_op.alter_column(
            "remote_addr",
            existing_type=sa.Text(),
            type_=sa.VARCHAR(length=64),
            existing_nullable=True,
            postgresql_using="left(remote_addr, 64)",
        )
