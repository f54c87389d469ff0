"""The outbox's deliveries per second to a local receiver.

``python -m bench deliveries [--deliveries 2000] [--workers 1,2]``

Writes ``--deliveries`` ``recording.archived`` notifications to the outbox
(one per recording, as the archive step does), then starts the Procfile's
``worker`` processes with ``NOTIFY_URL`` at a local receiver that answers
204 at once (``tests/fakes/receiver.py``, a threaded HTTP server) and times
until every one is delivered. Reference, in the same run: one client
POSTing the same signed bodies to the same receiver back to back over one
kept-alive connection (what the receiver and the signing alone cost).
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import func, select, text

from bench.common import ROOT
from tests.fakes.receiver import Receiver
from tests.helpers import recording_sid
from tests.procfile import Process, process_env, run_release

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _fill(engine: Any, settings: Any, count: int) -> None:
    from app.db import make_session_factory, transaction
    from app.deliveries.outbox import ARCHIVED, enqueue_notification

    with transaction(make_session_factory(engine)) as session:
        session.execute(text("TRUNCATE deliveries"))
        for n in range(count):
            sid = recording_sid(70_000_000 + n)
            payload = {"sid": sid, "provider": "twilio", "size": 1000 + n}
            enqueue_notification(session, ARCHIVED, payload, sid, settings=settings)


def _delivered(engine: Any) -> int:
    from app.deliveries.models import Delivery, DeliveryStatus

    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.status == DeliveryStatus.DELIVERED)
            ).scalar_one()
        )


def _reference(receiver: Receiver, count: int) -> float:
    from standardwebhooks.webhooks import Webhook

    webhook = Webhook(SECRET)
    http = requests.Session()
    started = time.perf_counter()
    for n in range(count):
        body = f'{{"type":"recording.archived","data":{{"sid":"{recording_sid(n)}"}}}}'
        now = dt.datetime.now(dt.UTC)
        headers = {
            "webhook-id": f"msg_{n}",
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": webhook.sign(f"msg_{n}", now, body),
            "Content-Type": "application/json",
        }
        http.post(receiver.url, data=body, headers=headers, timeout=10).raise_for_status()
    return count / (time.perf_counter() - started)


def run(database_url: str, count: int, workers: list[int]) -> dict[str, Any]:
    from app import load_settings
    from app.db import make_engine

    workdir = Path(tempfile.mkdtemp(prefix="bench-deliveries-"))
    results: dict[str, Any] = {"deliveries": count, "workers": {}}
    with Receiver(path="/events") as receiver:
        env = process_env(
            {
                "DATABASE_URL": database_url,
                "SECRET_KEY": "bench",
                "NOTIFY_URL": receiver.url,
                "NOTIFY_SECRET": SECRET,
                "LOG_FORMAT": "text",
                "WORKER_POLL_SECONDS": "0.2",
            }
        )
        release = run_release(env)
        if release.returncode:
            raise SystemExit(release.stderr)
        settings = load_settings({**env, "DATABASE_URL": database_url}, serving=False)
        engine = make_engine(database_url)
        for n in workers:
            _fill(engine, settings, count)
            receiver.received.clear()
            started = time.perf_counter()
            processes = [Process("worker", env, workdir / f"worker-{n}-{i}.log") for i in range(n)]
            try:
                deadline = time.monotonic() + 600
                while _delivered(engine) < count:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"only {_delivered(engine)} of {count} delivered")
                    time.sleep(0.05)  # polled with a deadline
                elapsed = time.perf_counter() - started
            finally:
                for process in processes:
                    process.stop()
            rate = count / elapsed
            results["workers"][str(n)] = {"per_second": rate, "received": len(receiver.received)}
            print(f"  {n} worker(s): {rate:,.0f} deliveries/s", flush=True)
        results["reference_per_second"] = _reference(receiver, count)
        engine.dispose()
    return results


def table(result: dict[str, Any]) -> str:
    rows = [
        f"{result['deliveries']} `recording.archived` notifications in the outbox, sent by the "
        "Procfile's `worker` to a local receiver answering 204; PostgreSQL. The time includes "
        "the workers' start.\n",
        "| senders | deliveries/s | requests received |",
        "| --- | ---: | ---: |",
    ]
    for n, row in result["workers"].items():
        rows.append(f"| {n} worker(s) | {row['per_second']:,.0f} | {row['received']} |")
    rows.append(
        f"| reference: one client, signed POSTs back to back | "
        f"{result['reference_per_second']:,.0f} | {result['deliveries']} |"
    )
    return "\n".join(rows)


__all__ = ["ROOT", "run", "table"]
