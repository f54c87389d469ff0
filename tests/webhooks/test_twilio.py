"""The Twilio recording-status webhook, through the Flask test client."""

from __future__ import annotations

import datetime as dt
import hashlib
from urllib.parse import urlencode

import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from app.recordings.models import ArchiveState, Recording, RecordingEvent
from tests.helpers import (
    AUTH_TOKEN,
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


def test_a_signed_completed_callback_keeps_what_twilio_sent(client, connection):
    # Stored and queued, as every provider's: see test_contract.
    params = recording_params("completed")
    response = signed_post(client, params, headers={"I-Twilio-Idempotency-Token": "tok-1"})
    assert response.status_code == 204

    recording = the_recording(connection)
    assert recording.provider_status == "completed"
    assert recording.channels == 2
    assert recording.duration_seconds == 42
    assert recording.started_at == dt.datetime(2026, 11, 16, 10, 15, 30, tzinfo=dt.UTC)
    assert recording.media_url == params["RecordingUrl"]
    assert recording.source == "DialVerb"
    assert recording.track == "both"

    event = connection.execute(select(RecordingEvent)).one()
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


def test_a_tampered_parameter_breaks_the_signature(client, connection):
    params = recording_params()
    headers = {"X-Twilio-Signature": sign(f"http://localhost{WEBHOOK_PATH}", params)}
    tampered = dict(params, RecordingUrl="https://evil.example/steal")
    response = client.post(WEBHOOK_PATH, data=tampered, headers=headers)
    assert response.status_code == 403
    assert count(connection, RecordingEvent) == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
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


def signed_multi_post(client, pairs, query=""):
    """POST form ``pairs`` (names may repeat), signed as Twilio signs them
    (its SDK's RequestValidator: each name's distinct values)."""
    url = f"http://localhost{WEBHOOK_PATH}{query}"
    data = MultiDict(pairs)
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, data)
    return client.post(
        f"{WEBHOOK_PATH}{query}", data=data, headers={"X-Twilio-Signature": signature}
    )


@pytest.mark.parametrize("name", ["RecordingStatus", "RecordingSid", "Extra"])
def test_a_repeated_parameter_is_a_400_naming_it_and_nothing_is_stored(client, connection, name):
    params = recording_params("completed", Extra="a")
    response = signed_multi_post(client, [*params.items(), (name, params[name])])
    assert response.status_code == 400, response.data
    assert name in response.get_json()["error"]
    assert "repeated" in response.get_json()["error"]
    assert count(connection, RecordingEvent) == 0


def test_a_captured_callback_replayed_with_a_parameter_repeated_adds_no_event(client, connection):
    # Twilio's signature covers each name's distinct values: the same signature
    # verifies a copy with RecordingStatus sent twice, three times...
    params = recording_params("completed")
    assert signed_multi_post(client, list(params.items())).status_code == 204
    for times in (2, 3):
        replay = [*params.items(), *[("RecordingStatus", "completed")] * (times - 1)]
        assert signed_multi_post(client, replay).status_code == 400
    assert count(connection, RecordingEvent) == 1


def test_a_captured_callback_replayed_with_its_boundaries_moved_adds_no_event(client, connection):
    # Names and values are joined with nothing between them before signing, so
    # ErrorCode=0 and RecordingChannels=2 sign exactly as ErrorCode=0RecordingChannels2.
    params = recording_params("completed")
    assert signed_multi_post(client, list(params.items())).status_code == 204
    moved = {k: v for k, v in params.items() if k not in ("ErrorCode", "RecordingChannels")}
    moved["ErrorCode"] = params["ErrorCode"] + "RecordingChannels" + params["RecordingChannels"]
    url = f"http://localhost{WEBHOOK_PATH}"
    assert sign(url, moved) == sign(url, params)  # the signature cannot tell them apart
    assert signed_multi_post(client, list(moved.items())).status_code == 204
    assert count(connection, RecordingEvent) == 1


def test_a_get_callback_with_a_repeated_parameter_is_refused_too(client, connection):
    params = recording_params("completed")
    query = urlencode([*params.items(), ("RecordingStatus", "completed")])
    url = f"http://localhost{WEBHOOK_PATH}?{query}"
    response = client.get(
        f"{WEBHOOK_PATH}?{query}", headers={"X-Twilio-Signature": sign(url, None)}
    )
    assert response.status_code == 400
    assert "RecordingStatus" in response.get_json()["error"]
    assert count(connection, RecordingEvent) == 0


