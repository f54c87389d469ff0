"""What every provider's recording-status webhook does alike, run for each provider in
the registry: a signed callback is stored once and queued, anything else stores nothing.

Each provider's own file (test_twilio, test_signalwire, test_telnyx) keeps what is
its own: how it signs, its ID formats, its fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from app.providers import PROVIDERS
from app.recordings.models import ArchiveState, Recording, RecordingEvent
from tests.helpers import (
    ACCOUNT_SID,
    OTHER_ACCOUNT_SID,
    SIGNALWIRE_PATH,
    SIGNALWIRE_PROJECT,
    SIGNALWIRE_SIGNING_KEY,
    SIGNALWIRE_TOKEN,
    TELNYX_ACCOUNT,
    TELNYX_API_KEY,
    TELNYX_PATH,
    TelnyxSigner,
    hmac_sha1_signature,
    recording_params,
    signalwire_params,
    signed_post,
    telnyx_params,
    uuid_n,
)

TELNYX_SIGNER = TelnyxSigner()
SOMEONE_ELSE = TelnyxSigner()
Send = Callable[[Any, dict[str, str]], Any]


def _signalwire_post(key: str) -> Send:
    def send(client: Any, params: dict[str, str]) -> Any:
        signature = hmac_sha1_signature(f"http://localhost{SIGNALWIRE_PATH}", params, key)
        return client.post(
            SIGNALWIRE_PATH, data=params, headers={"X-SignalWire-Signature": signature}
        )

    return send


def _telnyx_post(signer: TelnyxSigner) -> Send:
    def send(client: Any, params: dict[str, str]) -> Any:
        body = urlencode(params).encode()
        return client.post(
            TELNYX_PATH,
            data=body,
            headers={**signer.headers(body), "Content-Type": "application/x-www-form-urlencoded"},
        )

    return send


@dataclass(frozen=True)
class Caller:
    """How the tests call one provider's webhook, as that provider would."""

    account_sid: str
    foreign_account_sid: str  # an account this service does not serve
    params: Callable[..., dict[str, str]]  # a completed callback; keyword overrides
    send: Send  # signed as the provider signs
    forge: Send  # signed with a key that is not the provider's
    settings: dict[str, Any]  # the provider configured
    unconfigured: dict[str, Any]  # the provider without its settings
    needs: tuple[str, ...]  # what the refusal names when it is unconfigured


CALLERS = {
    "twilio": Caller(
        account_sid=ACCOUNT_SID,
        foreign_account_sid=OTHER_ACCOUNT_SID,
        params=recording_params,
        send=lambda client, params: signed_post(client, params),
        forge=lambda client, params: signed_post(client, params, token="someone-elses-token"),
        settings={},
        unconfigured={"twilio_account_sid": None, "twilio_auth_token": None},
        needs=("TWILIO_AUTH_TOKEN",),
    ),
    "signalwire": Caller(
        account_sid=SIGNALWIRE_PROJECT,
        foreign_account_sid=uuid_n(9, "project"),
        params=signalwire_params,
        send=_signalwire_post(SIGNALWIRE_SIGNING_KEY),
        forge=_signalwire_post("someone-elses-key"),
        settings={
            "signalwire_space_url": "https://example.signalwire.com",
            "signalwire_project_id": SIGNALWIRE_PROJECT,
            "signalwire_api_token": SIGNALWIRE_TOKEN,
            "signalwire_signing_key": SIGNALWIRE_SIGNING_KEY,
        },
        unconfigured={},
        needs=(
            "SIGNALWIRE_SPACE_URL",
            "SIGNALWIRE_PROJECT_ID",
            "SIGNALWIRE_API_TOKEN",
            "SIGNALWIRE_SIGNING_KEY",
        ),
    ),
    "telnyx": Caller(
        account_sid=TELNYX_ACCOUNT,
        foreign_account_sid=uuid_n(3, "account"),
        params=telnyx_params,
        send=_telnyx_post(TELNYX_SIGNER),
        forge=_telnyx_post(SOMEONE_ELSE),
        settings={
            "telnyx_api_key": TELNYX_API_KEY,
            "telnyx_public_key": TELNYX_SIGNER.public_key,
            "telnyx_account_sid": TELNYX_ACCOUNT,
        },
        unconfigured={},
        needs=("TELNYX_API_KEY", "TELNYX_PUBLIC_KEY"),
    ),
}


