"""SignalWire's and Telnyx's recordings archived exactly as Twilio's: real SeaweedFS,
fake provider APIs that are real HTTP servers."""

from __future__ import annotations

from typing import Any

import pytest

from app.archive.pipeline import Archiver
from app.providers.telnyx_api import MediaOrigin
from app.storage import make_store
from tests.archive.helpers import drain, queue_callback, read_object, recording
from tests.fakes.compat_api import Body, FakeCompatApi
from tests.fakes.telnyx_api import FakeTelnyx
from tests.helpers import (
    SIGNALWIRE_PROJECT,
    SIGNALWIRE_SIGNING_KEY,
    SIGNALWIRE_TOKEN,
    TELNYX_API_KEY,
    TelnyxSigner,
    base_settings,
    signalwire_params,
    telnyx_params,
    uuid_n,
)


@pytest.fixture
def archiver_for(database_url, seaweed, bucket, sessions):  # type: ignore[no-untyped-def]
    def make(**overrides: Any) -> Archiver:
        settings = base_settings(
            database_url,
            s3_bucket=bucket,
            s3_endpoint_url=seaweed.endpoint_url,
            archive_retry_base_seconds=0.05,
            archive_retry_max_seconds=0.5,
            archive_max_attempts=4,
            http_connect_timeout=2.0,
            http_read_timeout=2.0,
            **overrides,
        )
        return Archiver(settings, sessions, make_store(settings), "test-worker")

    return make


# --------------------------------------------------------------------------- SignalWire


def signalwire(fake: FakeCompatApi) -> dict[str, Any]:
    return {
        "signalwire_space_url": fake.origin,
        "signalwire_project_id": SIGNALWIRE_PROJECT,
        "signalwire_api_token": SIGNALWIRE_TOKEN,
        "signalwire_signing_key": SIGNALWIRE_SIGNING_KEY,
    }


def test_a_signalwire_recording_is_archived_then_deleted(
    archiver_for, fake_signalwire, sessions, s3, bucket
):
    sid = uuid_n(1, "recording")
    body = Body(size=300_000, seed=31)
    fake_signalwire.add_recording(sid, mono=body, dual=Body(size=10, seed=32))
    queue_callback(
        sessions,
        "signalwire",
        signalwire_params(sid=sid, base_url=fake_signalwire.origin, RecordingChannels="2"),
    )
    drain(archiver_for(**signalwire(fake_signalwire)), sessions)

    row = recording(sessions, sid)
    assert row.archive_state.value == "done", row.last_error
    assert row.key.startswith(f"signalwire/{SIGNALWIRE_PROJECT}/")
    assert read_object(s3, bucket, row.key) == body.read_all()
    # Channels are fixed when SignalWire records: never a RequestedChannels.
    gets = fake_signalwire.media_gets(sid)
    assert [g.query for g in gets] == [{}]
    assert gets[0].auth_ok
    assert len(fake_signalwire.deletes(sid)) == 1


def test_a_signalwire_url_off_the_space_gets_no_request(archiver_for, fake_signalwire, sessions):
    sid = uuid_n(2, "recording")
    fake_signalwire.add_recording(sid, mono=Body(size=1000, seed=33))
    queue_callback(
        sessions, "signalwire", signalwire_params(sid=sid, base_url="https://evil.example")
    )
    drain(archiver_for(**signalwire(fake_signalwire)), sessions)
    row = recording(sessions, sid)
    assert row.archive_state.value == "failed"
    assert "RecordingUrl refused" in row.last_error
    assert fake_signalwire.requests == []


# --------------------------------------------------------------------------- Telnyx


def telnyx(fake: FakeTelnyx) -> dict[str, Any]:
    return {
        "telnyx_api_base_url": fake.api_base_url,
        "telnyx_api_key": TELNYX_API_KEY,
        "telnyx_public_key": TelnyxSigner().public_key,
        "telnyx_media_hosts": (MediaOrigin.parse(fake.storage_origin),),
    }


@pytest.mark.parametrize(("fmt", "content_type"), [("mp3", "audio/mpeg"), ("wav", "audio/x-wav")])
def test_a_telnyx_recording_is_archived_then_deleted_with_no_key_sent_to_storage(
    archiver_for, fake_telnyx, sessions, s3, bucket, fmt, content_type
):
    sid = uuid_n(3, "recording")
    body = Body(size=500_000, seed=41)
    fake_telnyx.add_recording(sid, body=body, channels=2, fmt=fmt)
    queue_callback(sessions, "telnyx", telnyx_params(sid=sid, media_url=fake_telnyx.media_url(sid)))
    drain(archiver_for(**telnyx(fake_telnyx)), sessions)

    row = recording(sessions, sid)
    assert row.archive_state.value == "done", row.last_error
    assert row.key.endswith(f"{sid}.{fmt}")
    assert read_object(s3, bucket, row.key) == body.read_all()
    head = s3.head_object(Bucket=bucket, Key=row.key)
    assert head["ContentType"] == content_type
    assert head["Metadata"]["channels"] == "2"
    assert len(fake_telnyx.media_gets(sid)) == 1
    assert len(fake_telnyx.deletes(sid)) == 1
    assert fake_telnyx.credential_leaks == []


def test_an_expired_telnyx_link_is_refreshed_from_the_api(
    archiver_for, fake_telnyx, sessions, s3, bucket
):
    sid = uuid_n(4, "recording")
    body = Body(size=200_000, seed=42)
    fake_telnyx.add_recording(sid, body=body)
    queue_callback(sessions, "telnyx", telnyx_params(sid=sid, media_url=fake_telnyx.media_url(sid)))
    fake_telnyx.expire_links()  # the worker got to it more than ten minutes later

    drain(archiver_for(**telnyx(fake_telnyx)), sessions)
    row = recording(sessions, sid)
    assert row.archive_state.value == "done", row.last_error
    assert read_object(s3, bucket, row.key) == body.read_all()
    assert [g.status for g in fake_telnyx.media_gets(sid)] == [403, 200]
    assert len(fake_telnyx.metadata_gets(sid)) == 1
    assert row.attempts == 1
    assert fake_telnyx.credential_leaks == []


@pytest.mark.parametrize(
    "where",
    [
        pytest.param("http://169.254.169.254/latest/meta-data/x.mp3", id="metadata-service"),
        pytest.param("https://evil.example/telephony-recorder-prod/x.mp3", id="elsewhere"),
        pytest.param("api", id="the-api-host-itself"),
    ],
)
def test_a_telnyx_link_off_its_media_hosts_gets_no_request(
    archiver_for, fake_telnyx, sessions, where
):
    sid = uuid_n(5, "recording")
    fake_telnyx.add_recording(sid, body=Body(size=1000, seed=43))
    url = f"{fake_telnyx.api_base_url}/x.mp3" if where == "api" else where
    queue_callback(sessions, "telnyx", telnyx_params(sid=sid, media_url=url))
    drain(archiver_for(**telnyx(fake_telnyx)), sessions)
    row = recording(sessions, sid)
    assert row.archive_state.value == "failed"
    assert "TELNYX_MEDIA_HOSTS" in row.last_error
    assert fake_telnyx.requests == []
