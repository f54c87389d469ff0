"""Fixtures for the archive: a real SeaweedFS, a fake Twilio that is a real HTTP server."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.archive.pipeline import Archiver
from app.config import Settings
from app.db import make_session_factory
from app.storage import make_store
from tests.fakes.compat_api import FakeTwilioApi
from tests.fakes.seaweed import SeaweedS3
from tests.helpers import (
    base_settings,
)


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
