"""Delivery that cannot lose or delay anything: retried with backoff while the
receiver is away, in order per recording, ended by a refusal, shown on the
console, counted in /metrics, sent again on an operator's word."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.deliveries import outbox
from app.deliveries.models import Delivery, DeliveryKind, DeliveryStatus
from app.deliveries.send import Deliverer
from tests.admin.helpers import HTML, PASSWORD, USERNAME, csrf_token, log_in, seed
from tests.deliveries.conftest import NOTIFY_SECRET
from tests.fakes.receiver import Receiver
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, recording_sid
from tests.procfile import free_port


@pytest.fixture
def settings_overrides(receiver, tmp_path):
    return {
        "forward_url": receiver.url,
        "notify_url": receiver.url,
        "notify_secret": NOTIFY_SECRET,
        "admin_username": USERNAME,
        "admin_password": PASSWORD,
        "local_archive_dir": str(tmp_path / "archive"),
    }


def rows(connection: Connection) -> list[Delivery]:
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        return list(session.execute(select(Delivery).order_by(Delivery.id)).scalars())


def enqueue(sessions, settings, sid: str, *events: str) -> None:
    with sessions.begin() as session:
        for n, event in enumerate(events):
            assert outbox.enqueue_notification(
                session, event, {"sid": sid, "n": n}, sid, settings=settings
            )


def run_until(deliverer: Deliverer, done, timeout: float = 20) -> None:
    """Turn the send step (as the worker loop does) until ``done()``, with a deadline."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("deliveries did not settle in time")
        if not deliverer.turn():
            time.sleep(0.01)  # nothing due: a backoff is running (polled with a deadline)


def test_a_receiver_down_for_a_while_then_answering_gets_each_once_in_order(
    app, connection, sessions
):
    port = free_port()
    down = Receiver(port=port)
    settings = app.extensions["recording_archiver"].settings.with_overrides(
        {"notify_url": down.url}
    )
    deliverer = Deliverer(
        settings,
        sessions,
        "w",
        first_retry=dt.timedelta(milliseconds=20),
        longest_retry=dt.timedelta(milliseconds=200),
    )
    sid = recording_sid(1)
    enqueue(sessions, settings, sid, "recording.archived", "recording.integrity_failed")
    enqueue(sessions, settings, recording_sid(2), "recording.archived")

    run_until(deliverer, lambda: all(r.attempts >= 3 for r in rows(connection)[::2]))
    first = rows(connection)[0]
    assert first.status is DeliveryStatus.PENDING and first.retrying
    assert first.last_answer == "connection refused"
    assert rows(connection)[1].attempts == 0, "waits for the earlier one of its recording"

    with down:
        run_until(
            deliverer,
            lambda: all(r.status is DeliveryStatus.DELIVERED for r in rows(connection)),
        )
        got = down.requests()
    ids = [r.headers["webhook-id"] for r in got]
    assert sorted(ids) == sorted(r.message_id for r in rows(connection)), "each once"
    mine = [r for r in got if b'"sid":"' + sid.encode() in r.body]
    assert [r.headers["webhook-id"] for r in mine] == [r.message_id for r in rows(connection)[:2]]
    assert all(r.verified_standard(NOTIFY_SECRET) for r in got)


def test_a_410_ends_the_delivery_as_failed_and_the_console_shows_it(
    app, client, connection, sessions, receiver
):
    receiver.answer = lambda _n: 410
    recording = seed(connection)
    settings = app.extensions["recording_archiver"].settings
    enqueue(sessions, settings, recording.recording_sid, "recording.archived")
    deliverer = Deliverer(settings, sessions, "w")
    assert deliverer.turn()
    assert not deliverer.turn(), "a failed delivery is not tried again"
    [row] = rows(connection)
    assert row.status is DeliveryStatus.FAILED
    assert (row.attempts, row.last_status_code, row.last_answer) == (1, 410, "HTTP 410 Gone")
    assert len(receiver.requests()) == 1

    log_in(client)
    page = client.get(f"/admin/recordings/{recording.id}", headers=HTML).get_data(as_text=True)
    section = page[page.index("<h2>Deliveries</h2>") :]
    assert "recording.archived" in section
    assert "failed" in section
    assert "HTTP 410 Gone" in section
    assert receiver.url not in page, "the receiver's URL is not shown"

    # Redeliver: queued again with a fresh window, and sent.
    receiver.answer = lambda _n: 204
    path = f"/admin/recordings/{recording.id}"
    token = csrf_token(client, path)
    response = client.post(
        f"{path}/deliveries/{row.id}/redeliver", data={"csrf_token": token}, headers=HTML
    )
    assert response.status_code == 302
    assert rows(connection)[0].status is DeliveryStatus.PENDING
    assert deliverer.turn()
    assert rows(connection)[0].status is DeliveryStatus.DELIVERED
    assert rows(connection)[0].attempts == 2


