"""Callbacks forwarded to the handler already there: stored with the callback, sent
by the worker, signed so the handler's own check (Twilio's RequestValidator)
passes unchanged."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlencode

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from app.deliveries import outbox
from app.deliveries.models import Delivery, DeliveryKind, DeliveryStatus
from app.deliveries.send import Deliverer
from tests.deliveries.conftest import FORWARD_SECRET
from tests.fakes.receiver import Receiver
from tests.helpers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SIGNALWIRE_PATH,
    SIGNALWIRE_PROJECT,
    SIGNALWIRE_SIGNING_KEY,
    TELNYX_ACCOUNT,
    TELNYX_PATH,
    TelnyxSigner,
    hmac_sha1_signature,
    recording_params,
    recording_sid,
    signalwire_params,
    signed_get,
    signed_post,
    telnyx_params,
)


def deliveries(connection: Connection) -> list[Delivery]:
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        return list(session.execute(select(Delivery).order_by(Delivery.id)).scalars())


def test_a_stored_callback_is_forwarded_as_received_and_twilios_validator_accepts_it(
    client, connection, deliverer: Deliverer, receiver: Receiver
):
    params = recording_params("completed")
    assert signed_post(client, params).status_code == 204
    [row] = deliveries(connection)
    assert (row.kind, row.status, row.method) == (
        DeliveryKind.FORWARD,
        DeliveryStatus.PENDING,
        "POST",
    )
    assert receiver.requests() == [], "nothing is sent on the webhook's request path"

    assert deliverer.turn()
    [got] = receiver.requests()
    assert got.method == "POST"
    assert got.form.to_dict() == params
    assert list(got.form.keys()) == list(params), "in the order received"
    assert got.valid_for_twilio(AUTH_TOKEN)
    assert not got.valid_for_twilio("some-other-token")
    assert deliveries(connection)[0].status is DeliveryStatus.DELIVERED


def test_a_get_callback_is_forwarded_as_a_get_that_validates(
    client, connection, deliverer, receiver
):
    params = recording_params("completed")
    assert signed_get(client, params).status_code == 204
    assert deliverer.turn()
    [got] = receiver.requests()
    assert got.method == "GET"
    assert got.body == b""
    assert got.form.to_dict() == params
    assert got.valid_for_twilio(AUTH_TOKEN)


def test_repeated_parameter_names_are_forwarded_and_still_validate(
    connection, sessions, deliverer, receiver
):
    # The webhook refuses repeats today; the forward keeps them anyway, signed
    # the way Twilio's validator reads them (each name's distinct values).
    pairs = [("AccountSid", ACCOUNT_SID), ("Tag", "b"), ("Tag", "a"), ("Tag", "b")]
    for method in ("POST", "GET"):
        with sessions.begin() as session:
            outbox.enqueue_forward(
                session,
                provider="twilio",
                account_sid=ACCOUNT_SID,
                recording_sid=recording_sid(7),
                method=method,
                params=pairs,
            )
    assert deliverer.turn()
    post, get = receiver.requests()
    assert post.form.getlist("Tag") == ["b", "a", "b"]
    assert get.form.getlist("Tag") == ["b", "a", "b"]
    assert post.valid_for_twilio(AUTH_TOKEN)
    assert get.valid_for_twilio(AUTH_TOKEN)


def test_the_token_of_the_time_of_sending_signs_it(app, client, connection, sessions, receiver):
    # Signed at send time: a token rotated after the callback came in is the one used.
    assert signed_post(client, recording_params("completed")).status_code == 204
    settings = app.extensions["recording_archiver"].settings
    twilio = dataclasses.replace(settings.providers["twilio"], auth_token="rotated-token-1234")
    rotated = dataclasses.replace(settings, providers={**settings.providers, "twilio": twilio})
    assert Deliverer(rotated, sessions, "w").turn()
    [got] = receiver.requests()
    assert got.valid_for_twilio("rotated-token-1234")
    assert not got.valid_for_twilio(AUTH_TOKEN)


def test_a_repeated_callback_is_not_forwarded_twice(client, connection):
    params = recording_params("completed")
    assert signed_post(client, params).status_code == 204
    assert signed_post(client, params).status_code == 204
    assert len(deliveries(connection)) == 1


def test_a_refused_callback_is_not_forwarded(client, connection):
    params = recording_params("completed")
    response = client.post(
        "/webhooks/twilio/recording-status", data=params, headers={"X-Twilio-Signature": "bad"}
    )
    assert response.status_code == 403
    assert deliveries(connection) == []


def test_without_forward_url_nothing_is_written(app, client, connection):
    settings = app.extensions["recording_archiver"].settings
    app.extensions["recording_archiver"].settings = dataclasses.replace(settings, forward_url=None)
    assert signed_post(client, recording_params("completed")).status_code == 204
    assert connection.execute(select(func.count()).select_from(Delivery)).scalar_one() == 0


def signalwire_overrides() -> dict[str, str]:
    return {
        "signalwire_project_id": SIGNALWIRE_PROJECT,
        "signalwire_api_token": "PTsignalwire-api-token-0123456789",
        "signalwire_signing_key": SIGNALWIRE_SIGNING_KEY,
        "signalwire_space_url": "https://example.signalwire.com",
    }


def test_a_signalwire_callback_is_forwarded_signed_with_its_signing_key(
    app, connection, sessions, receiver
):
    settings = app.extensions["recording_archiver"].settings.with_overrides(signalwire_overrides())
    app.extensions["recording_archiver"].settings = settings
    client = app.test_client()
    params = signalwire_params("completed")
    url = f"http://localhost{SIGNALWIRE_PATH}"
    signature = hmac_sha1_signature(url, params, SIGNALWIRE_SIGNING_KEY)
    response = client.post(
        SIGNALWIRE_PATH, data=params, headers={"X-SignalWire-Signature": signature}
    )
    assert response.status_code == 204, response.get_data(as_text=True)
    assert Deliverer(settings, sessions, "w").turn()
    [got] = receiver.requests()
    assert got.valid_for_twilio(SIGNALWIRE_SIGNING_KEY, header="x-signalwire-signature")
    assert got.valid_for_twilio(SIGNALWIRE_SIGNING_KEY, header="x-twilio-signature")


def test_a_telnyx_callback_is_forwarded_with_a_standard_webhooks_signature(
    app, connection, sessions, receiver
):
    signer = TelnyxSigner()
    settings = app.extensions["recording_archiver"].settings.with_overrides(
        {
            "telnyx_public_key": signer.public_key,
            "telnyx_account_sid": TELNYX_ACCOUNT,
            "telnyx_api_key": "KEYtelnyx-api-key-0123456789",
        }
    )
    app.extensions["recording_archiver"].settings = settings
    params = telnyx_params("completed")
    body = urlencode(params).encode()
    response = app.test_client().post(
        TELNYX_PATH,
        data=body,
        headers={**signer.headers(body), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 204, response.get_data(as_text=True)
    assert Deliverer(settings, sessions, "w").turn()
    [got] = receiver.requests()
    assert got.form.to_dict() == params
    assert got.verified_standard(FORWARD_SECRET)
    assert "x-twilio-signature" not in got.headers
