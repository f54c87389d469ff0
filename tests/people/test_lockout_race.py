"""Twenty simultaneous wrong logins after a lock ran out get one password check, not
one each: through the Procfile's web (gevent workers, two processes) on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from prometheus_client import REGISTRY
from sqlalchemy import Engine, insert

from app import create_app
from app.admin.models import AdminLoginFailure
from tests.admin.helpers import HTML, csrf_token
from tests.helpers import base_settings
from tests.people.web import form_token, metric
from tests.procfile import process_env, web_process

USERNAME = "admin"
PASSWORD = "the real admin password"
METRICS_TOKEN = "race-test-metrics"
TRIES = 20
CHECKS = "recording_archiver_password_checks_total"


@pytest.fixture
def web(live_engine: Engine, database_url: str, tmp_path: Path) -> Iterator[str]:
    env = process_env(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "race-test-secret",
            "ADMIN_USERNAME": USERNAME,
            "ADMIN_PASSWORD": PASSWORD,
            "METRICS_TOKEN": METRICS_TOKEN,
            "WEB_CONCURRENCY": "2",
        }
    )
    with web_process(env, tmp_path / "web.log", release=True) as served:
        yield served.base_url


def lock_that_just_ran_out(engine: Engine) -> None:
    """Three failures from 127.0.0.1 and for the name: the 1 s lock is over."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with engine.begin() as connection:
        for key in ("addr:127.0.0.1", f"user:{USERNAME}"):
            connection.execute(
                insert(AdminLoginFailure).values(
                    key=key, failures=3, last_failed_at=past, locked_until=past
                )
            )


def prepared_login(base_url: str) -> tuple[bytes, bytes]:
    """A wrong login as raw HTTP, with its own session cookie and form token, split
    before its last byte."""
    http = requests.Session()
    token = form_token(http, f"{base_url}/admin/login")
    body = urlencode({"csrf_token": token, "username": USERNAME, "password": "wrong guess"})
    cookies = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
    head = (
        "POST /admin/login HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\n"
        f"Cookie: {cookies}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    request = (head + body).encode()
    return request[:-1], request[-1:]


def wrong_logins_at_once(base_url: str, tries: int) -> list[int]:
    """``tries`` browsers, each with its own form token, whose requests all arrive
    whole at the same moment: each connection has sent all but its last byte when
    the barrier lets every thread send that byte."""
    port = int(base_url.rsplit(":", 1)[1])
    prepared = [prepared_login(base_url) for _ in range(tries)]
    sockets = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(tries)]
    for connection, (most, _) in zip(sockets, prepared, strict=True):
        connection.sendall(most)
    start = threading.Barrier(tries)
    statuses: list[int] = [0] * tries

    def finish(n: int) -> None:
        start.wait()
        sockets[n].sendall(prepared[n][1])
        reply = b""
        while b"\r\n" not in reply:
            chunk = sockets[n].recv(4096)
            if not chunk:
                break
            reply += chunk
        statuses[n] = int(reply.split(b" ", 2)[1])
        sockets[n].close()

    threads = [threading.Thread(target=finish, args=(n,)) for n in range(tries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


@pytest.mark.postgres_only
def test_twenty_simultaneous_wrong_logins_after_a_lock_get_one_password_check(
    web, live_engine, is_postgres
):
    if not is_postgres:
        pytest.skip("SQLite serialises writers already; the race is PostgreSQL's")
    lock_that_just_ran_out(live_engine)
    before = metric(web, CHECKS, METRICS_TOKEN)
    statuses = wrong_logins_at_once(web, TRIES)
    checked = metric(web, CHECKS, METRICS_TOKEN) - before
    # 401: the password was checked and was wrong; 429: refused by the lock unchecked.
    assert sorted(statuses) == [401] + [429] * (TRIES - 1), statuses
    assert checked == 1


@pytest.mark.postgres_only
def test_twenty_threads_through_the_login_form_after_a_lock_get_one_password_check(
    live_engine, database_url, is_postgres
):
    """The same race without gunicorn's scheduling in between: twenty threads, each
    its own browser (test client), on their own database connections."""
    if not is_postgres:
        pytest.skip("SQLite serialises writers already; the race is PostgreSQL's")
    settings = base_settings(database_url, admin_username=USERNAME, admin_password=PASSWORD)
    app = create_app({"settings": settings, "bind": live_engine})
    clients = [app.test_client() for _ in range(TRIES)]
    tokens = [csrf_token(client) for client in clients]
    lock_that_just_ran_out(live_engine)
    start = threading.Barrier(TRIES)
    statuses: list[int] = [0] * TRIES
    before = REGISTRY.get_sample_value(CHECKS) or 0.0

    def post(n: int) -> None:
        start.wait()
        data = {"csrf_token": tokens[n], "username": USERNAME, "password": "wrong guess"}
        statuses[n] = clients[n].post("/admin/login", data=data, headers=HTML).status_code

    threads = [threading.Thread(target=post, args=(n,)) for n in range(TRIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    checked = (REGISTRY.get_sample_value(CHECKS) or 0.0) - before
    assert sorted(statuses) == [401] + [429] * (TRIES - 1), statuses
    assert checked == 1
