"""Telnyx TeXML callbacks at /webhooks/telnyx/recording-status, signed with Ed25519."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from app.recordings.models import Recording, RecordingEvent
from tests.helpers import (
    AUTH_TOKEN,
    TELNYX_API_KEY,
    TELNYX_PATH,
    TelnyxSigner,
    hmac_sha1_signature,
    recording_params,
    telnyx_params,
)

SIGNER = TelnyxSigner()
OTHER = TelnyxSigner()


@pytest.fixture
def settings_overrides():
    return {"telnyx_api_key": TELNYX_API_KEY, "telnyx_public_key": SIGNER.public_key}


def count(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(RecordingEvent)).scalar_one())


def post(client, params, signer=SIGNER, timestamp=None, body=None):
    body = body if body is not None else urlencode(params).encode()
    headers = signer.headers(body, timestamp)
    return client.post(
        TELNYX_PATH,
        data=body,
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    )


def test_a_signed_completed_callback_keeps_what_telnyx_sent(client, connection):
    # Stored and queued, as every provider's: see test_contract.
    params = telnyx_params()
    response = post(client, params)
    assert response.status_code == 204, response.data
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        recording = session.execute(select(Recording)).scalar_one()
    assert recording.channels == 2
    assert recording.media_url == params["RecordingUrl"]


def test_a_get_callback_signed_over_its_query_string_is_accepted(client, connection):
    params = telnyx_params()
    query = urlencode(params)
    response = client.get(f"{TELNYX_PATH}?{query}", headers=SIGNER.headers(query.encode()))
    assert response.status_code == 204, response.data


def test_a_get_callback_whose_signature_does_not_cover_its_parameters_is_refused(
    client, connection
):
    query = urlencode(telnyx_params())
    response = client.get(f"{TELNYX_PATH}?{query}", headers=SIGNER.headers(b""))
    assert response.status_code == 403
    assert count(connection) == 0


@pytest.mark.parametrize("age", [301, -301, 3600])
def test_a_timestamp_more_than_300_seconds_away_is_refused(client, connection, age):
    response = post(client, telnyx_params(), timestamp=int(time.time()) - age)
    assert response.status_code == 403
    assert "telnyx-timestamp" in response.get_json()["error"]
    assert count(connection) == 0


def test_a_replay_with_a_new_timestamp_is_refused(client, connection):
    params = telnyx_params()
    body = urlencode(params).encode()
    old = SIGNER.headers(body, int(time.time()) - 10)
    replayed = {**old, "telnyx-timestamp": str(int(time.time()))}
    response = client.post(
        TELNYX_PATH,
        data=body,
        headers={**replayed, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 403
    assert count(connection) == 0


def test_a_tampered_body_is_refused(client, connection):
    params = telnyx_params()
    body = urlencode(params).encode()
    headers = SIGNER.headers(body)
    tampered = urlencode(dict(params, RecordingUrl="https://evil.example/x.mp3")).encode()
    response = client.post(
        TELNYX_PATH,
        data=tampered,
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 403
    assert count(connection) == 0


@pytest.mark.parametrize("drop", ["telnyx-signature-ed25519", "telnyx-timestamp"])
def test_a_missing_header_is_refused(client, connection, drop):
    body = urlencode(telnyx_params()).encode()
    headers = {k: v for k, v in SIGNER.headers(body).items() if k != drop}
    response = client.post(
        TELNYX_PATH,
        data=body,
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 403
    assert drop in response.get_json()["error"]


def test_a_twilio_signed_callback_sent_to_the_telnyx_path_is_refused(client, connection):
    params = recording_params()
    signature = hmac_sha1_signature(f"http://localhost{TELNYX_PATH}", params, AUTH_TOKEN)
    response = client.post(TELNYX_PATH, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert count(connection) == 0


def test_twilio_style_ids_are_malformed_here(client, connection):
    response = post(client, telnyx_params(RecordingSid="RE" + "1" * 32))
    assert response.status_code == 400
    assert "RecordingSid" in response.get_json()["error"]


@pytest.mark.parametrize(("length", "status"), [(120, 204), (121, 400)])
def test_a_long_call_control_id_fits_its_column_or_is_a_400(client, connection, length, status):
    response = post(client, telnyx_params(CallSid="v3:" + "A" * length))
    assert response.status_code == status, response.data
    if status == 400:
        assert "CallSid" in response.get_json()["error"]


# Digits int() reads but Telnyx never writes: the current time in Arabic-Indic digits.
NOW_IN_ARABIC_INDIC = str(int(time.time())).translate({ord("0") + d: 0x660 + d for d in range(10)})


@pytest.mark.parametrize(
    "stamp",
    [
        pytest.param("9" * 400, id="400-nines"),
        pytest.param("9" * 13, id="13-digits"),
        pytest.param("\u00b2", id="superscript-two"),
        pytest.param(NOW_IN_ARABIC_INDIC, id="arabic-indic-digits-that-int-reads"),
        pytest.param("1700000000\u00b2", id="ascii-then-superscript"),
        pytest.param(" 1700000000", id="leading-space"),
        pytest.param("+1700000000", id="plus-sign"),
        pytest.param("-1", id="negative"),
        pytest.param("1e9", id="exponent"),
        pytest.param("1700000000.5", id="fraction"),
    ],
)
def test_a_signed_timestamp_that_is_not_1_to_12_ascii_digits_is_a_403_naming_it(
    client, connection, stamp
):
    body = urlencode(telnyx_params()).encode()
    response = client.post(
        TELNYX_PATH,
        data=body,
        headers={
            **SIGNER.headers(body, stamp=stamp),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code == 403, response.data
    assert "telnyx-timestamp" in response.get_json()["error"]
    assert count(connection) == 0


def test_a_twelve_digit_timestamp_is_read_and_refused_for_its_distance(client, connection):
    response = post(client, telnyx_params(), timestamp=999_999_999_999)
    assert response.status_code == 403
    assert "away from now" in response.get_json()["error"]


def test_a_signed_callback_with_a_repeated_parameter_is_a_400_naming_it(client, connection):
    # Telnyx signs the body byte for byte, so this is no replay; but no provider
    # repeats a parameter, and each event must be one value per name.
    body = (urlencode(telnyx_params()) + "&RecordingStatus=completed").encode()
    response = post(client, None, body=body)
    assert response.status_code == 400
    assert "RecordingStatus" in response.get_json()["error"]
    assert count(connection) == 0