@pytest.fixture(params=sorted(CALLERS))
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def caller(provider: str) -> Caller:
    return CALLERS[provider]


@pytest.fixture
def settings_overrides(caller: Caller) -> dict[str, Any]:
    return caller.settings


def count(connection: Connection, model: type) -> int:
    return int(connection.execute(select(func.count()).select_from(model)).scalar_one())


def the_recording(connection: Connection) -> Recording:
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        return session.execute(select(Recording)).scalar_one()


def test_every_provider_in_the_registry_is_called_here():
    assert set(CALLERS) == set(PROVIDERS)


def test_a_signed_completed_callback_is_stored_and_queued(client, connection, provider, caller):
    params = caller.params()
    response = caller.send(client, params)
    assert response.status_code == 204, response.data
    assert response.data == b""

    recording = the_recording(connection)
    assert recording.provider == provider
    assert recording.account_sid == caller.account_sid
    assert recording.recording_sid == params["RecordingSid"]
    assert recording.call_sid == params["CallSid"]
    assert recording.archive_state is ArchiveState.QUEUED
    assert recording.next_attempt_at is not None
    event = connection.execute(select(RecordingEvent)).one()
    assert event.params == params
    assert event.method == "POST"


def test_a_forged_signature_is_refused_and_nothing_is_stored(client, connection, caller):
    response = caller.forge(client, caller.params())
    assert response.status_code == 403
    assert count(connection, RecordingEvent) == 0
    assert count(connection, Recording) == 0


def test_a_repeated_callback_is_accepted_and_changes_nothing(client, connection, caller):
    params = caller.params()
    assert caller.send(client, params).status_code == 204
    first = the_recording(connection)
    for _ in range(3):
        assert caller.send(client, params).status_code == 204
    assert count(connection, RecordingEvent) == 1
    again = the_recording(connection)
    assert again.updated_at == first.updated_at
    assert again.archive_state is ArchiveState.QUEUED


def test_a_callback_without_a_recording_sid_is_a_400_naming_it(client, connection, caller):
    response = caller.send(client, caller.params(RecordingSid=None))
    assert response.status_code == 400
    assert "RecordingSid" in response.get_json()["error"]
    assert count(connection, RecordingEvent) == 0
    assert count(connection, Recording) == 0


def test_an_account_not_served_is_refused_and_nothing_is_stored(client, connection, caller):
    response = caller.send(client, caller.params(AccountSid=caller.foreign_account_sid))
    assert response.status_code == 403
    assert "AccountSid" in response.get_json()["error"]
    assert count(connection, RecordingEvent) == 0
    assert count(connection, Recording) == 0


def test_a_body_over_64_kib_is_a_413(client, connection, caller):
    response = caller.send(client, caller.params(Padding="x" * (64 * 1024)))
    assert response.status_code == 413
    assert "limit" in response.get_json()["error"]
    assert count(connection, RecordingEvent) == 0


class TestWithoutTheProvidersSettings:
    @pytest.fixture
    def settings_overrides(self, caller: Caller) -> dict[str, Any]:
        return caller.unconfigured

    def test_every_callback_is_refused_naming_the_settings_it_needs(
        self, client, connection, caller
    ):
        response = caller.send(client, caller.params())
        assert response.status_code == 403
        error = response.get_json()["error"]
        for name in caller.needs:
            assert name in error
        assert count(connection, RecordingEvent) == 0
