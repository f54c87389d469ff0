"""The workers' metric totals in shards, one a writing process, summed when read.

Every worker added to the same rows, so the commits that end tries queued on
each other's row locks. The upgrade keeps each existing total as shard 0; the
downgrade adds a total's shards back into one row first, so no count is lost
either way.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 10:15:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch: SQLite cannot change a primary key in place, so the table is copied
    # (a few dozen rows); PostgreSQL gets the plain ALTERs.
    with op.batch_alter_table("metric_totals") as batch:
        batch.add_column(sa.Column("shard", sa.SmallInteger(), server_default="0", nullable=False))
        batch.drop_constraint("pk_metric_totals", type_="primary")
        batch.create_primary_key("pk_metric_totals", ["name", "labels", "shard"])


def downgrade() -> None:
    # Each total's lowest shard takes the sum of all of them, then the others go.
    op.execute(
        "UPDATE metric_totals SET value = (SELECT sum(t.value) FROM metric_totals t"
        " WHERE t.name = metric_totals.name AND t.labels = metric_totals.labels)"
        " WHERE shard = (SELECT min(t.shard) FROM metric_totals t"
        " WHERE t.name = metric_totals.name AND t.labels = metric_totals.labels)"
    )
    op.execute(
        "DELETE FROM metric_totals WHERE shard > (SELECT min(t.shard) FROM metric_totals t"
        " WHERE t.name = metric_totals.name AND t.labels = metric_totals.labels)"
    )
    with op.batch_alter_table("metric_totals") as batch:
        batch.drop_constraint("pk_metric_totals", type_="primary")
        batch.create_primary_key("pk_metric_totals", ["name", "labels"])
        batch.drop_column("shard")
