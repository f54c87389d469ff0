"""Parsing Compatibility-API recording callbacks."""

from __future__ import annotations

import datetime as dt

import pytest

from app.providers.errors import CallbackError
from app.providers.twilio import PROVIDER as TWILIO
from tests.helpers import recording_params


def parse_compatibility_callback(provider: str, params):  # type: ignore[no-untyped-def]
    assert provider == "twilio"
    return TWILIO.parse_callback(params)


def test_a_full_callback_parses():
    callback = parse_compatibility_callback("twilio", recording_params("completed"))
    assert callback.status == "completed"
    assert callback.channels == 2
    assert callback.started_at == dt.datetime(2026, 11, 16, 10, 15, 30, tzinfo=dt.UTC)


def test_a_start_time_in_another_zone_is_stored_in_utc():
    params = recording_params(RecordingStartTime="Mon, 16 Nov 2026 23:30:00 -0500")
    callback = parse_compatibility_callback("twilio", params)
    assert callback.started_at == dt.datetime(2026, 11, 17, 4, 30, tzinfo=dt.UTC)


def test_in_progress_needs_no_media_url():
    callback = parse_compatibility_callback("twilio", recording_params("in-progress"))
    assert callback.media_url is None


def test_the_first_bad_field_is_named():
    with pytest.raises(CallbackError) as caught:
        parse_compatibility_callback("twilio", recording_params(RecordingChannels="0"))
    assert caught.value.status == 400
    assert "RecordingChannels" in caught.value.message
