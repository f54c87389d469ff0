"""Phone numbers: normalised once, found by any common way of writing them or by
their last digits, on either side of the call (PostgreSQL and SQLite alike)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.recordings import phones
from app.recordings.queries import RecordingFilter, list_recordings
from tests.admin.helpers import seed


def with_numbers(connection, from_: str | None, to: str | None, **fields):  # type: ignore[no-untyped-def]
    caller, called = phones.normalise(from_, "US"), phones.normalise(to, "US")
    return seed(
        connection,
        from_number=caller.value if caller else None,
        from_digits_reversed=caller.digits_reversed if caller else None,
        to_number=called.value if called else None,
        to_digits_reversed=called.digits_reversed if called else None,
        call_details_state="done",
        **fields,
    )


def found(connection, text: str) -> set[str]:  # type: ignore[no-untyped-def]
    with Session(bind=connection) as session:
        where = RecordingFilter.for_search(text, "US")
        return {r.recording_sid for r in list_recordings(session, where, limit=100).rows}


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("+14155550100", "+14155550100"),
        ("(415) 555-0100", "+14155550100"),
        ("+44 20 7183 8750", "+442071838750"),
        ("client:alice", "client:alice"),
        ("sip:alice@example.com", "sip:alice@example.com"),
        ("anonymous", "anonymous"),
        ("266696", "266696"),
    ],
)
def test_a_number_is_stored_in_e164_where_it_parses_and_as_sent_otherwise(sent, stored):
    number = phones.normalise(sent, "US")
    assert number is not None and number.value == stored


def test_a_national_number_is_read_in_the_default_region():
    number = phones.normalise("020 7183 8750", "GB")
    assert number is not None and number.value == "+442071838750"


@pytest.mark.parametrize(
    "typed",
    [
        "+1 415 555 0100",
        "(415) 555-0100",
        "4155550100",
        "+14155550100",
        "415.555.0100",
        "0100",
        "50100",
    ],
)
def test_every_common_way_of_writing_the_number_finds_the_call_on_either_side(connection, typed):
    caller = with_numbers(connection, "+14155550100", "+14155550199")
    called = with_numbers(connection, "client:alice", "+14155550100")
    with_numbers(connection, "+14155550111", "+12125550123")  # another call
    assert found(connection, typed) == {caller.recording_sid, called.recording_sid}


def test_the_last_four_digits_find_every_number_ending_so_and_no_other(connection):
    ends_0100 = with_numbers(connection, "+14155550100", None)
    other_ends_0100 = with_numbers(connection, None, "+442071830100")
    with_numbers(connection, "+14155550101", "+14155550199")
    assert found(connection, "0100") == {ends_0100.recording_sid, other_ends_0100.recording_sid}
    assert found(connection, "9999") == set()


def test_a_number_ending_in_nines_is_found_by_them(connection):
    nines = with_numbers(connection, "+14155559999", None)
    with_numbers(connection, "+14155550000", None)
    assert found(connection, "9999") == {nines.recording_sid}


def test_numbers_that_are_not_phone_numbers_are_never_matched_by_digits(connection):
    with_numbers(connection, "client:alice", "sip:0100@example.com")
    assert found(connection, "0100") == set()


def test_sid_search_keeps_working_in_the_same_box(connection):
    recording = with_numbers(connection, "+14155550100", None)
    assert found(connection, recording.recording_sid[:10]) == {recording.recording_sid}
    assert found(connection, recording.call_sid) == {recording.recording_sid}


def test_digits_that_may_be_a_sid_or_a_number_find_both(connection):
    telnyx = seed(
        connection, provider="telnyx", recording_sid="55501000-0000-4000-8000-000000000000"
    )
    by_number = with_numbers(connection, "+14155501000", None)
    with_numbers(connection, "+14155501001", None)
    assert found(connection, "55501000") == {telnyx.recording_sid, by_number.recording_sid}
