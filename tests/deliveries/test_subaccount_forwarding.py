"""A subaccount's callback is forwarded signed with that subaccount's own auth token,
as Twilio would have signed it (TWILIO_SUBACCOUNTS)."""

from __future__ import annotations

from typing import Any

import pytest

from app.deliveries.send import Deliverer
from tests.deliveries.conftest import FORWARD_SECRET, NOTIFY_SECRET
from tests.fakes.receiver import Receiver
from tests.helpers import AUTH_TOKEN, recording_params, recording_sid, signed_post

SHOP = "AC" + "5" * 32


@pytest.fixture
def settings_overrides(receiver: Receiver, fake_twilio: Any) -> dict[str, Any]:
    return {
        "forward_url": receiver.url,
        "forward_secret": FORWARD_SECRET,
        "notify_url": receiver.url,
        "notify_secret": NOTIFY_SECRET,
        "twilio_api_base_url": fake_twilio.base_url,
        "twilio_subaccounts": True,
    }


def test_a_subaccounts_callback_is_forwarded_signed_with_the_subaccounts_token(
    client: Any, fake_twilio: Any, deliverer: Deliverer, receiver: Receiver
) -> None:
    token = fake_twilio.add_subaccount(SHOP, "Shop")
    sid = recording_sid(7)
    params = recording_params(
        sid=sid, AccountSid=SHOP, RecordingUrl=fake_twilio.recording_url(sid, SHOP)
    )
    assert signed_post(client, params, token=token).status_code == 204
    assert deliverer.turn()
    [got] = receiver.requests()
    assert got.form.to_dict() == params
    assert got.valid_for_twilio(token)
    assert not got.valid_for_twilio(AUTH_TOKEN), "not the main account's token"
