"""Reconciliation over 10,000 listed recordings: how fast, and how much of it waits.

    .venv/bin/python bench/reconcile.py [--recordings 10000] [--page-delay 0.0]

Starts a throwaway PostgreSQL with ``pg_virtualenv`` unless ``DATABASE_URL`` is
set, fills the fake Twilio API (a real HTTP server) with ``--recordings``
completed recordings, a tenth of them already known, and runs the
reconciliation twice: the first run queues what is missing, the second finds
nothing to do. ``--page-delay`` makes each listing page take that long, as a
provider far away would. Prints recordings per second and the share of the
time spent waiting for the provider's next page.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alembic import command  # noqa: E402
from sqlalchemy import text  # noqa: E402

from app.config import normalise_database_url  # noqa: E402
from app.db import make_engine, make_session_factory  # noqa: E402
from app.providers import PROVIDERS  # noqa: E402
from app.recordings.reconcile import reconcile  # noqa: E402
from tests.archive.helpers import queue_recording  # noqa: E402
from tests.fakes.compat_api import Body, FakeTwilioApi  # noqa: E402
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, alembic_config, make_settings, recording_sid  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recordings", type=int, default=10_000)
    parser.add_argument("--page-delay", type=float, default=0.0)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        line = shlex.join([sys.executable, *sys.argv])
        url = "postgresql://$PGUSER:$PGPASSWORD@$PGHOST:$PGPORT/$PGDATABASE"
        sys.exit(subprocess.call(["pg_virtualenv", "bash", "-c", f'DATABASE_URL="{url}" {line}']))
    database_url = normalise_database_url(os.environ["DATABASE_URL"])
    command.upgrade(alembic_config(database_url), "head")
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE recordings, recording_events, archive_attempts"))
    sessions = make_session_factory(engine)
    day = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN) as fake:
        fake.list_delay = args.page_delay
        body = Body(1000, 1)
        for n in range(args.recordings):
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
        for run in ("first run", "second run"):
            summary = reconcile(sessions, api, day - dt.timedelta(days=1))
            print(f"\n{run} (page delay {args.page_delay}s):")
            print("\n".join(summary.lines()))
    engine.dispose()


if __name__ == "__main__":
    main()
