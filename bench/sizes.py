"""Bytes per row and per index of the tables that grow with recordings, on PostgreSQL.

``python -m bench.sizes [--rows 200000]``

Seeds ``--rows`` recordings the way ``bench admin`` does (two callbacks each,
one try per done recording, eight per failed one), runs VACUUM ANALYZE, then
reads ``pg_relation_size`` (the heap), ``pg_indexes_size`` and
``pg_total_relation_size`` (TOAST included) of each table, divided by its rows.
"""

from __future__ import annotations

import argparse
import os

from sqlalchemy import text

from app.db import make_engine
from bench.admin import seed
from bench.common import under_postgres

TABLES = ("recordings", "recording_events", "archive_attempts", "work_items", "metric_totals")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sizes")
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    under_postgres("bench.sizes")
    url = os.environ["DATABASE_URL"]
    from tests.procfile import process_env, run_release

    assert run_release(process_env({"DATABASE_URL": url, "SECRET_KEY": "bench"})).returncode == 0
    seed(url, args.rows)
    engine = make_engine(url)
    print("| table | rows | heap bytes/row | index bytes/row | total bytes/row | indexes |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    with engine.connect() as connection:
        for table in TABLES:
            rows = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608
            heap, indexes, total, count = connection.execute(
                text(
                    "SELECT pg_relation_size(c.oid), pg_indexes_size(c.oid), "
                    "pg_total_relation_size(c.oid), "
                    "(SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid) "
                    "FROM pg_class c WHERE c.relname = :t"
                ),
                {"t": table},
            ).one()
            per = max(rows, 1)
            print(
                f"| {table} | {rows:,} | {heap / per:.0f} | {indexes / per:.0f} | "
                f"{total / per:.0f} | {count} |"
            )
    engine.dispose()


if __name__ == "__main__":
    main()
