"""``recording.archived`` and ``recording.failed``: written in the transaction that
settles the recording, sent by the worker's send step, signed per Standard
Webhooks so that package's own verifier accepts them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from app.archive.pipeline import Archiver
from app.deliveries.models import Delivery, DeliveryKind, DeliveryStatus
from app.deliveries.send import Deliverer
from app.storage import make_store
from tests.archive.helpers import drain, queue_recording, recording
from tests.fakes.compat_api import Body
from tests.fakes.receiver import Receiver
from tests.helpers import ACCOUNT_SID, CALL_SID, recording_sid

NOTIFY_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as started:
        yield started


@pytest.fixture
def archive_overrides(receiver: Receiver) -> dict[str, Any]:
    return {"notify_url": receiver.url, "notify_secret": NOTIFY_SECRET}


def outbox(sessions) -> list[Delivery]:
    with sessions() as session:
        return list(session.execute(select(Delivery).order_by(Delivery.id)).scalars())


def test_an_archived_recording_is_notified_signed_with_everything_the_contract_names(
    archiver, archive_settings, fake_twilio, sessions, bucket, receiver
):
    sid = recording_sid(41)
    fake_twilio.add_recording(sid, mono=Body(size=50_000, seed=4), dual=Body(size=90_000, seed=5))
    queue_recording(sessions, fake_twilio, sid)
    drain(archiver, sessions)
    [row] = outbox(sessions)
    assert (row.kind, row.event_type, row.status) == (
        DeliveryKind.NOTIFICATION,
        "recording.archived",
        DeliveryStatus.PENDING,
    )
    assert receiver.requests() == [], "written by the archive step, sent by the send step"

    assert Deliverer(archive_settings, sessions, "w").turn()
    [got] = receiver.requests()
    assert got.verified_standard(NOTIFY_SECRET)
    assert not got.verified_standard("whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB")
    assert got.headers["content-type"] == "application/json"
    event = json.loads(got.body)
    assert event["type"] == "recording.archived"
    archived = recording(sessions, sid)
    assert event["data"] == {
        "sid": sid,
        "provider": "twilio",
        "account_sid": ACCOUNT_SID,
        "call_sid": CALL_SID,
        "bucket": bucket,
        "key": archived.key,
        "size": archived.size_bytes,
        "sha256": archived.sha256,
        "archived_at": archived.archived_at.isoformat().replace("+00:00", "Z"),
    }
    assert got.headers["webhook-id"] == row.message_id
    assert outbox(sessions)[0].status is DeliveryStatus.DELIVERED


def test_a_failed_recording_is_notified_with_its_error(
    archive_settings, sessions, fake_twilio, receiver
):
    settings = archive_settings.with_overrides({"twilio_auth_token": "wrong-token"})
    archiver = Archiver(settings, sessions, make_store(settings), "w")
    sid = recording_sid(42)
    fake_twilio.add_recording(sid, mono=Body(size=10_000, seed=6))
    queue_recording(sessions, fake_twilio, sid)
    drain(archiver, sessions)
    assert Deliverer(settings, sessions, "w").turn()
    [got] = receiver.requests()
    assert got.verified_standard(NOTIFY_SECRET)
    event = json.loads(got.body)
    assert event["type"] == "recording.failed"
    assert event["data"]["sid"] == sid
    assert "credentials" in event["data"]["error"]
    assert "wrong-token" not in got.body.decode()


def test_without_notify_url_the_archive_step_writes_no_notification(
    archive_settings, sessions, fake_twilio
):
    settings = archive_settings.with_overrides({"notify_url": None})
    archiver = Archiver(settings, sessions, make_store(settings), "w")
    sid = recording_sid(43)
    fake_twilio.add_recording(sid, mono=Body(size=10_000, seed=7), dual=Body(size=20_000, seed=8))
    queue_recording(sessions, fake_twilio, sid)
    drain(archiver, sessions)
    assert outbox(sessions) == []
