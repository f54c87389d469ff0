"""Helpers for the archive's tests: queue a recording as the webhook would, wait for the end."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.archive.pipeline import Archiver
from app.db import transaction
from app.providers import PROVIDERS
from app.recordings.models import ArchiveState, Recording
from app.recordings.reports import CallbackEvent, record_callback
from tests.fakes.compat_api import Body, FakeTwilioApi
from tests.helpers import recording_params

TERMINAL = {ArchiveState.DONE, ArchiveState.FAILED, ArchiveState.NO_MEDIA}


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
    report = PROVIDERS["twilio"].parse_callback(params)
    with transaction(sessions) as session:
        record_callback(session, report, CallbackEvent("POST", params, "127.0.0.1", None, None))


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


def queue_callback(sessions: sessionmaker[Session], provider: str, params: dict[str, str]) -> None:
    """Store a verified callback of ``provider``, as the webhook would."""
    report = PROVIDERS[provider].parse_callback(params)
    with transaction(sessions) as session:
        record_callback(session, report, CallbackEvent("POST", params, "127.0.0.1", None, None))
