"""The admin console at a million recordings: each page timed server-side.

``python -m bench admin [--rows 1000000]``

Migrates the database, seeds ``--rows`` recordings (with two callbacks and one
archive try each, more for the failed ones) in SQL, analyses the tables, and
then times, inside the app (Flask's test client: routing, queries and
templates, no network), the listing, a filtered listing (failed), a SID
search, a deep page (past 90 % of the rows) and a detail page. Prints the
median and 95th percentile of each and the query plans' index use.
"""

from __future__ import annotations

import statistics
import time
from typing import Any
from urllib.parse import quote

from alembic import command
from sqlalchemy import text

from app import create_app
from app.api.params import encode_cursor
from app.config import normalise_database_url
from app.db import make_engine
from app.people import tokens
from app.recordings import queries
from app.recordings.queries import Position
from tests.helpers import alembic_config, make_settings

SEED = """
INSERT INTO recordings (
    provider, account_sid, call_sid, conference_sid, recording_sid, provider_status,
    channels, duration_seconds, started_at, source, archive_state, attempts,
    next_attempt_at, last_error, bucket, key, size_bytes, sha256, archived_channels,
    archived_at, original_deleted_at, created_at, updated_at, recorded_at,
    from_number, from_digits_reversed, to_number, to_digits_reversed, direction,
    call_details_state
)
SELECT
    CASE WHEN g % 10 = 0 THEN 'signalwire' ELSE 'twilio' END,
    'AC' || md5('account'),
    'CA' || md5('call' || g),
    NULL,
    'RE' || md5('recording' || g),
    CASE WHEN s.state = 'no_media' THEN 'absent' WHEN s.state = 'waiting' THEN 'in-progress'
         ELSE 'completed' END,
    2, 30 + g % 600,
    s.at, 'DialVerb', s.state,
    CASE WHEN s.state = 'failed' THEN 8 WHEN s.state = 'done' THEN 1 ELSE 0 END,
    CASE WHEN s.state = 'queued' THEN s.at END,
    CASE WHEN s.state = 'failed' THEN 'download: HTTP 404 (not found; media may not be ready yet)' END,
    CASE WHEN s.state = 'done' THEN 'archive' END,
    CASE WHEN s.state = 'done' THEN 'twilio/AC/' || to_char(s.at, 'YYYY/MM/DD') || '/RE' || md5('recording' || g) || '.mp3' END,
    CASE WHEN s.state = 'done' THEN 200000 + g % 5000000 END,
    CASE WHEN s.state = 'done' THEN md5('x' || g) || md5('y' || g) END,
    CASE WHEN s.state = 'done' THEN 2 END,
    CASE WHEN s.state = 'done' THEN s.at + interval '1 minute' END,
    CASE WHEN s.state = 'done' THEN s.at + interval '1 minute' END,
    s.at, s.at, s.at,
    '+' || s.caller, reverse(s.caller), '+' || s.called, reverse(s.called),
    CASE WHEN g % 3 = 0 THEN 'outbound-dial' ELSE 'inbound' END, 'done'
FROM generate_series(1, :rows) AS g,
LATERAL (SELECT
    timestamptz '2026-01-01' + (g * interval '25 seconds') AS at,
    CASE WHEN g % 100 < 90 THEN 'done' WHEN g % 100 < 93 THEN 'failed'
         WHEN g % 100 < 95 THEN 'queued' WHEN g % 100 < 98 THEN 'no_media'
         ELSE 'waiting' END AS state,
    -- 250,000 customers calling four times each, to one of 50 company lines
    '1' || (2000000000::bigint + ((g::bigint * 7919) % 250000) * 31337::bigint)::text AS caller,
    '1' || (4155550100::bigint + g % 50)::text AS called
) AS s
"""

EVENTS = """
INSERT INTO recording_events (
    provider, dedup_key, account_sid, recording_sid, recording_status, params, method,
    received_at, remote_addr, request_id
)
SELECT r.provider, md5(r.recording_sid || st.status), r.account_sid, r.recording_sid,
       st.status,
       jsonb_build_object('AccountSid', r.account_sid, 'CallSid', r.call_sid,
                          'RecordingSid', r.recording_sid, 'RecordingStatus', st.status,
                          'RecordingDuration', r.duration_seconds::text,
                          'RecordingChannels', '2', 'RecordingSource', 'DialVerb'),
       'POST', r.recorded_at + st.delay, '10.0.0.1', md5(r.recording_sid || st.status)
FROM recordings r,
     (VALUES ('in-progress', interval '0'), ('completed', interval '1 minute'))
       AS st(status, delay)
"""

ATTEMPTS = """
INSERT INTO archive_attempts (
    recording_id, number, worker_id, started_at, ended_at, outcome, bytes_moved, error
)
SELECT r.id, n, 'bench:1', r.recorded_at + n * interval '1 minute',
       r.recorded_at + n * interval '1 minute' + interval '2 seconds',
       CASE WHEN r.archive_state = 'done' THEN 'done'
            WHEN n = r.attempts THEN 'failed' ELSE 'retry' END,
       r.size_bytes,
       CASE WHEN r.archive_state = 'failed' THEN 'download: HTTP 404' END
FROM recordings r, generate_series(1, GREATEST(r.attempts, 0)) AS n
WHERE r.attempts > 0
"""


