"""Reconciliation over 10,000 listed recordings: how fast, and how much of it waits.

``python -m bench backfill [--recordings 10000] [--page-delay 0.0]``

Fills the fake Twilio API (a real HTTP server) with ``--recordings``
completed recordings, a tenth of them already known, and runs the
reconciliation twice: the first run queues what is missing, the second finds
nothing to do. ``--page-delay`` makes each listing page take that long, as a
provider far away would. Prints recordings per second and the share of the
time spent waiting for the provider's next page.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from alembic import command
from sqlalchemy import text

from app.config import normalise_database_url
from app.db import make_engine, make_session_factory
from app.providers import PROVIDERS
from app.recordings.reconcile import QUEUED, reconcile
from tests.archive.helpers import queue_recording
from tests.fakes.compat_api import Body, FakeTwilioApi
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, alembic_config, make_settings, recording_sid


def run(database_url: str, recordings: int, page_delay: float) -> dict[str, Any]:
    database_url = normalise_database_url(database_url)
    command.upgrade(alembic_config(database_url), "head")
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE recordings, recording_events, archive_attempts CASCADE"))
    sessions = make_session_factory(engine)
    day = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    runs = []
    with FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN) as fake:
        fake.list_delay = page_delay
        body = Body(1000, 1)
        for n in range(recordings):
            sid = recording_sid(10_000_000 + n)
            fake.add_recording(sid, mono=body, date_created=day + dt.timedelta(seconds=n))
            if n % 10 == 0:
                queue_recording(sessions, fake, sid)
        settings = make_settings(
            database_url=database_url,
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            twilio_api_base_url=fake.base_url,
        )
        api = PROVIDERS["twilio"].api(settings)
        assert api is not None
        for name in ("first run", "second run"):
            summary = reconcile(sessions, api, day - dt.timedelta(days=1))
            print(f"  {name}: " + "; ".join(line.strip() for line in summary.lines()), flush=True)
            runs.append(
                {
                    "run": name,
                    "listed": summary.listed,
                    "queued": summary.outcomes[QUEUED],
                    "seconds": summary.seconds,
                    "waiting_seconds": summary.waiting_seconds,
                }
            )
    engine.dispose()
    return {"recordings": recordings, "page_delay": page_delay, "runs": runs}


def table(result: dict[str, Any]) -> str:
    rows = [
        f"{result['recordings']:,} recordings listed by the fake Twilio API (1,000 a page, "
        f"{result['page_delay']} s per page), a tenth already known; PostgreSQL.\n",
        "| run | listed | queued | seconds | recordings/s | waiting for the provider |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in result["runs"]:
        rows.append(
            f"| {run['run']} | {run['listed']:,} | {run['queued']:,} | {run['seconds']:.2f} | "
            f"{run['listed'] / run['seconds']:,.0f} | {100 * run['waiting_seconds'] / run['seconds']:.0f}% |"
        )
    return "\n".join(rows)
