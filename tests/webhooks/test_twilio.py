"""The Twilio recording-status webhook, through the Flask test client."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from app.recordings.models import ArchiveState, Recording, RecordingEvent
from tests.helpers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    OTHER_ACCOUNT_SID,
    WEBHOOK_PATH,
    recording_params,
    recording_sid,
    sign,
    signed_get,
    signed_post,
)


def count(connection: Connection, model: type) -> int:
    return int(connection.execute(select(func.count()).select_from(model)).scalar_one())


def the_recording(connection: Connection) -> Recording:
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        return session.execute(select(Recording)).scalar_one()


def test_a_signed_completed_callback_is_stored_and_queued(client, connection):
    params = recording_params("completed")
    response = signed_post(client, params, headers={"I-Twilio-Idempotency-Token": "tok-1"})
    assert response.status_code == 204
    assert response.data == b""

    recording = the_recording(connection)
    assert recording.provider == "twilio"
    assert recording.account_sid == ACCOUNT_SID
    assert recording.recording_sid == params["RecordingSid"]
    assert recording.call_sid == params["CallSid"]
    assert recording.provider_status == "completed"
    assert recording.archive_state is ArchiveState.QUEUED
    assert recording.next_attempt_at is not None
    assert recording.channels == 2
    assert recording.duration_seconds == 42
    assert recording.started_at == dt.datetime(2026, 11, 16, 10, 15, 30, tzinfo=dt.UTC)
    assert recording.media_url == params["RecordingUrl"]
    assert recording.source == "DialVerb"
    assert recording.track == "both"

    event = connection.execute(select(RecordingEvent)).one()
    assert event.params == params
    assert event.method == "POST"
    assert event.recording_status == "completed"
    assert event.idempotency_token == "tok-1"
    assert event.request_id
    assert event.remote_addr == "127.0.0.1"


def test_a_get_callback_is_verified_and_stored_too(client, connection):
    params = recording_params("completed")
    response = signed_get(client, params)
    assert response.status_code == 204
    event = connection.execute(select(RecordingEvent)).one()
    assert event.method == "GET"
    assert event.params == params
    assert the_recording(connection).archive_state is ArchiveState.QUEUED


def test_a_get_callback_with_a_wrong_signature_is_refused(client, connection):
    params = recording_params("completed")
    response = client.get(WEBHOOK_PATH, query_string=params, headers={"X-Twilio-Signature": "AAAA"})
    assert response.status_code == 403
    assert count(connection, RecordingEvent) == 0


def test_a_url_with_an_explicit_port_is_verified(client, connection):
    params = recording_params("completed")
    url = f"http://localhost:8123{WEBHOOK_PATH}"
    response = client.post(
        WEBHOOK_PATH,
        data=params,
        headers={"X-Twilio-Signature": sign(url, params), "Host": "localhost:8123"},
    )
    assert response.status_code == 204


def test_a_signature_made_without_the_default_port_is_accepted_with_it(client):
    # Twilio is inconsistent about ":443" in what it signs; the validator tries both.
    params = recording_params("completed")
    signature = sign(f"https://example.com{WEBHOOK_PATH}", params)
    response = client.post(
        WEBHOOK_PATH,
        data=params,
        headers={
            "X-Twilio-Signature": signature,
            "Host": "example.com:443",
            "X-Forwarded-Proto": "https",
        },
    )
    assert response.status_code == 204


def test_a_query_string_on_a_post_url_is_part_of_what_is_signed(client):
    params = recording_params("completed")
    url = f"http://localhost{WEBHOOK_PATH}?tenant=acme"
    good = client.post(
        f"{WEBHOOK_PATH}?tenant=acme",
        data=params,
        headers={"X-Twilio-Signature": sign(url, params)},
    )
    assert good.status_code == 204
    bad = client.post(
        f"{WEBHOOK_PATH}?tenant=other",
        data=params,
        headers={"X-Twilio-Signature": sign(url, params)},
    )
    assert bad.status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}, id="wrong"),
    ],
)
def test_a_missing_or_wrong_signature_is_refused_and_nothing_is_stored(client, connection, headers):
    response = client.post(WEBHOOK_PATH, data=recording_params(), headers=headers)
    assert response.status_code == 403
    assert "X-Twilio-Signature" in response.get_json()["error"]
    assert count(connection, RecordingEvent) == 0
    assert count(connection, Recording) == 0


def test_a_signature_made_with_another_token_is_refused(client, connection):
    response = signed_post(client, recording_params(), token="someone-elses-token")
    assert response.status_code == 403
    assert count(connection, RecordingEvent) == 0


def test_a_tampered_parameter_breaks_the_signature(client, connection):
    params = recording_params()
    headers = {"X-Twilio-Signature": sign(f"http://localhost{WEBHOOK_PATH}", params)}
    tampered = dict(params, RecordingUrl="https://evil.example/steal")
    response = client.post(WEBHOOK_PATH, data=tampered, headers=headers)
    assert response.status_code == 403
    assert count(connection, RecordingEvent) == 0


def test_a_foreign_account_is_refused_and_nothing_is_stored(client, connection):
    response = signed_post(client, recording_params(AccountSid=OTHER_ACCOUNT_SID))
    assert response.status_code == 403
    assert "AccountSid" in response.get_json()["error"]
    assert count(connection, RecordingEvent) == 0
    assert count(connection, Recording) == 0


class TestWithoutTwilioCredentials:
    @pytest.fixture
    def settings_overrides(self):
        return {"twilio_account_sid": None, "twilio_auth_token": None}

    def test_every_callback_is_refused(self, client, connection):
        response = signed_post(client, recording_params())
        assert response.status_code == 403
        assert "TWILIO_AUTH_TOKEN" in response.get_json()["error"]
        assert count(connection, RecordingEvent) == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"RecordingSid": None}, "RecordingSid"),
        ({"RecordingSid": "RE123"}, "RecordingSid"),
        ({"RecordingSid": "CA" + "1" * 32}, "RecordingSid"),
        ({"AccountSid": None}, "AccountSid"),
        ({"AccountSid": "AC" + "z" * 32}, "AccountSid"),
        ({"CallSid": "CA-not-hex"}, "CallSid"),
        ({"ConferenceSid": "CF12"}, "ConferenceSid"),
        ({"RecordingStatus": None}, "RecordingStatus"),
        ({"RecordingStatus": "completed; drop table"}, "RecordingStatus"),
        ({"RecordingDuration": "forty"}, "RecordingDuration"),
        ({"RecordingDuration": "-3"}, "RecordingDuration"),
        ({"RecordingChannels": "3"}, "RecordingChannels"),
        ({"RecordingChannels": "two"}, "RecordingChannels"),
        ({"RecordingStartTime": "yesterday"}, "RecordingStartTime"),
        ({"RecordingUrl": None}, "RecordingUrl"),
        ({"RecordingUrl": "ftp://api.twilio.com/x"}, "RecordingUrl"),
    ],
)
def test_a_malformed_field_is_a_400_naming_it(client, connection, overrides, field):
    params = recording_params("completed", **overrides)
    response = signed_post(client, params)
    assert response.status_code == 400
    assert field in response.get_json()["error"]
    assert count(connection, RecordingEvent) == 0
    assert count(connection, Recording) == 0


def test_a_body_over_64_kib_is_a_413(client, connection):
    params = recording_params(Padding="x" * (64 * 1024))
    response = signed_post(client, params)
    assert response.status_code == 413
    assert "limit" in response.get_json()["error"]
    assert count(connection, RecordingEvent) == 0


def test_a_repeated_callback_is_accepted_and_changes_nothing(client, connection):
    params = recording_params("completed")
    assert signed_post(client, params).status_code == 204
    first = the_recording(connection)
    for _ in range(3):
        assert signed_post(client, params).status_code == 204
    assert count(connection, RecordingEvent) == 1
    again = the_recording(connection)
    assert again.updated_at == first.updated_at
    assert again.archive_state is ArchiveState.QUEUED


def test_a_late_in_progress_never_moves_a_completed_recording_back(client, connection):
    assert signed_post(client, recording_params("completed")).status_code == 204
    assert signed_post(client, recording_params("in-progress")).status_code == 204
    recording = the_recording(connection)
    assert recording.provider_status == "completed"
    assert recording.archive_state is ArchiveState.QUEUED
    assert recording.duration_seconds == 42
    # Both callbacks are kept as events, in the order they came.
    statuses = connection.execute(
        select(RecordingEvent.recording_status).order_by(RecordingEvent.id)
    ).scalars()
    assert list(statuses) == ["completed", "in-progress"]


def test_in_progress_then_completed_queues_the_recording(client, connection):
    assert signed_post(client, recording_params("in-progress")).status_code == 204
    assert the_recording(connection).archive_state is ArchiveState.WAITING
    assert signed_post(client, recording_params("completed")).status_code == 204
    recording = the_recording(connection)
    assert recording.provider_status == "completed"
    assert recording.archive_state is ArchiveState.QUEUED
    assert recording.media_url is not None


@pytest.mark.parametrize(("code", "meaning"), [("16101", "too short"), ("16102", "silent")])
def test_absent_keeps_the_error_code_and_has_nothing_to_archive(client, connection, code, meaning):
    params = recording_params("absent", ErrorCode=code, RecordingDuration="0", RecordingUrl=None)
    assert signed_post(client, params).status_code == 204, meaning
    recording = the_recording(connection)
    assert recording.provider_status == "absent"
    assert recording.error_code == code
    assert recording.archive_state is ArchiveState.NO_MEDIA
    assert recording.next_attempt_at is None


def test_failed_at_the_provider_keeps_the_error_code(client, connection):
    params = recording_params("failed", ErrorCode="16104", RecordingUrl=None)
    assert signed_post(client, params).status_code == 204
    recording = the_recording(connection)
    assert recording.provider_status == "failed"
    assert recording.error_code == "16104"
    assert recording.archive_state is ArchiveState.NO_MEDIA


def test_an_unknown_status_is_stored_but_acts_on_nothing(client, connection):
    assert signed_post(client, recording_params("completed")).status_code == 204
    assert signed_post(client, recording_params("paused")).status_code == 204
    assert count(connection, RecordingEvent) == 2
    recording = the_recording(connection)
    assert recording.provider_status == "completed"
    assert recording.archive_state is ArchiveState.QUEUED


def test_an_unknown_status_first_waits_for_a_real_one(client, connection):
    assert signed_post(client, recording_params("paused")).status_code == 204
    assert the_recording(connection).archive_state is ArchiveState.WAITING
    assert signed_post(client, recording_params("completed")).status_code == 204
    assert the_recording(connection).archive_state is ArchiveState.QUEUED


def test_two_recordings_of_one_call_are_two_rows(client, connection):
    for n in (1, 2):
        params = recording_params("completed", sid=recording_sid(n))
        assert signed_post(client, params).status_code == 204
    assert count(connection, Recording) == 2


def test_repeated_parameter_values_are_all_kept(client, connection):
    params = recording_params("completed")
    url = f"http://localhost{WEBHOOK_PATH}"
    data = MultiDict([*params.items(), ("Extra", "a"), ("Extra", "b")])
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, data)
    response = client.post(WEBHOOK_PATH, data=data, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 204
    event = connection.execute(select(RecordingEvent)).one()
    assert event.params["Extra"] == ["a", "b"]


class TestBehindHerokusRouter:
    """Default settings trust one proxy: the public https URL is what is checked."""

    def test_the_public_scheme_and_host_are_honoured(self, client, connection):
        params = recording_params()
        public = f"https://archiver.example.com{WEBHOOK_PATH}"
        response = client.post(
            WEBHOOK_PATH,
            data=params,
            headers={
                "X-Twilio-Signature": sign(public, params),
                "Host": "archiver.example.com",
                "X-Forwarded-Proto": "https",
                "X-Forwarded-For": "54.0.0.1",
            },
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        )
        assert response.status_code == 204
        event = connection.execute(select(RecordingEvent)).one()
        assert event.remote_addr == "54.0.0.1"

    def test_x_forwarded_host_is_honoured(self, client):
        params = recording_params()
        public = f"https://archiver.example.com{WEBHOOK_PATH}"
        response = client.post(
            WEBHOOK_PATH,
            data=params,
            headers={
                "X-Twilio-Signature": sign(public, params),
                "Host": "internal:5000",
                "X-Forwarded-Host": "archiver.example.com",
                "X-Forwarded-Proto": "https",
            },
        )
        assert response.status_code == 204


class TestWithNoTrustedProxy:
    @pytest.fixture
    def settings_overrides(self):
        return {"trusted_proxies": 0}

    def test_forwarded_headers_are_ignored(self, client, connection):
        params = recording_params()
        public = f"https://archiver.example.com{WEBHOOK_PATH}"
        response = client.post(
            WEBHOOK_PATH,
            data=params,
            headers={
                "X-Twilio-Signature": sign(public, params),
                "Host": "archiver.example.com",
                "X-Forwarded-Proto": "https",
            },
        )
        assert response.status_code == 403
        assert count(connection, RecordingEvent) == 0

    def test_the_url_as_received_is_checked(self, client):
        params = recording_params()
        url = f"http://archiver.example.com{WEBHOOK_PATH}"
        response = client.post(
            WEBHOOK_PATH,
            data=params,
            headers={
                "X-Twilio-Signature": sign(url, params),
                "Host": "archiver.example.com",
                "X-Forwarded-Proto": "https",
            },
        )
        assert response.status_code == 204


def test_an_overlong_request_id_header_is_cut_to_fit_not_a_500(client, connection):
    headers = {"X-Request-Id": "r" * 500, "I-Twilio-Idempotency-Token": "t" * 500}
    response = signed_post(client, recording_params(), headers=headers)
    assert response.status_code == 204
    event = connection.execute(select(RecordingEvent)).one()
    assert event.request_id == "r" * 128
    assert event.idempotency_token == "t" * 128


@pytest.mark.parametrize(
    "field", ["RecordingTrack", "RecordingSource", "ErrorCode", "RecordingStatus"]
)
def test_an_overlong_short_field_is_a_400_naming_it(client, connection, field):
    response = signed_post(client, recording_params(**{field: "x" * 33}))
    assert response.status_code == 400
    assert field in response.get_json()["error"]
    assert count(connection, RecordingEvent) == 0