def seed(database_url: str, rows: int) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        existing = connection.execute(text("SELECT count(*) FROM recordings")).scalar_one()
        if existing >= rows:
            print(f"reusing {existing:,} recordings already seeded")
            return
        connection.execute(text("TRUNCATE recordings, recording_events, archive_attempts CASCADE"))
        for name, sql, params in (
            ("recordings", SEED, {"rows": rows}),
            ("callbacks", EVENTS, {}),
            ("archive tries", ATTEMPTS, {}),
        ):
            started = time.perf_counter()
            count = connection.execute(text(sql), params).rowcount
            print(f"seeded {count:,} {name} in {time.perf_counter() - started:.0f}s", flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def timed(client, url: str, repeats: int, headers=None) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    times = []
    status = 0
    for _ in range(repeats + 2):
        started = time.perf_counter()
        response = client.get(url, headers=headers or {"Accept": "text/html"})
        times.append((time.perf_counter() - started) * 1000)
        status = response.status_code
    times = sorted(times[2:])  # the first two warm caches
    return statistics.median(times), times[int(len(times) * 0.95) - 1], status


def run(database_url: str, rows: int, repeats: int = 20) -> dict[str, Any]:
    database_url = normalise_database_url(database_url)
    command.upgrade(alembic_config(database_url), "head")
    seed(database_url, rows)
    settings = make_settings(
        database_url=database_url, admin_username="bench", admin_password="bench-password"
    )
    app = create_app({"settings": settings})
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    client = app.test_client()
    # Signed in through the login form, as a person would (sessions are rows).
    signed = client.post("/admin/login", data={"username": "bench", "password": "bench-password"})
    assert signed.status_code == 302, signed.status_code
    engine = make_engine(database_url)
    with engine.connect() as connection:
        deep = connection.execute(
            text(
                "SELECT recorded_at, id FROM recordings ORDER BY recorded_at DESC, id DESC "
                "OFFSET :n LIMIT 1"
            ),
            {"n": int(rows * 0.9)},
        ).one()
        failed_id, failed_sid, failed_recording, caller = connection.execute(
            text(
                "SELECT id, call_sid, recording_sid, from_number FROM recordings "
                "WHERE archive_state = 'failed' LIMIT 1"
            )
        ).one()
    engine.dispose()
    pages = {
        "listing (with overview)": "/admin/",
        "filtered: failed": "/admin/?state=failed",
        "filtered: provider + dates": "/admin/?provider=signalwire&from=2026-03-01&to=2026-03-31",
        "SID search (call, 10-char prefix)": f"/admin/?q={failed_sid[:10]}",
        "phone search: full number, (NPA) NXX-XXXX": "/admin/?q="
        + quote(f"({caller[2:5]}) {caller[5:8]}-{caller[8:]}"),
        "phone search: last four digits": f"/admin/?q={caller[-4:]}",
        "phone search: a company line's last four (20,000 calls)": "/admin/?q=0100",
        "deep page (90 % down)": f"/admin/?before={Position(deep[0], deep[1]).encode()}",
        "detail page": f"/admin/recordings/{failed_id}",
    }
    timings: dict[str, dict[str, float]] = {}
    for name, url in pages.items():
        median, p95, status = timed(client, url, repeats)
        assert status == 200, (name, status)
        timings[name] = {"median_ms": median, "p95_ms": p95}
        print(f"  {name}: {timings[name]}", flush=True)
    # The recordings API (issue 18): the same queries behind a bearer token, as JSON.
    with app.app_context(), app.extensions["recording_archiver"].sessions() as db:
        db.execute(text("DELETE FROM api_tokens WHERE name = 'bench'"))
        token = tokens.create(db, "bench", "viewer", created_by="bench")
        db.commit()
    bearer = {"Authorization": f"Bearer {token}"}
    cursor = encode_cursor(Position(deep[0], deep[1]))
    for name, url in {
        "API listing (first page of 100)": "/api/v1/recordings",
        "API listing: failed, one provider": "/api/v1/recordings?state=failed&provider=twilio",
        "API deep page (90 % down)": f"/api/v1/recordings?after={cursor}",
        "API one recording": f"/api/v1/recordings/{failed_recording}",
    }.items():
        median, p95, status = timed(client, url, repeats, headers=bearer)
        assert status == 200, (name, status)
        timings[name] = {"median_ms": median, "p95_ms": p95}
        print(f"  {name}: {timings[name]}", flush=True)
    timings.update(csv_export(client, caller))
    # The audit log (issue 16): a million entries, the page newest first and filtered,
    # and what one listen's audit write adds to the request that plays it.
    seed_audit(database_url, rows)
    for name, url in {
        "audit log (first page of 100)": "/admin/audit",
        "audit log: one user": "/admin/audit?user=user7",
        "audit log: one action": "/admin/audit?action=recording.download",
        "audit log: one recording": f"/admin/audit?sid={failed_recording}",
    }.items():
        median, p95, status = timed(client, url, repeats)
        assert status == 200, (name, status)
        timings[name] = {"median_ms": median, "p95_ms": p95}
        print(f"  {name}: {timings[name]}", flush=True)
    timings.update(listen_cost(app, failed_recording, repeats))
    overview_times = []
    with app.app_context():
        sessions = app.extensions["recording_archiver"].sessions
        for _ in range(5):
            started = time.perf_counter()
            with sessions() as db:
                queries.overview(db)
            overview_times.append((time.perf_counter() - started) * 1000)
    timings["overview figures, read in the background every 30 s"] = {
        "median_ms": statistics.median(overview_times),
        "p95_ms": max(overview_times),
    }
    return {"rows": rows, "repeats": repeats, "pages": timings}


def csv_export(client, caller: str) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    """The CSV download's rows per second: the whole listing (up to its row limit)
    and one caller's calls."""
    figures = {}
    for name, url in (
        ("CSV export: everything (row limit)", "/admin/recordings.csv"),
        ("CSV export: one caller", "/admin/recordings.csv?q=" + quote(caller)),
    ):
        started = time.perf_counter()
        response = client.get(url)
        body = response.get_data()  # the stream, read to its end: that is the export
        seconds = time.perf_counter() - started
        assert response.status_code == 200, (name, response.status_code)
        rows = body.count(b"\n") - 1
        figures[name] = {
            "median_ms": seconds * 1000,
            "p95_ms": seconds * 1000,
            "rows": rows,
            "rows_per_second": rows / seconds,
        }
        print(
            f"  {name}: {rows:,} rows in {seconds:.2f}s ({rows / seconds:,.0f} rows/s)", flush=True
        )
    return figures


AUDIT_SEED = """
INSERT INTO audit_entries (at, actor, address, action, recording_sid, detail, hash)
SELECT timestamptz '2026-01-01' + g * interval '20 seconds',
       'user:user' || (g % 50),
       '10.0.0.' || (g % 200),
       (ARRAY['recording.listen', 'recording.download', 'login', 'recording.retry'])[1 + g % 4],
       'RE' || md5('recording' || (g % 100000)),
       '',
       md5(g::text) || md5((g + 1)::text)
FROM generate_series(1, :rows) AS g
"""


def seed_audit(database_url: str, rows: int) -> None:
    """``rows`` audit entries (their hashes are not a chain: this times pages, not verify)."""
    engine = make_engine(database_url)
    with engine.begin() as connection:
        if connection.execute(text("SELECT count(*) FROM audit_entries")).scalar_one() < rows:
            connection.execute(text("TRUNCATE audit_entries"))
            started = time.perf_counter()
            connection.execute(text(AUDIT_SEED), {"rows": rows})
            print(f"seeded {rows:,} audit entries in {time.perf_counter() - started:.0f}s")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE audit_entries"))
    engine.dispose()


def listen_cost(app, recording_sid: str, repeats: int) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    """One listen's audit entry (the chain's lock, the last hash, the insert, the commit),
    timed as the player's route writes it, against the same transaction without it."""
    from app.audit import actions, record

    sessions = app.extensions["recording_archiver"].sessions
    rows: dict[str, list[float]] = {"without": [], "with": []}
    for n in range(repeats * 5):
        for name in ("without", "with"):
            started = time.perf_counter()
            with sessions() as db, db.begin():
                db.execute(text("SELECT 1"))
                if name == "with":
                    record(
                        db,
                        actor="user:bench",
                        address="127.0.0.1",
                        action=actions.RECORDING_LISTEN,
                        recording_sid=recording_sid,
                        detail=f"bench {n}",
                    )
            rows[name].append((time.perf_counter() - started) * 1000)
    without, with_ = statistics.median(rows["without"]), statistics.median(rows["with"])
    return {
        "a listen's audit write (added to the request)": {
            "median_ms": with_ - without,
            "p95_ms": sorted(rows["with"])[int(len(rows["with"]) * 0.95) - 1] - without,
        }
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['rows']:,} recordings (2 callbacks and 1+ tries each), PostgreSQL; "
        f"each page {result['repeats']} times, timed inside the app (routing, queries, "
        "templates; no network).\n",
        "| page | median ms | p95 ms |",
        "| --- | ---: | ---: |",
    ]
    for name, row in result["pages"].items():
        if "rows_per_second" in row:
            lines.append(
                f"| {name}: {row['rows']:,.0f} rows, {row['rows_per_second']:,.0f} rows/s "
                f"| {row['median_ms']:.0f} (once) | |"
            )
            continue
        lines.append(f"| {name} | {row['median_ms']:.1f} | {row['p95_ms']:.1f} |")
    return "\n".join(lines)
