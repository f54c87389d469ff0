"""Signed callbacks with odd values: each is refused with a 400 naming the field, or stored
as sent. Never a 500, and the same on PostgreSQL and SQLite (the suite runs on both).

What is decided per field (also in the README):

- a NUL character anywhere (name or value): 400 naming the parameter; no
  database column takes it, and no provider sends it;
- integer fields (``RecordingDuration``, ``RecordingChannels``): 400 beyond
  2,147,483,647, the columns' range;
- ``RecordingStartTime``: RFC 2822 with a four-digit year, read as written
  (year 1 is year 1), and 400 when it leaves years 1-9999 once in UTC;
- every other parameter, of any length and script: stored as sent;
- the remote address a trusted proxy forwards: stored as sent, any length.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.recordings.models import Recording, RecordingEvent
from tests.helpers import recording_params, signed_post

REFUSED = [
    pytest.param({"Extra": "a\x00b"}, "Extra", id="nul-in-an-extra-parameter"),
    pytest.param({"RecordingSource": "Dial\x00Verb"}, "RecordingSource", id="nul-in-a-field"),
    pytest.param({"Ex\x00tra": "x"}, "parameter name", id="nul-in-a-name"),
    pytest.param({"RecordingDuration": "2147483648"}, "RecordingDuration", id="duration-int32+1"),
    pytest.param({"RecordingDuration": "9" * 40}, "RecordingDuration", id="duration-forty-digits"),
    pytest.param({"RecordingChannels": "4294967298"}, "RecordingChannels", id="channels-huge"),
    pytest.param(
        {"RecordingStartTime": "Fri, 31 Dec 9999 23:00:00 -0500"},
        "RecordingStartTime",
        id="start-overflows-in-utc",
    ),
    pytest.param(
        {"RecordingStartTime": "Mon, 01 Jan 0001 00:30:00 +0100"},
        "RecordingStartTime",
        id="start-before-year-1-in-utc",
    ),
    pytest.param(
        {"RecordingStartTime": "Mon, 01 Jan 01 00:00:00 +0000"},
        "RecordingStartTime",
        id="start-two-digit-year",
    ),
    pytest.param(
        {"RecordingStartTime": "Tue, 31 Feb 2026 10:00:00 +0000"},
        "RecordingStartTime",
        id="start-no-such-day",
    ),
]


@pytest.mark.parametrize(("overrides", "named"), REFUSED)
def test_an_unstorable_value_is_a_400_naming_it_and_nothing_is_stored(
    client, connection, overrides, named
):
    response = signed_post(client, recording_params("completed", **overrides))
    assert response.status_code == 400, response.data
    assert named in response.get_json()["error"]
    assert connection.execute(select(func.count()).select_from(RecordingEvent)).scalar() == 0


STORED = [
    pytest.param({"RecordingDuration": "2147483647"}, id="duration-int32-max"),
    pytest.param({"Extra": "x" * 60_000}, id="a-60-kb-parameter"),
    pytest.param({"Extra": "émoji 🎙 עברית \u202e"}, id="any-script"),
    pytest.param({"Ünïcode-name": "v"}, id="a-unicode-name"),
    pytest.param({"Extra": "\x01\x1f\x7f\\u0000"}, id="control-characters-and-an-escape"),
    pytest.param({"RecordingStartTime": "Mon, 01 Jan 0001 00:00:00 +0000"}, id="year-1"),
]


@pytest.mark.parametrize("overrides", STORED)
def test_an_odd_but_storable_value_is_stored_as_sent(client, connection, overrides):
    params = recording_params("completed", **overrides)
    response = signed_post(client, params)
    assert response.status_code == 204, response.data
    event = connection.execute(select(RecordingEvent)).one()
    assert event.params == params


def test_year_1_is_read_as_year_1(client, connection):
    params = recording_params("completed", RecordingStartTime="Mon, 01 Jan 0001 00:00:00 +0000")
    assert signed_post(client, params).status_code == 204
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        recording = session.execute(select(Recording)).scalar_one()
    assert recording.started_at == dt.datetime(1, 1, 1, tzinfo=dt.UTC)


def test_a_long_forwarded_address_from_a_trusted_proxy_is_stored_as_sent(client, connection):
    forwarded = "2001:db8::1, " + "203.0.113.9" * 20
    response = signed_post(client, recording_params(), headers={"X-Forwarded-For": forwarded})
    assert response.status_code == 204
    event = connection.execute(select(RecordingEvent)).one()
    assert event.remote_addr == forwarded.split(", ")[-1]
