"""Backoff: exponential, jittered, capped, and never sooner than Retry-After."""

from __future__ import annotations

import datetime as dt

from app.archive.naming import build_key
from app.archive.retry import backoff_seconds
from app.db import utcnow
from app.recordings.queue import Claim
from tests.helpers import make_settings

SETTINGS = make_settings(archive_retry_base_seconds=10, archive_retry_max_seconds=300)


def test_delays_grow_exponentially_within_their_jitter():
    for attempt, nominal in [(1, 10), (2, 20), (3, 40), (4, 80)]:
        delays = [backoff_seconds(SETTINGS, attempt) for _ in range(200)]
        assert min(delays) >= 0.5 * nominal
        assert max(delays) <= 1.5 * nominal
        assert max(delays) - min(delays) > 0.1 * nominal  # jitter, not lockstep


def test_delays_are_capped():
    assert max(backoff_seconds(SETTINGS, 30) for _ in range(100)) <= 1.5 * 300


def test_retry_after_is_a_floor():
    assert backoff_seconds(SETTINGS, 1, retry_after=100) >= 100


def test_the_key_is_dated_by_the_recordings_start_in_utc():
    claim = Claim(
        id=1,
        provider="twilio",
        account_sid="AC1",
        recording_sid="RE1",
        call_sid="CA1",
        conference_sid=None,
        media_url=None,
        channels=2,
        duration_seconds=3,
        started_at=dt.datetime(2026, 1, 2, 23, 59, tzinfo=dt.UTC),
        created_at=utcnow(),
        attempts=1,
        key=None,
        size_bytes=None,
        sha256=None,
        archived_at=None,
        original_deleted_at=None,
    )
    settings = make_settings(s3_prefix="p/")
    assert build_key(settings, claim, "wav") == "p/twilio/AC1/2026/01/02/RE1.wav"
