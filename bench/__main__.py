"""``python -m bench <webhook|archive|backfill|admin|chaos|deliveries|all>``: see bench/README.md."""

from __future__ import annotations

import argparse
import os
import sys

from bench.common import save, under_postgres


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="name", required=True)
    webhook = sub.add_parser("webhook", help="the webhook under wrk, beside two references")
    webhook.add_argument("--seconds", type=int, default=10)
    webhook.add_argument("--connections", default="1,8,32,128")
    archive = sub.add_parser("archive", help="recordings through 1, 2, 4 workers; one big one")
    archive.add_argument("--recordings", type=int, default=1000)
    archive.add_argument("--workers", default="1,2,4")
    archive.add_argument("--big-mb", type=int, default=300)
    backfill = sub.add_parser("backfill", help="reconciliation over a long listing")
    backfill.add_argument("--recordings", type=int, default=10_000)
    backfill.add_argument("--page-delay", type=float, default=0.0)
    admin = sub.add_parser("admin", help="the console's pages at a million recordings")
    admin.add_argument("--rows", type=int, default=1_000_000)
    chaos = sub.add_parser("chaos", help="faults injected while recordings flow")
    chaos.add_argument("--recordings", type=int, default=500)
    chaos.add_argument("--faults", type=int, default=24)
    scrub = sub.add_parser("scrub", help="the scrub's read-back rate, with and without its ceiling")
    scrub.add_argument("--objects", type=int, default=20)
    scrub.add_argument("--mb", type=int, default=20)
    scrub.add_argument("--ceilings", default="0,20,50")
    deliveries = sub.add_parser("deliveries", help="the outbox's deliveries per second")
    deliveries.add_argument("--deliveries", type=int, default=2000)
    deliveries.add_argument("--workers", default="1,2")
    sub.add_parser("all", help="webhook, archive, backfill and admin, one after another")
    args = parser.parse_args()
    under_postgres()
    database_url = os.environ["DATABASE_URL"]
    names = ["webhook", "archive", "backfill", "admin"] if args.name == "all" else [args.name]
    for name in names:
        print(f"== {name}", flush=True)
        if name == "webhook":
            from bench import webhook as module

            levels = [int(n) for n in getattr(args, "connections", "1,8,32,128").split(",")]
            result = module.run(database_url, getattr(args, "seconds", 10), levels)
        elif name == "archive":
            from bench import archive as module  # type: ignore[no-redef]

            result = module.run(
                database_url,
                getattr(args, "recordings", 1000),
                [int(n) for n in getattr(args, "workers", "1,2,4").split(",") if n],
                getattr(args, "big_mb", 300),
            )
        elif name == "backfill":
            from bench import reconcile as module  # type: ignore[no-redef]

            result = module.run(
                database_url, getattr(args, "recordings", 10_000), getattr(args, "page_delay", 0.0)
            )
        elif name == "admin":
            from bench import admin as module  # type: ignore[no-redef]

            result = module.run(database_url, getattr(args, "rows", 1_000_000))
        elif name == "scrub":
            from bench import scrub as module  # type: ignore[no-redef]

            ceilings = [float(n) for n in args.ceilings.split(",")]
            result = module.run(database_url, args.objects, args.mb, ceilings)
        elif name == "deliveries":
            from bench import deliveries as module  # type: ignore[no-redef]

            result = module.run(
                database_url, args.deliveries, [int(n) for n in args.workers.split(",")]
            )
        else:
            from bench import chaos as module  # type: ignore[no-redef]

            result = module.run(database_url, args.recordings, args.faults)
        text = module.table(result)
        print(text, flush=True)
        print(f"(kept in {save(name, result, text)} and bench/RESULTS.md)")
    sys.exit(0)


if __name__ == "__main__":
    main()
