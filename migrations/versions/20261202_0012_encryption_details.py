"""Voice Recording Encryption: each recording's encryption details.

Both columns are nullable and empty for every existing recording (none of
them came with details), so the upgrade rewrites nothing.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 02:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(
            sa.Column(
                "encryption_details",
                sa.JSON(none_as_null=True).with_variant(
                    postgresql.JSONB(none_as_null=True), "postgresql"
                ),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("encryption_details_unparsed", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("encryption_details_unparsed")
        batch.drop_column("encryption_details")
