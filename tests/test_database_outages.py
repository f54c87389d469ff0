"""The database restarting or every pooled connection being busy: a 503 the sender can
retry while it lasts, and not one 5xx once the database answers again."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests
from sqlalchemy import Engine

from app import create_app
from app.db import make_engine
from app.extensions import extensions
from tests.admin.helpers import HTML, PASSWORD, USERNAME, log_in
from tests.database_restart import restart_command, restart_database
from tests.helpers import (
    AUTH_TOKEN,
    WEBHOOK_PATH,
    base_settings,
    recording_params,
    recording_sid,
    sign,
    signed_post,
)
from tests.procfile import Process, process_env, web_process

# --------------------------------------------------------------------------- a full pool


def test_a_full_connection_pool_is_a_503_with_retry_after_not_a_500(database_url, live_engine):
    # One connection in the pool, held here: the callback waits pool_timeout for it.
    engine = make_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    client = create_app({"settings": base_settings(database_url), "bind": engine}).test_client()
    try:
        with engine.connect():
            response = signed_post(client, recording_params("completed"))
    finally:
        engine.dispose()
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"].isdigit()
    assert "nothing was stored" in response.get_json()["error"]


def test_the_one_statement_connections_come_from_the_sessions_pool(database_url):
    """One pool per web process: the autocommit connections (PostgreSQL) are the same
    engine's, so a process holds 8+2 connections at most, not twice that."""
    app = create_app({"settings": base_settings(database_url)})
    ext = extensions(app)
    engine = ext.sessions.kw["bind"]
    try:
        assert ext.autocommit is None or ext.autocommit.pool is engine.pool
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- restarts


@pytest.fixture
def restartable(database_url: str) -> None:
    restart_command(database_url)  # skips without PostgreSQL and a way to restart it


@dataclass
class Answer:
    sent_at: float
    status: int  # 0: no answer at all


class Web:
    """The Procfile's ``web`` with two gunicorn workers, and a way to send it callbacks."""

    def __init__(self, process: Process, port: int) -> None:
        self.process = process
        self.base = f"http://127.0.0.1:{port}"
        self.url = f"{self.base}{WEBHOOK_PATH}"
        self._numbers = iter(range(10_000, 10**9))
        self._lock = threading.Lock()

    def send(self) -> Answer:
        with self._lock:
            n = next(self._numbers)
        params = recording_params("completed", sid=recording_sid(n))
        sent_at = time.monotonic()
        try:
            response = requests.post(
                self.url,
                data=params,
                headers={"X-Twilio-Signature": sign(self.url, params)},
                timeout=30,
            )
        except requests.RequestException:
            return Answer(sent_at, 0)
        return Answer(sent_at, response.status_code)

    def wait_until_ready(self, timeout: float = 60) -> float:
        """When /readyz first said 200 again."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.base}/readyz", timeout=5).status_code == 200:
                    return time.monotonic()
            except requests.RequestException:
                pass  # the web is up throughout; a slow answer is polled again
            time.sleep(0.05)
        raise TimeoutError(f"/readyz did not answer 200 in {timeout}s:\n{self.process.log()}")


@pytest.fixture
def web(restartable, database_url, live_engine, tmp_path) -> Iterator[Web]:
    env = process_env(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "restart-test-secret",
            "TWILIO_ACCOUNT_SID": recording_params()["AccountSid"],
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "WEB_CONCURRENCY": "2",
        }
    )
    with web_process(env, tmp_path / "web.log") as served:
        yield Web(served.process, served.port)
    assert AUTH_TOKEN not in served.process.log()


def warm_up(web: Web) -> None:
    """Bursts from several clients at once, so both workers' pools hold connections."""
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: web.send(), range(40)))
    assert [a.status for a in answers] == [204] * 40


@pytest.mark.postgres_only
@pytest.mark.restarts_database
def test_after_a_restart_while_idle_every_signed_callback_is_204_once_ready(
    web: Web, engine: Engine, database_url: str
) -> None:
    warm_up(web)
    restart_database(database_url, engine)
    web.wait_until_ready()
    answers = []
    for _ in range(40):
        answers.append(web.send().status)
        time.sleep(0.01)  # pacing, as callbacks arrive one by one
    assert answers == [204] * 40, web.process.log()


@pytest.mark.postgres_only
@pytest.mark.restarts_database
def test_signed_callbacks_sent_through_a_restart_get_no_5xx_once_ready_again(
    web: Web, engine: Engine, database_url: str
) -> None:
    warm_up(web)
    answers: list[Answer] = []
    stop = threading.Event()

    def keep_sending() -> None:
        while not stop.is_set():
            answers.append(web.send())
            time.sleep(0.005)  # pacing

    senders = [threading.Thread(target=keep_sending) for _ in range(4)]
    for sender in senders:
        sender.start()
    try:
        restart_database(database_url, engine)
        ready_at = web.wait_until_ready()
        deadline = time.monotonic() + 60
        while sum(a.sent_at > ready_at for a in answers) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the count, with a deadline
    finally:
        stop.set()
        for sender in senders:
            sender.join(60)
    after = [a.status for a in answers if a.sent_at > ready_at]
    assert len(after) >= 200
    assert [s for s in after if s != 204] == [], web.process.log()
    # While it was away: 503s (retried by providers), never a 500 or no answer.
    assert {a.status for a in answers} <= {204, 503}


@pytest.mark.postgres_only
@pytest.mark.restarts_database
def test_a_logged_in_console_page_right_after_a_restart_is_200(
    restartable, database_url: str, engine: Engine, live_engine: Engine, tmp_path
) -> None:
    settings = base_settings(
        database_url,
        admin_username=USERNAME,
        admin_password=PASSWORD,
        local_archive_dir=str(tmp_path / "archive"),
    )
    app = create_app({"settings": settings})
    client = app.test_client()
    try:
        assert log_in(client).status_code == 302
        assert client.get("/admin/", headers=HTML).status_code == 200  # pooled connections
        restart_database(database_url, engine)
        listing = client.get("/admin/", headers=HTML)
        confirm = client.get("/admin/retry-failed", headers=HTML)
    finally:
        extensions(app).sessions.kw["bind"].dispose()
    assert listing.status_code == 200, listing.get_data(as_text=True)
    assert confirm.status_code == 200, confirm.get_data(as_text=True)