def test_redeliver_needs_the_csrf_token(client, connection, sessions, app):
    recording = seed(connection)
    log_in(client)
    response = client.post(
        f"/admin/recordings/{recording.id}/deliveries/1/redeliver", data={}, headers=HTML
    )
    assert response.status_code == 400


@pytest.mark.parametrize("status", [500, 503, 408, 429])
def test_a_5xx_408_or_429_is_tried_again_after_a_backoff(
    app, connection, sessions, receiver, status
):
    receiver.answer = lambda _n: status
    settings = app.extensions["recording_archiver"].settings
    enqueue(sessions, settings, recording_sid(3), "recording.archived")
    before = utcnow()
    assert Deliverer(settings, sessions, "w").turn()
    [row] = rows(connection)
    assert row.status is DeliveryStatus.PENDING
    assert row.last_status_code == status
    # First retry: 5 s, jittered by half either way.
    assert before + dt.timedelta(seconds=2) < row.run_after < before + dt.timedelta(seconds=8)
    assert row.give_up_at >= row.created_at + dt.timedelta(hours=24)


@pytest.mark.parametrize("status", [400, 401, 404, 301])
def test_other_4xx_and_redirects_end_it_as_failed(app, connection, sessions, receiver, status):
    receiver.answer = lambda _n: status
    settings = app.extensions["recording_archiver"].settings
    enqueue(sessions, settings, recording_sid(4), "recording.archived")
    assert Deliverer(settings, sessions, "w").turn()
    assert rows(connection)[0].status is DeliveryStatus.FAILED


def test_after_the_retry_window_a_5xx_ends_it_as_failed(app, connection, sessions, receiver):
    receiver.answer = lambda _n: 503
    settings = app.extensions["recording_archiver"].settings
    enqueue(sessions, settings, recording_sid(5), "recording.archived")
    connection.execute(update(Delivery).values(give_up_at=utcnow() - dt.timedelta(seconds=1)))
    assert Deliverer(settings, sessions, "w").turn()
    [row] = rows(connection)
    assert row.status is DeliveryStatus.FAILED
    assert row.last_answer == "HTTP 503 Service Unavailable; retried for 24 h"


def test_at_most_four_are_in_flight_per_receiver(app, connection, sessions):
    settings = app.extensions["recording_archiver"].settings
    for n in range(6):
        enqueue(sessions, settings, recording_sid(10 + n), "recording.archived")
    lease = dt.timedelta(minutes=1)
    with sessions.begin() as session:
        held = [
            outbox.claim(session, f"w{n}", lease, [DeliveryKind.NOTIFICATION]) for n in range(6)
        ]
    assert [h is not None for h in held] == [True] * 4 + [False] * 2
    with sessions.begin() as session:  # another receiver is not held up by this one
        outbox.enqueue_forward(
            session,
            provider="twilio",
            account_sid=ACCOUNT_SID,
            recording_sid=recording_sid(20),
            method="POST",
            params=[("A", "b")],
        )
        assert outbox.claim(session, "w9", lease, list(DeliveryKind)) is not None


def test_metrics_count_delivered_retrying_and_failed(app, client, connection, sessions, receiver):
    answers = {0: 204, 1: 410, 2: 503}
    receiver.answer = lambda n: answers.get(n, 503)
    settings = app.extensions["recording_archiver"].settings
    for n in range(3):
        enqueue(sessions, settings, recording_sid(30 + n), "recording.archived")
    deliverer = Deliverer(settings, sessions, "w")
    deliverer.turn()
    families = {
        f.name: f
        for f in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))
    }
    ended = {
        (s.labels["kind"], s.labels["outcome"]): s.value
        for s in families["recording_archiver_deliveries"].samples
        if s.name.endswith("_total")
    }
    assert ended == {("notification", "delivered"): 1.0, ("notification", "failed"): 1.0}
    retrying = {
        s.labels["kind"]: s.value
        for s in families["recording_archiver_deliveries_retrying"].samples
    }
    assert retrying == {"notification": 1.0, "forward": 0.0}


def test_logs_name_no_url_body_or_secret(app, connection, sessions, receiver, caplog):
    receiver.answer = lambda _n: 503
    settings = app.extensions["recording_archiver"].settings
    with sessions.begin() as session:
        outbox.enqueue_forward(
            session,
            provider="twilio",
            account_sid=ACCOUNT_SID,
            recording_sid=recording_sid(40),
            method="POST",
            params=[("From", "+15551234567")],
        )
    with caplog.at_level("INFO"):  # the service logs at INFO
        Deliverer(settings, sessions, "w").turn()
    text = caplog.text
    assert "try 1: HTTP 503" in text
    assert not re.search(r"/hooks|\+1555|" + re.escape(AUTH_TOKEN), text)
