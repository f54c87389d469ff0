"""``release`` then ``web``, run exactly as the Procfile writes them."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from urllib.parse import urlencode

import pytest
import requests
from sqlalchemy import Engine, create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url

from app.db import MIGRATION_LOCK_ID
from app.recordings.models import ArchiveState, Recording, RecordingEvent
from tests.helpers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    OTHER_ACCOUNT_SID,
    WEBHOOK_PATH,
    recording_params,
    recording_sid,
    sign,
)
from tests.procfile import (
    process_env,
    run_release,
    web_process,
)

PUBLIC_HOST = "archiver.example.com"
PUBLIC_URL = f"https://{PUBLIC_HOST}{WEBHOOK_PATH}"


@pytest.fixture(scope="module")
def served_web(
    engine: Engine, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One ``web`` for the module: its tests only send requests (none stops or restarts
    it), and each test's rows are deleted after it (``live_engine``)."""
    tmp_path = tmp_path_factory.mktemp("procfile-web")
    env = process_env(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "procfile-test-secret",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "WEB_CONCURRENCY": "2",
        }
    )
    with web_process(env, tmp_path / "web.log", release=True) as served:
        yield served.base_url
    assert AUTH_TOKEN not in served.process.log(), "the auth token reached the logs"


@pytest.fixture
def web(served_web: str, live_engine: Engine) -> str:
    return served_web


def post_as_heroku(base_url: str, params: dict[str, str], signature: str) -> requests.Response:
    """What Heroku's router forwards: the public Host, and X-Forwarded-Proto: https."""
    return requests.post(
        base_url + WEBHOOK_PATH,
        data=params,
        headers={
            "Host": PUBLIC_HOST,
            "X-Forwarded-Proto": "https",
            "X-Twilio-Signature": signature,
        },
        timeout=10,
    )


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        recordings = connection.execute(select(func.count()).select_from(Recording)).scalar_one()
        events = connection.execute(select(func.count()).select_from(RecordingEvent)).scalar_one()
    return recordings, events


def test_a_signed_callback_through_the_router_is_stored_in_both_tables(web, live_engine):
    params = recording_params("completed")
    response = post_as_heroku(web, params, sign(PUBLIC_URL, params))
    assert response.status_code == 204, response.text
    assert counts(live_engine) == (1, 1)
    with live_engine.connect() as connection:
        state = connection.execute(select(Recording.archive_state)).scalar_one()
    assert state is ArchiveState.QUEUED


@pytest.mark.parametrize(
    "case", ["wrong-signature", "missing-signature", "foreign-account", "signed-for-http"]
)
def test_refused_callbacks_store_nothing(web, live_engine, case):
    params = recording_params("completed")
    signature = sign(PUBLIC_URL, params)
    if case == "wrong-signature":
        signature = sign(PUBLIC_URL, params, token="not-the-token")
    elif case == "missing-signature":
        signature = ""
    elif case == "foreign-account":
        params = recording_params("completed", AccountSid=OTHER_ACCOUNT_SID)
        signature = sign(PUBLIC_URL, params)
    elif case == "signed-for-http":
        signature = sign(f"http://{PUBLIC_HOST}{WEBHOOK_PATH}", params)
    response = post_as_heroku(web, params, signature)
    assert response.status_code == 403
    assert response.json()["error"]
    assert counts(live_engine) == (0, 0)


def test_a_malformed_field_is_a_400_naming_it(web, live_engine):
    params = recording_params("completed", RecordingChannels="7")
    response = post_as_heroku(web, params, sign(PUBLIC_URL, params))
    assert response.status_code == 400
    assert "RecordingChannels" in response.json()["error"]
    assert counts(live_engine) == (0, 0)


def test_an_oversized_body_is_a_413(web, live_engine):
    params = recording_params("completed", Padding="x" * 70_000)
    response = post_as_heroku(web, params, sign(PUBLIC_URL, params))
    assert response.status_code == 413
    assert counts(live_engine) == (0, 0)


def test_an_oversized_chunked_body_is_a_413_too(web, live_engine):
    params = recording_params("completed", Padding="x" * 70_000)
    body = urlencode(params).encode()

    def chunks():  # a generator body makes requests send Transfer-Encoding: chunked
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    response = requests.post(
        web + WEBHOOK_PATH,
        data=chunks(),
        headers={
            "Host": PUBLIC_HOST,
            "X-Forwarded-Proto": "https",
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(PUBLIC_URL, params),
        },
        timeout=10,
    )
    assert response.status_code == 413, response.text
    assert "limit" in response.json()["error"]
    assert counts(live_engine) == (0, 0)


