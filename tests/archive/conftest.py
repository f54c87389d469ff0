"""Fixtures for the archive: a real SeaweedFS, a fake Twilio that is a real HTTP server."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from app.archive.pipeline import Archiver
from app.archive.storage import make_store
from app.config import Settings
from app.db import make_session_factory, transaction
from app.models import ArchiveState, Recording
from app.providers.callbacks import parse_compatibility_callback
from app.webhooks.store import Delivery, store_callback
from tests.conftest import base_settings
from tests.fakes.seaweed import SeaweedS3
from tests.fakes.twilio_api import Body, FakeTwilioApi
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, recording_params

_buckets = itertools.count(1)
TERMINAL = {ArchiveState.DONE, ArchiveState.FAILED, ArchiveState.NO_MEDIA}


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    # boto3 reads credentials from the environment, in-process and in workers alike.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server = SeaweedS3(tmp_path_factory.mktemp("seaweed"))
    server.start()
    yield server
    # SIGTERM makes weed wait ~15 s for its own subscriptions; nothing is lost by SIGKILL.
    server.kill()


@pytest.fixture
def bucket(seaweed: SeaweedS3) -> str:
    name = f"archive-{os.getpid()}-{next(_buckets)}"
    seaweed.create_bucket(name)
    return name


@pytest.fixture
def s3(seaweed: SeaweedS3) -> Any:
    return seaweed.client()


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilioApi]:
    with FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN) as api:
        yield api


@pytest.fixture
def archive_overrides() -> dict[str, Any]:
    """Override in a test to change the worker's settings."""
    return {}


@pytest.fixture
def archive_settings(
    database_url: str,
    seaweed: SeaweedS3,
    bucket: str,
    fake_twilio: FakeTwilioApi,
    archive_overrides: dict[str, Any],
) -> Settings:
    values: dict[str, Any] = {
        "s3_bucket": bucket,
        "s3_endpoint_url": seaweed.endpoint_url,
        "s3_prefix": "calls/",
        "twilio_api_base_url": fake_twilio.base_url,
        "archive_retry_base_seconds": 0.05,
        "archive_retry_max_seconds": 0.5,
        "archive_max_attempts": 5,
        "archive_lease_seconds": 30,
        "http_connect_timeout": 2.0,
        "http_read_timeout": 2.0,
        "worker_poll_seconds": 0.05,
    }
    values.update(archive_overrides)
    return base_settings(database_url, **values)


@pytest.fixture
def sessions(live_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(live_engine)


@pytest.fixture
def archiver(archive_settings: Settings, sessions: sessionmaker[Session]) -> Archiver:
    return Archiver(archive_settings, sessions, make_store(archive_settings), "test-worker")


def queue_recording(
    sessions: sessionmaker[Session],
    api: FakeTwilioApi,
    sid: str,
    channels: int = 2,
    **overrides: Any,
) -> None:
    """Store a signed-and-verified ``completed`` callback, as the webhook would."""
    params = recording_params(
        "completed",
        sid=sid,
        RecordingUrl=api.recording_url(sid),
        RecordingChannels=str(channels),
        **overrides,
    )
    callback = parse_compatibility_callback("twilio", params)
    with transaction(sessions) as session:
        store_callback(session, callback, Delivery("POST", params, "127.0.0.1", None, None))


def recording(sessions: sessionmaker[Session], sid: str) -> Recording:
    with sessions() as session:
        return session.execute(select(Recording).where(Recording.recording_sid == sid)).scalar_one()


def drain(
    archiver: Archiver, sessions: sessionmaker[Session], timeout: float = 60
) -> list[Recording]:
    """Run the pipeline until every recording has reached an end state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not archiver.run_once():
            with sessions() as session:
                rows = session.execute(select(Recording)).scalars().all()
            if all(r.archive_state in TERMINAL for r in rows):
                return list(rows)
            time.sleep(0.02)  # waiting out a backoff, polled with a deadline
    raise TimeoutError("recordings did not reach an end state in time")


def read_object(s3: Any, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def body_bytes(body: Body | bytes) -> bytes:
    return body if isinstance(body, bytes) else body.read_all()


def wait_for(condition: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise TimeoutError(f"timed out waiting for {what}")


__all__ = ["Path", "body_bytes", "drain", "queue_recording", "read_object", "recording", "wait_for"]
