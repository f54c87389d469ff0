"""Call details looked up as work of their own: real fake provider APIs, real SeaweedFS."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from app.calls.lookup import CallDetailsWork
from app.db import make_session_factory
from app.providers import PROVIDERS
from app.providers.telnyx_api import MediaOrigin
from app.recordings.models import ArchiveState, CallDetailsState
from app.recordings.reconcile import reconcile
from app.work.models import WorkItem, WorkStatus
from tests.archive.helpers import drain, queue_callback, queue_recording, recording, wait_for
from tests.fakes.compat_api import Body
from tests.helpers import (
    CALL_SID,
    SIGNALWIRE_PROJECT,
    SIGNALWIRE_SIGNING_KEY,
    SIGNALWIRE_TOKEN,
    TELNYX_ACCOUNT,
    TELNYX_API_KEY,
    TelnyxSigner,
    base_settings,
    recording_sid,
    signalwire_params,
    telnyx_params,
    uuid_n,
)


@pytest.fixture
def lookups(archive_settings, sessions):  # type: ignore[no-untyped-def]
    def make(**overrides: Any) -> CallDetailsWork:
        settings = archive_settings.with_overrides(overrides) if overrides else archive_settings
        work = CallDetailsWork(settings, sessions, "test-worker")
        work.first_retry = dt.timedelta(milliseconds=20)
        return work

    return make


def run_lookups(work: CallDetailsWork, sessions, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    """Turn until no look-up is queued or running (retries waited out, polled)."""

    def settled() -> bool:
        work.turn()
        with sessions() as session:
            return not session.execute(
                select(WorkItem).where(
                    WorkItem.kind == "call_details",
                    WorkItem.status.in_([WorkStatus.QUEUED, WorkStatus.RUNNING]),
                )
            ).first()

    wait_for(settled, timeout, "the call look-ups")


def test_a_callback_queues_a_look_up_that_keeps_the_numbers_in_e164(fake_twilio, sessions, lookups):
    sid = recording_sid(1)
    fake_twilio.add_recording(sid, mono=Body(size=1000, seed=1))
    fake_twilio.add_call(
        CALL_SID, from_="+14155550100", to="+1 (415) 555-0199", caller_name="ALICE"
    )
    queue_recording(sessions, fake_twilio, sid)

    run_lookups(lookups(), sessions)

    row = recording(sessions, sid)
    assert row.call_details_state == CallDetailsState.DONE
    assert (row.from_number, row.to_number) == ("+14155550100", "+14155550199")
    assert row.direction == "inbound"
    assert row.caller_name == "ALICE"
    assert row.from_digits_reversed == "14155550100"[::-1]
    (get,) = fake_twilio.call_gets(CALL_SID)
    assert get.auth_ok


def test_numbers_that_are_not_phone_numbers_are_kept_as_sent(fake_twilio, sessions, lookups):
    sid = recording_sid(2)
    fake_twilio.add_call(CALL_SID, from_="client:alice", to="sip:bob@example.com")
    queue_recording(sessions, fake_twilio, sid)
    run_lookups(lookups(), sessions)
    row = recording(sessions, sid)
    assert (row.from_number, row.to_number) == ("client:alice", "sip:bob@example.com")
    assert row.from_digits_reversed is None and row.to_digits_reversed is None
    assert row.call_details_state == CallDetailsState.DONE


def test_an_unknown_call_is_unavailable_at_once_and_the_archive_is_untouched(
    fake_twilio, sessions, lookups, archiver
):
    sid = recording_sid(3)
    fake_twilio.add_recording(sid, mono=Body(size=50_000, seed=3))
    queue_recording(sessions, fake_twilio, sid, channels=1)  # no call added: 404

    run_lookups(lookups(), sessions)
    drain(archiver, sessions)

    row = recording(sessions, sid)
    assert row.call_details_state == CallDetailsState.UNAVAILABLE
    assert "no such call" in row.call_details_error
    assert row.archive_state is ArchiveState.DONE, row.last_error
    assert row.attempts == 1
    assert len(fake_twilio.call_gets(CALL_SID)) == 1  # a 404 is not retried


def test_a_look_up_failing_for_good_is_retried_a_bounded_number_of_times(
    fake_twilio, sessions, lookups
):
    sid = recording_sid(4)
    fake_twilio.add_call(CALL_SID, status=503)
    queue_recording(sessions, fake_twilio, sid)
    work = lookups()
    work.max_tries = 3

    run_lookups(work, sessions)

    row = recording(sessions, sid)
    assert row.call_details_state == CallDetailsState.UNAVAILABLE
    assert "HTTP 503" in row.call_details_error
    assert len(fake_twilio.call_gets(CALL_SID)) == 3


def test_a_slow_look_up_neither_delays_nor_reruns_the_archive(
    fake_twilio, sessions, lookups, archiver, s3, bucket
):
    sid = recording_sid(5)
    fake_twilio.add_recording(sid, mono=Body(size=50_000, seed=5))
    fake_twilio.add_call(CALL_SID, delay=5.0)  # past the 2 s read time-out
    queue_recording(sessions, fake_twilio, sid, channels=1)
    work = lookups()
    work.max_tries = 2

    assert work.turn()  # times out: retried later
    drain(archiver, sessions)
    row = recording(sessions, sid)
    assert row.archive_state is ArchiveState.DONE and row.attempts == 1
    assert row.call_details_state == CallDetailsState.PENDING

    run_lookups(work, sessions)
    row = recording(sessions, sid)
    assert row.call_details_state == CallDetailsState.UNAVAILABLE
    assert "timed out" in row.call_details_error or "time" in row.call_details_error
    assert recording(sessions, sid).attempts == 1
    # Learned or not after the upload, the object is not rewritten.
    assert "from" not in s3.head_object(Bucket=bucket, Key=row.key)["Metadata"]


def test_details_known_before_the_upload_go_into_the_objects_metadata(
    fake_twilio, sessions, lookups, archiver, s3, bucket
):
    sid = recording_sid(6)
    fake_twilio.add_recording(sid, mono=Body(size=50_000, seed=6))
    fake_twilio.add_call(CALL_SID, direction="outbound-dial")
    queue_recording(sessions, fake_twilio, sid, channels=1)
    run_lookups(lookups(), sessions)
    drain(archiver, sessions)

    metadata = s3.head_object(Bucket=bucket, Key=recording(sessions, sid).key)["Metadata"]
    assert metadata["from"] == "+14155550100"
    assert metadata["to"] == "+14155550199"
    assert metadata["direction"] == "outbound-dial"


def test_a_conference_recording_keeps_its_conference_sid_and_says_why_it_has_no_details(
    fake_twilio, sessions, lookups
):
    sid = recording_sid(7)
    conference = "CF" + "a" * 32
    queue_recording(sessions, fake_twilio, sid, CallSid=None, ConferenceSid=conference)
    run_lookups(lookups(), sessions)
    row = recording(sessions, sid)
    assert row.conference_sid == conference
    assert row.call_details_state == CallDetailsState.UNAVAILABLE
    assert "conference" in row.call_details_error
    assert fake_twilio.call_gets(CALL_SID) == []


def test_reconciliation_queues_the_look_up_of_a_recording_seen_only_in_the_listing(
    fake_twilio, archive_settings, sessions, lookups
):
    """SIP Trunking recordings come with no callback: the listing is all there is."""
    sid = recording_sid(8)
    call = "CA" + "8" * 32
    fake_twilio.add_recording(sid, mono=Body(size=1000, seed=8), call_sid=call)
    fake_twilio.add_call(
        call, from_="+442071838750", to="+14155550100", direction="trunking-originating"
    )
    api = PROVIDERS["twilio"].api(archive_settings)
    assert api is not None
    reconcile(sessions, api, dt.datetime.now(dt.UTC) - dt.timedelta(days=1))

    run_lookups(lookups(), sessions)
    row = recording(sessions, sid)
    assert row.call_details_state == CallDetailsState.DONE
    assert (row.from_number, row.direction) == ("+442071838750", "trunking-originating")


def test_reconciliation_fills_in_a_recording_known_from_before_call_details(
    fake_twilio, archive_settings, sessions, lookups
):
    sid = recording_sid(9)
    fake_twilio.add_recording(sid, mono=Body(size=1000, seed=9), call_sid=CALL_SID)
    fake_twilio.add_call(CALL_SID)
    queue_recording(sessions, fake_twilio, sid)
    with sessions.begin() as session:  # as if queued before this release
        session.query(WorkItem).delete()
    api = PROVIDERS["twilio"].api(archive_settings)
    assert api is not None
    reconcile(sessions, api, dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    run_lookups(lookups(), sessions)
    assert recording(sessions, sid).call_details_state == CallDetailsState.DONE


def test_signalwire_and_telnyx_calls_are_looked_up_with_their_own_credentials(
    database_url, fake_signalwire, fake_telnyx, live_engine
):
    sessions = make_session_factory(live_engine)
    settings = base_settings(
        database_url,
        signalwire_space_url=fake_signalwire.origin,
        signalwire_project_id=SIGNALWIRE_PROJECT,
        signalwire_api_token=SIGNALWIRE_TOKEN,
        signalwire_signing_key=SIGNALWIRE_SIGNING_KEY,
        telnyx_api_base_url=fake_telnyx.api_base_url,
        telnyx_api_key=TELNYX_API_KEY,
        telnyx_public_key=TelnyxSigner().public_key,
        telnyx_media_hosts=(MediaOrigin.parse(fake_telnyx.storage_origin),),
        http_read_timeout=2.0,
    )
    signalwire_call = uuid_n(1, "call")
    fake_signalwire.add_call(signalwire_call, from_="+14155550100", to="+14155550111")
    telnyx_params_ = telnyx_params(sid=uuid_n(2, "recording"))
    telnyx_call = telnyx_params_["CallSid"]
    fake_telnyx.add_call(telnyx_call, from_="+14155550122", to="anonymous", direction="outbound")
    queue_callback(sessions, "signalwire", signalwire_params(sid=uuid_n(1, "recording")))
    queue_callback(sessions, "telnyx", telnyx_params_)

    run_lookups(CallDetailsWork(settings, sessions, "test-worker"), sessions)

    signalwire_row = recording(sessions, uuid_n(1, "recording"))
    telnyx_row = recording(sessions, uuid_n(2, "recording"))
    assert signalwire_row.from_number == "+14155550100", signalwire_row.call_details_error
    assert (telnyx_row.from_number, telnyx_row.to_number) == ("+14155550122", "anonymous")
    assert telnyx_row.account_sid == TELNYX_ACCOUNT
    (get,) = fake_signalwire.call_gets(signalwire_call)
    assert get.auth_ok and get.path.startswith("/api/laml/2010-04-01/")
    (get,) = fake_telnyx.call_gets(telnyx_call)
    assert get.auth_ok