def test_64_stalled_clients_do_not_keep_a_real_callback_waiting(web, live_engine):
    """Half-sent requests hold no worker: callbacks and /healthz answer at once, and
    the stalled senders are cut off once their body is overdue."""
    port = int(web.rsplit(":", 1)[1])
    stalled = []
    for _ in range(64):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(
            f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: {PUBLIC_HOST}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Content-Length: 1000\r\n\r\nAccountSid=AC".encode()
        )
        stalled.append(sock)
    try:
        started = time.monotonic()
        assert requests.get(web + "/healthz", timeout=5).status_code == 200
        params = recording_params("completed")
        response = post_as_heroku(web, params, sign(PUBLIC_URL, params))
        elapsed = time.monotonic() - started
        assert response.status_code == 204, response.text
        assert elapsed < 1.0, f"answered after {elapsed:.2f}s"
        assert counts(live_engine) == (1, 1)

        # Each stalled sender gets its 408 once BODY_READ_SECONDS have passed.
        for sock in stalled:
            sock.settimeout(20)
            assert sock.recv(64).startswith(b"HTTP/1.1 408")
    finally:
        for sock in stalled:
            sock.close()
    assert counts(live_engine) == (1, 1)


def test_a_get_callback_is_served(web, live_engine):
    params = recording_params("completed")
    prepared = requests.Request("GET", PUBLIC_URL, params=params).prepare()
    query = prepared.url.split("?", 1)[1]
    response = requests.get(
        f"{web}{WEBHOOK_PATH}?{query}",
        headers={
            "Host": PUBLIC_HOST,
            "X-Forwarded-Proto": "https",
            "X-Twilio-Signature": sign(prepared.url, None),
        },
        timeout=10,
    )
    assert response.status_code == 204, response.text
    assert counts(live_engine) == (1, 1)


def test_racing_duplicates_across_workers_leave_one_correct_row(web, live_engine):
    """Every recording's callbacks are sent at once, duplicated and out of order."""
    sids = [recording_sid(n) for n in range(1, 21)]
    jobs = []
    for sid in sids:
        completed = recording_params("completed", sid=sid)
        in_progress = recording_params("in-progress", sid=sid)
        jobs += [completed] * 4 + [in_progress] * 2
    barrier = Barrier(12)

    def send(params: dict[str, str]) -> int:
        barrier.wait(timeout=30)
        return post_as_heroku(web, params, sign(PUBLIC_URL, params)).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(send, jobs))
    assert statuses == [204] * len(jobs)
    with live_engine.connect() as connection:
        rows = connection.execute(
            select(Recording.recording_sid, Recording.provider_status, Recording.archive_state)
        ).all()
        events = connection.execute(select(func.count()).select_from(RecordingEvent)).scalar_one()
    assert sorted(r.recording_sid for r in rows) == sids
    assert {(r.provider_status, r.archive_state) for r in rows} == {
        ("completed", ArchiveState.QUEUED)
    }
    # One event per distinct callback: a completed and an in-progress per recording.
    assert events == 2 * len(sids)


def test_releases_wait_for_the_migration_lock_and_then_both_succeed(
    engine: Engine, is_postgres, database_url
):
    """Two releases started while the lock is held both wait on it, then finish."""
    if not is_postgres:
        pytest.skip("advisory locks are PostgreSQL's")
    name = "release_race"
    admin = engine.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        connection.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(database_url).set(database=name)
    env = process_env({"DATABASE_URL": url.render_as_string(hide_password=False)})
    race_engine = create_engine(url)
    try:
        with race_engine.connect() as holder, ThreadPoolExecutor(2) as pool:
            holder.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            futures = [pool.submit(run_release, env) for _ in range(2)]

            def waiting() -> int:
                with admin.connect() as connection:
                    return int(
                        connection.execute(
                            text(
                                "SELECT count(*) FROM pg_locks "
                                "WHERE locktype = 'advisory' AND NOT granted"
                            )
                        ).scalar_one()
                    )

            deadline = time.monotonic() + 60
            while waiting() < 2:
                assert time.monotonic() < deadline, "the releases did not wait for the lock"
                assert not any(f.done() for f in futures), "a release ran without the lock"
                time.sleep(0.05)
            holder.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            holder.commit()
            results = [f.result(timeout=120) for f in futures]
        for result in results:
            assert result.returncode == 0, result.stderr
        with race_engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
            assert len(versions) == 1
            assert inspect(connection).has_table("recordings")
    finally:
        race_engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
