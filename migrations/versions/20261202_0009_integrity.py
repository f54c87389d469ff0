"""Archive integrity and retention: Object Lock's retain-until, legal hold, scrub results.

Existing archived recordings start ``unchecked``: the first scrubs read them
back (oldest check first, so they come before anything checked already).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 02:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ARCHIVED = "archived_at IS NOT NULL"
PROBLEMS = "integrity IN ('missing', 'mismatch')"


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retain_until", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("legal_hold", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )
        batch_op.add_column(
            sa.Column("legal_hold_changed_at", UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "integrity",
                sa.Enum(
                    "unchecked",
                    "ok",
                    "missing",
                    "mismatch",
                    name="integrity",
                    native_enum=False,
                    create_constraint=True,
                    length=16,
                ),
                server_default="unchecked",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("integrity_checked_at", UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_recordings_scrub_order",
            ["integrity_checked_at", "id"],
            unique=False,
            postgresql_where=sa.text(ARCHIVED),
            sqlite_where=sa.text(ARCHIVED),
        )
        batch_op.create_index(
            "ix_recordings_legal_hold",
            ["recorded_at", "id"],
            unique=False,
            postgresql_where=sa.text("legal_hold"),
            sqlite_where=sa.text("legal_hold"),
        )
        batch_op.create_index(
            "ix_recordings_integrity_problems",
            ["recorded_at", "id"],
            unique=False,
            postgresql_where=sa.text(PROBLEMS),
            sqlite_where=sa.text(PROBLEMS),
        )


def downgrade() -> None:
    """Downgrade schema."""
    # The CHECK on ``integrity`` by whatever name the database gave it: SQLAlchemy
    # before 2.1 reflects it from SQLite as "integrity", not the convention's name.
    checks = [
        check["name"]
        for check in sa.inspect(op.get_bind()).get_check_constraints("recordings")
        if check.get("name") and "integrity" in (check.get("sqltext") or "")
    ]
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index("ix_recordings_integrity_problems")
        batch_op.drop_index("ix_recordings_legal_hold")
        batch_op.drop_index("ix_recordings_scrub_order")
        batch_op.drop_column("integrity_checked_at")
        for name in checks:
            batch_op.drop_constraint(op.f(name), type_="check")
        batch_op.drop_column("integrity")
        batch_op.drop_column("legal_hold_changed_at")
        batch_op.drop_column("legal_hold")
        batch_op.drop_column("retain_until")
