"""Do the shared ``metric_totals`` rows serialise the workers' commits?

``python -m bench.stats_contention [--tries 2000] [--processes 1,4]``

Each process ends ``--tries`` tries the way a worker does (``stats.add`` with a
done try's increments: the outcome, the bytes, both histograms, 31 rows), one
transaction each, as fast as it can; the main process samples
``pg_stat_activity`` every 5 ms for backends waiting on a lock. Run with the
rows shared by every worker (every process in shard 0: the design before
migration 0016) and sharded as stored (each process in a shard of its own:
``own_shard`` draws one of ``stats.SHARDS`` at random, here they are dealt out
so that no two collide), at 1 and 4 processes, on PostgreSQL.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from typing import Any

from sqlalchemy import text

from app.db import make_engine, make_session_factory, transaction
from app.recordings import stats
from bench.common import under_postgres


def increments() -> dict[tuple[str, str], float]:
    rows = {(stats.ATTEMPTS, stats.labels(outcome="done")): 1.0, (stats.ARCHIVED_BYTES, ""): 5e6}
    rows.update(stats.histogram(stats.DOWNLOAD_SECONDS, 0.3))
    rows.update(stats.histogram(stats.UPLOAD_SECONDS, 0.2))
    return rows


def one_process(url: str, tries: int, shard: int, start: Any, out: Any) -> None:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    rows = increments()
    with transaction(sessions) as session:  # connect, and the rows exist, before timing
        stats.add(session, rows, shard=shard)
    start.wait()
    latencies = []
    for _ in range(tries):
        began = time.perf_counter()
        with transaction(sessions) as session:
            stats.add(session, rows, shard=shard)
        latencies.append(time.perf_counter() - began)
    out.put(latencies)
    engine.dispose()


def measure(url: str, processes: int, tries: int, sharded: bool) -> dict[str, float]:
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM metric_totals"))
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(processes + 1), ctx.Queue()
    workers = [
        ctx.Process(
            target=one_process, args=(url, tries, n % stats.SHARDS if sharded else 0, start, out)
        )
        for n in range(processes)
    ]
    for w in workers:
        w.start()
    start.wait()
    began = time.perf_counter()
    samples = waiting = 0
    results: list[list[float]] = []
    with engine.connect() as connection:
        while len(results) < processes:
            waiting += connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
            samples += 1
            connection.commit()
            while not out.empty():
                results.append(out.get())
            time.sleep(0.005)
    wall = time.perf_counter() - began
    for w in workers:
        w.join()
    engine.dispose()
    latencies = sorted(x for r in results for x in r)
    return {
        "commits_per_s": len(latencies) / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "backends_waiting_on_a_lock": waiting / samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stats_contention")
    parser.add_argument("--tries", type=int, default=2000)
    parser.add_argument("--processes", default="1,4")
    args = parser.parse_args()
    under_postgres("bench.stats_contention")
    url = os.environ["DATABASE_URL"]
    from tests.procfile import process_env, run_release

    assert run_release(process_env({"DATABASE_URL": url, "SECRET_KEY": "bench"})).returncode == 0
    print("| rows | processes | commits/s | p50 ms | p99 ms | backends waiting on a lock |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for sharded in (False, True):
        for count in [int(n) for n in args.processes.split(",")]:
            r = measure(url, count, args.tries, sharded)
            print(
                f"| {'a shard per process' if sharded else 'shared (one shard)'} | {count} | "
                f"{r['commits_per_s']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                f"{r['backends_waiting_on_a_lock']:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
