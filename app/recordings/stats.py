"""Running totals the workers keep in the database, for /metrics on any machine.

A worker on another machine cannot share prometheus_client's files with the
web process, so what the workers count (tries by outcome, bytes archived,
how long downloads and uploads take) is added to ``metric_totals`` in the
same transaction that ends each try: one small table, exact whichever
process answers the scrape.

Each total is kept in shards, one a writing process: a row every worker
added to was a row lock every try-ending commit queued on (with 4 processes
0.78 of them waiting on average, ``bench.stats_contention``). A process adds
to its own shard's rows and the scrape sums the shards, so the figures stay
exact and the workers no longer wait on each other.
"""

from __future__ import annotations

import functools
import math
import os
import random
from collections.abc import Iterable, Mapping

from sqlalchemy import TextClause, func, select, text
from sqlalchemy.orm import Session

from app.recordings.models import MetricTotal

ATTEMPTS = "archive_attempts_total"
ARCHIVED_BYTES = "archived_bytes_total"
DOWNLOAD_SECONDS = "download_seconds"
UPLOAD_SECONDS = "upload_seconds"
OUTAGES = "dependency_outages_total"
# A fixed range, not one shard per process id: pids (and hosts) change with
# every restart, so shards named after them would leave new rows behind each
# time and the table (and every scrape's sum) would grow for ever. With 64 the
# table stays at most 64 rows a total whatever the restarts, and 64 is past
# the ~40 workers the capacity plan needs (bench/README.md). Two processes that draw
# the same shard are still exact (the upsert adds up); they only queue on
# each other's row locks as every worker did before.
SHARDS = 64
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


_drawn: tuple[int, int] | None = None  # (the pid that drew it, its shard)


def own_shard() -> int:
    """This process's shard, drawn at random once per process. Drawn, not the
    pid modulo SHARDS: in containers every worker can be pid 1 or 7. The pid is
    kept beside it so a forked child draws its own instead of sharing its
    parent's."""
    global _drawn
    pid = os.getpid()
    if _drawn is None or _drawn[0] != pid:
        _drawn = (pid, random.randrange(SHARDS))  # spreads load, guards nothing
    return _drawn[1]


def add(
    session: Session, increments: Mapping[tuple[str, str], float], shard: int | None = None
) -> None:
    """Add to the totals in ``shard`` (this process's unless given): one upsert
    statement of every row; concurrent writers add up, in the same shard or not.

    One multi-row VALUES rather than an executemany: a try's end adds to ~31
    rows, and executemany sends (and the server runs) one statement per row.
    The rows go in a fixed order, so two writers of one shard lock them in the
    same order and cannot deadlock."""
    if not increments:
        return
    mine = own_shard() if shard is None else shard
    params: dict[str, object] = {"shard": mine}
    for n, ((name, lab), value) in enumerate(sorted(increments.items())):
        params.update({f"n{n}": name, f"l{n}": lab, f"v{n}": value})
    session.execute(_upsert(len(increments)), params)


@functools.cache
def _upsert(rows: int) -> TextClause:
    """The upsert of ``rows`` rows, made once per row count: SQLAlchemy does not
    cache a multi-row VALUES construct's compilation, and compiling ~31 rows'
    worth at every try's end cost more than the statements it saved. Both
    backends spell the upsert the same way."""
    # Only placeholders are formatted in (named from integers); every value is bound.
    values = ", ".join(f"(:n{n}, :l{n}, :shard, :v{n})" for n in range(rows))
    return text(
        f"INSERT INTO metric_totals (name, labels, shard, value) VALUES {values} "  # noqa: S608
        "ON CONFLICT (name, labels, shard) DO UPDATE SET value = "
        "metric_totals.value + excluded.value"
    )


def totals(session: Session) -> Iterable[tuple[str, str, float]]:
    """Each total, its shards summed (at scrape time, so the writers never wait on
    one another for it)."""
    rows = session.execute(
        select(MetricTotal.name, MetricTotal.labels, func.sum(MetricTotal.value))
        .group_by(MetricTotal.name, MetricTotal.labels)
        .order_by(MetricTotal.name, MetricTotal.labels)
    )
    return [(name, labels, float(value)) for name, labels, value in rows]
