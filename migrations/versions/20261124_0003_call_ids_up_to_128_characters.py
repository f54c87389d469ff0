"""Call ids up to 128 characters: Telnyx's call control ids (v3:...) run long.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 22:05:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.alter_column(
            "call_sid",
            existing_type=sa.VARCHAR(length=64),
            type_=sa.String(length=128),
            existing_nullable=True,
        )


def downgrade() -> None:
    """Downgrade schema (longer call ids are cut to the old 64 characters)."""
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.alter_column(
            "call_sid",
            existing_type=sa.String(length=128),
            type_=sa.VARCHAR(length=64),
            existing_nullable=True,
            postgresql_using="left(call_sid, 64)",
        )
