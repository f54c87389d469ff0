"""Running totals the workers keep in the database, for /metrics on any machine.

A worker on another machine cannot share prometheus_client's files with the
web process, so what the workers count (tries by outcome, bytes archived,
how long downloads and uploads take) is added to ``metric_totals`` in the
same transaction that ends each try: one small table, exact whichever
process answers the scrape.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from app.db import upsert_insert
from app.recordings.models import MetricTotal

ATTEMPTS = "archive_attempts_total"
ARCHIVED_BYTES = "archived_bytes_total"
DOWNLOAD_SECONDS = "download_seconds"
UPLOAD_SECONDS = "upload_seconds"
OUTAGES = "dependency_outages_total"
# Seconds; recordings run from kilobytes to hundreds of megabytes.
BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, math.inf)


def labels(**values: str) -> str:
    return ",".join(f'{k}="{v}"' for k, v in sorted(values.items()))


def histogram(name: str, seconds: float) -> dict[tuple[str, str], float]:
    """The increments one observation makes: its buckets, the sum and the count."""
    rows = {
        (f"{name}_bucket", labels(le="+Inf" if le == math.inf else repr(le))): 1.0
        for le in BUCKETS
        if seconds <= le
    }
    rows[(f"{name}_sum", "")] = seconds
    rows[(f"{name}_count", "")] = 1.0
    return rows


def add(session: Session, increments: Mapping[tuple[str, str], float]) -> None:
    """Add to the totals (one batched upsert; concurrent workers add up)."""
    if not increments:
        return
    table = cast(Table, MetricTotal.__table__)
    statement = upsert_insert(session, table)
    statement = statement.on_conflict_do_update(
        index_elements=["name", "labels"], set_={"value": table.c.value + statement.excluded.value}
    )
    session.execute(
        statement,
        [{"name": n, "labels": lab, "value": v} for (n, lab), v in sorted(increments.items())],
    )


def totals(session: Session) -> Iterable[tuple[str, str, float]]:
    rows = session.execute(select(MetricTotal.name, MetricTotal.labels, MetricTotal.value))
    return [(name, labels, float(value)) for name, labels, value in rows]