@pytest.mark.parametrize(
    "query",
    [
        "?xbodySHA256=1",
        "?bodySHA2567=1",
        "?a=1&xbodySHA256=1",
        "?bodysha256=1",
        "?x=bodySHA256=1",
        "?bodySHA256",
        "?bodySHA256=",
    ],
)
def test_a_query_key_that_merely_contains_bodysha256_is_an_ordinary_signed_parameter(
    client, connection, query
):
    params = recording_params("completed")
    assert signed_multi_post(client, list(params.items()), query=query).status_code == 204
    forged = client.post(f"{WEBHOOK_PATH}{query}", data=params, headers={"X-Twilio-Signature": "x"})
    assert forged.status_code == 403
    assert "X-Twilio-Signature" in forged.get_json()["error"]
    assert count(connection, RecordingEvent) == 1


@pytest.mark.parametrize(
    "query", ["?bodySHA256=1", "?bodySHA256=a&bodySHA256=b", "?body%53HA256=1"]
)
def test_a_body_hash_that_does_not_match_is_a_403_not_a_500(client, connection, query):
    response = client.post(
        f"{WEBHOOK_PATH}{query}", data=recording_params(), headers={"X-Twilio-Signature": "x"}
    )
    assert response.status_code == 403
    assert count(connection, RecordingEvent) == 0


def test_a_json_body_signed_through_bodysha256_is_verified_then_refused_as_no_callback(
    client, connection
):
    # Twilio signs JSON bodies through the query; a recording-status callback is
    # never JSON, so a genuine one is a 400 naming the first missing field.
    body = b'{"RecordingSid": "x"}'
    query = f"?bodySHA256={hashlib.sha256(body).hexdigest()}"
    url = f"http://localhost{WEBHOOK_PATH}{query}"
    headers = {"X-Twilio-Signature": sign(url, None), "Content-Type": "application/json"}
    response = client.post(f"{WEBHOOK_PATH}{query}", data=body, headers=headers)
    assert response.status_code == 400
    assert "AccountSid" in response.get_json()["error"]
    tampered = client.post(f"{WEBHOOK_PATH}{query}", data=body + b" ", headers=headers)
    assert tampered.status_code == 403


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


class TestWithPublicUrl:
    """PUBLIC_URL set: the one URL signatures are checked against, whatever the
    request's Host or forwarded headers say."""

    PUBLIC = f"https://archive.example.com{WEBHOOK_PATH}"

    @pytest.fixture
    def settings_overrides(self):
        return {"public_url": "https://archive.example.com"}

    @pytest.mark.parametrize(
        "headers",
        [
            pytest.param({}, id="no-forwarded-headers"),
            pytest.param({"Host": "10.0.0.5:5000"}, id="an-internal-host"),
            pytest.param(
                {"Host": "other.example.com", "X-Forwarded-Proto": "https"}, id="another-host"
            ),
        ],
    )
    def test_a_callback_signed_for_public_url_is_accepted_whatever_the_host(
        self, client, connection, headers
    ):
        params = recording_params()
        response = client.post(
            WEBHOOK_PATH,
            data=params,
            headers={"X-Twilio-Signature": sign(self.PUBLIC, params), **headers},
        )
        assert response.status_code == 204, response.data

    def test_the_default_port_variant_of_public_url_verifies_too(self, client):
        params = recording_params()
        signature = sign(f"https://archive.example.com:443{WEBHOOK_PATH}", params)
        response = client.post(WEBHOOK_PATH, data=params, headers={"X-Twilio-Signature": signature})
        assert response.status_code == 204

    @pytest.mark.parametrize(
        "headers",
        [
            pytest.param({"Host": "other.example.com", "X-Forwarded-Proto": "https"}, id="host"),
            pytest.param(
                {"X-Forwarded-Host": "other.example.com", "X-Forwarded-Proto": "https"},
                id="forwarded-host",
            ),
        ],
    )
    def test_a_callback_signed_for_another_deployment_is_refused_even_naming_its_host(
        self, client, connection, headers
    ):
        # Same account, another deployment's webhook URL: before PUBLIC_URL, sending
        # it here with that deployment's Host made it verify.
        params = recording_params()
        other = sign(f"https://other.example.com{WEBHOOK_PATH}", params)
        response = client.post(
            WEBHOOK_PATH,
            data=params,
            headers={"X-Twilio-Signature": other, **headers},
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        )
        assert response.status_code == 403
        assert "X-Twilio-Signature" in response.get_json()["error"]
        assert count(connection, RecordingEvent) == 0

    def test_the_query_string_is_still_part_of_what_is_signed(self, client):
        params = recording_params()
        good = client.post(
            f"{WEBHOOK_PATH}?tenant=acme",
            data=params,
            headers={"X-Twilio-Signature": sign(f"{self.PUBLIC}?tenant=acme", params)},
        )
        assert good.status_code == 204
        bad = client.post(
            f"{WEBHOOK_PATH}?tenant=other",
            data=params,
            headers={"X-Twilio-Signature": sign(f"{self.PUBLIC}?tenant=acme", params)},
        )
        assert bad.status_code == 403
