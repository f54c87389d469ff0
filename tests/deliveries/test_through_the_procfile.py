"""Forwarding and notifications through the Procfile's processes: ``release``,
``web`` storing the callback and its forward, ``worker`` archiving and sending."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import select

from app.deliveries.models import Delivery, DeliveryStatus
from app.recordings.models import Recording
from tests.archive.helpers import wait_for
from tests.deliveries.conftest import NOTIFY_SECRET
from tests.fakes.compat_api import Body
from tests.fakes.receiver import Receiver
from tests.helpers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    WEBHOOK_PATH,
    recording_params,
    recording_sid,
    sign,
)
from tests.procfile import Process, process_env, run_release, web_process


@pytest.fixture
def handler() -> Iterator[Receiver]:
    with Receiver(path="/crm/twilio/recording-status") as started:
        yield started


@pytest.fixture
def events() -> Iterator[Receiver]:
    with Receiver(path="/events") as started:
        yield started


def test_the_handler_gets_the_callback_and_the_events_arrive_signed(
    database_url, seaweed, bucket, fake_twilio, live_engine, handler, events, tmp_path
):
    env = process_env(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "deliveries-test-secret",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_API_BASE_URL": fake_twilio.base_url,
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": seaweed.endpoint_url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "WORKER_POLL_SECONDS": "0.1",
            "FORWARD_URL": handler.url,
            "NOTIFY_URL": events.url,
            "NOTIFY_SECRET": NOTIFY_SECRET,
        }
    )
    assert run_release(env).returncode == 0
    sid = recording_sid(90)
    fake_twilio.add_recording(sid, mono=Body(size=60_000, seed=9), dual=Body(size=120_000, seed=10))
    with web_process(env, tmp_path / "web.log") as web:
        worker = Process("worker", env, tmp_path / "worker.log")
        try:
            params = recording_params(
                "completed", sid=sid, RecordingUrl=fake_twilio.recording_url(sid)
            )
            url = f"http://127.0.0.1:{web.port}{WEBHOOK_PATH}"
            response = requests.post(
                url, data=params, headers={"X-Twilio-Signature": sign(url, params)}, timeout=10
            )
            assert response.status_code == 204
            wait_for(lambda: len(handler.requests()) == 1, 30, "the forwarded callback")
            wait_for(lambda: len(events.requests()) == 1, 60, "the recording.archived event")
        finally:
            assert worker.stop() == 0, worker.log()
        assert AUTH_TOKEN not in worker.log() and handler.url not in worker.log()
        assert NOTIFY_SECRET not in worker.log()

    [forwarded] = handler.requests()
    assert forwarded.form.to_dict() == params
    assert forwarded.valid_for_twilio(AUTH_TOKEN)
    [event] = events.requests()
    assert event.verified_standard(NOTIFY_SECRET)
    body = json.loads(event.body)
    assert body["type"] == "recording.archived"
    with live_engine.connect() as connection:
        key = connection.execute(select(Recording.key)).scalar_one()
        statuses = connection.execute(select(Delivery.status)).scalars().all()
    assert body["data"]["key"] == key
    assert statuses == [DeliveryStatus.DELIVERED, DeliveryStatus.DELIVERED]
