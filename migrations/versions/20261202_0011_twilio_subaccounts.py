"""Provider accounts: Twilio subaccounts' friendly names and statuses, for the console.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 02:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "provider_accounts",
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("account_sid", sa.String(length=64), nullable=False),
        sa.Column("friendly_name", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider", "account_sid", name=op.f("pk_provider_accounts")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("provider_accounts")
