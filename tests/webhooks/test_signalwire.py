"""SignalWire's Compatibility API callbacks at /webhooks/signalwire/recording-status."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from app.recordings.models import Recording, RecordingEvent
from tests.helpers import (
    AUTH_TOKEN,
    SIGNALWIRE_PATH,
    SIGNALWIRE_PROJECT,
    SIGNALWIRE_SIGNING_KEY,
    SIGNALWIRE_TOKEN,
    WEBHOOK_PATH,
    hmac_sha1_signature,
    recording_params,
    signalwire_params,
)

URL = f"http://localhost{SIGNALWIRE_PATH}"


@pytest.fixture
def settings_overrides():
    return {
        "signalwire_space_url": "https://example.signalwire.com",
        "signalwire_project_id": SIGNALWIRE_PROJECT,
        "signalwire_api_token": SIGNALWIRE_TOKEN,
        "signalwire_signing_key": SIGNALWIRE_SIGNING_KEY,
    }


def count(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(RecordingEvent)).scalar_one())


def post(
    client,
    params,
    key=SIGNALWIRE_SIGNING_KEY,
    header="X-SignalWire-Signature",
    path=SIGNALWIRE_PATH,
):
    signature = hmac_sha1_signature(f"http://localhost{path}", params, key)
    return client.post(path, data=params, headers={header: signature})


def test_a_signed_completed_callback_keeps_what_signalwire_sent(client, connection):
    # Stored and queued, as every provider's: see test_contract.
    params = signalwire_params()
    response = post(client, params)
    assert response.status_code == 204, response.data
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        recording = session.execute(select(Recording)).scalar_one()
    assert recording.channels == 1
    assert recording.duration_seconds == 94


def test_the_legacy_twilio_header_is_accepted_too(client, connection):
    assert post(client, signalwire_params(), header="X-Twilio-Signature").status_code == 204


@pytest.mark.parametrize("words", [("mono", 1), ("dual", 2), ("2", 2)])
def test_channels_as_words_or_numbers(client, connection, words):
    word, channels = words
    assert post(client, signalwire_params(RecordingChannels=word)).status_code == 204
    assert connection.execute(select(Recording.channels)).scalar_one() == channels


@pytest.mark.parametrize(
    ("key", "why"),
    [
        pytest.param(SIGNALWIRE_TOKEN, "the API token, not the signing key", id="api-token"),
        pytest.param(AUTH_TOKEN, "a Twilio account's token", id="twilio-token"),
        pytest.param("", "an empty key", id="empty"),
    ],
)
def test_a_signature_made_with_another_key_is_refused(client, connection, key, why):
    response = post(client, signalwire_params(), key=key)
    assert response.status_code == 403, why
    assert count(connection) == 0


def test_a_missing_signature_is_refused(client, connection):
    response = client.post(SIGNALWIRE_PATH, data=signalwire_params())
    assert response.status_code == 403
    assert "X-SignalWire-Signature" in response.get_json()["error"]
    assert count(connection) == 0


def test_a_twilio_signed_callback_sent_to_the_signalwire_path_is_refused(client, connection):
    params = recording_params()
    response = post(client, params, key=AUTH_TOKEN, header="X-Twilio-Signature")
    assert response.status_code == 403
    assert count(connection) == 0


def test_a_signalwire_callback_on_the_twilio_path_is_refused(client, connection):
    params = signalwire_params()
    response = post(
        client, params, key=SIGNALWIRE_SIGNING_KEY, header="X-Twilio-Signature", path=WEBHOOK_PATH
    )
    assert response.status_code == 403
    assert count(connection) == 0


def test_twilio_style_ids_are_malformed_here(client, connection):
    response = post(client, signalwire_params(RecordingSid="RE" + "1" * 32))
    assert response.status_code == 400
    assert "RecordingSid" in response.get_json()["error"]


@pytest.mark.parametrize("query", ["?xbodySHA256=1", "?bodySHA2567=1", "?bodySHA256"])
def test_a_query_key_that_merely_contains_bodysha256_is_an_ordinary_signed_parameter(
    client, connection, query
):
    params = signalwire_params()
    forged = client.post(
        f"{SIGNALWIRE_PATH}{query}", data=params, headers={"X-SignalWire-Signature": "x"}
    )
    assert forged.status_code == 403
    assert "X-SignalWire-Signature" in forged.get_json()["error"]
    signature = hmac_sha1_signature(f"{URL}{query}", params, SIGNALWIRE_SIGNING_KEY)
    response = client.post(
        f"{SIGNALWIRE_PATH}{query}", data=params, headers={"X-SignalWire-Signature": signature}
    )
    assert response.status_code == 204, response.data
    assert count(connection) == 1


def test_a_replay_with_a_parameter_repeated_is_a_400_naming_it(client, connection):
    # The signature covers each name's distinct values: it still verifies.
    params = signalwire_params()
    assert post(client, params).status_code == 204
    replay = urlencode([*params.items(), ("RecordingStatus", params["RecordingStatus"])])
    response = client.post(
        SIGNALWIRE_PATH,
        data=replay,
        headers={
            "X-SignalWire-Signature": hmac_sha1_signature(URL, params, SIGNALWIRE_SIGNING_KEY),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code == 400
    assert "RecordingStatus" in response.get_json()["error"]
    assert count(connection) == 1


class TestWithPublicUrl:
    @pytest.fixture
    def settings_overrides(self):
        return {
            "signalwire_space_url": "https://example.signalwire.com",
            "signalwire_project_id": SIGNALWIRE_PROJECT,
            "signalwire_api_token": SIGNALWIRE_TOKEN,
            "signalwire_signing_key": SIGNALWIRE_SIGNING_KEY,
            "public_url": "https://archive.example.com",
        }

    def test_the_signature_is_checked_against_public_url_not_the_host(self, client, connection):
        params = signalwire_params()
        public = hmac_sha1_signature(
            f"https://archive.example.com{SIGNALWIRE_PATH}", params, SIGNALWIRE_SIGNING_KEY
        )
        as_host = hmac_sha1_signature(URL, params, SIGNALWIRE_SIGNING_KEY)
        refused = client.post(
            SIGNALWIRE_PATH, data=params, headers={"X-SignalWire-Signature": as_host}
        )
        assert refused.status_code == 403
        accepted = client.post(
            SIGNALWIRE_PATH, data=params, headers={"X-SignalWire-Signature": public}
        )
        assert accepted.status_code == 204
        assert count(connection) == 1
