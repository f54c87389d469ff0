"""SubaccountKeys against the fake Twilio API, on a clock of the test's own."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.providers import twilio_accounts
from app.providers.errors import SigningKeyUnavailable
from app.providers.twilio_accounts import (
    LOOKUP_BURST,
    NOT_OURS_SECONDS,
    RELOOK_SECONDS,
    UNAVAILABLE_SECONDS,
    SubaccountKeys,
)
from app.providers.twilio_api import TwilioApi
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN

SHOP = "AC" + "5" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def keys(fake_twilio, clock):
    api = TwilioApi(
        name="twilio",
        api_base_url=fake_twilio.base_url,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        subaccounts=True,
    )
    return SubaccountKeys(api, clock=clock)


def matches(token: str):
    return lambda key: None if key == token else "does not match"


def test_forged_signatures_make_one_re_look_up_per_interval_not_one_each(keys, fake_twilio, clock):
    token = fake_twilio.add_subaccount(SHOP, "Shop")
    assert keys.verify(SHOP, matches(token)) is None
    for _ in range(50):
        assert keys.verify(SHOP, matches("forged")) == "does not match"
    assert fake_twilio.account_lookups[SHOP] == 2  # the first, and one re-look-up
    clock.now += RELOOK_SECONDS
    assert keys.verify(SHOP, matches("forged")) == "does not match"
    assert fake_twilio.account_lookups[SHOP] == 3
    assert keys.verify(SHOP, matches(token)) is None  # the real one still passes


def test_the_not_ours_answer_is_asked_again_once_it_has_aged(keys, fake_twilio, clock):
    foreign = "AC" + "e" * 32
    assert keys.verify(foreign, matches("x")) is not None
    clock.now += NOT_OURS_SECONDS - 1
    assert keys.verify(foreign, matches("x")) is not None
    assert fake_twilio.account_lookups[foreign] == 1
    token = fake_twilio.add_subaccount(foreign, "Moved to us")
    clock.now += 1
    assert keys.verify(foreign, matches(token)) is None
    assert fake_twilio.account_lookups[foreign] == 2


def test_callbacks_naming_ever_new_sids_are_held_to_the_look_up_budget(keys, fake_twilio):
    refused = 0
    for n in range(LOOKUP_BURST + 20):
        try:
            keys.verify(f"AC{n:032x}", matches("x"))
        except SigningKeyUnavailable:
            refused += 1
    assert refused == 20
    assert sum(fake_twilio.account_lookups.values()) == LOOKUP_BURST


def test_an_unanswered_look_up_is_kept_briefly_then_tried_again(keys, fake_twilio, clock):
    token = fake_twilio.add_subaccount(SHOP, "Shop")
    fake_twilio.account_faults = [500]
    for _ in range(3):
        with pytest.raises(SigningKeyUnavailable):
            keys.verify(SHOP, matches(token))
    assert fake_twilio.account_lookups[SHOP] == 1
    clock.now += UNAVAILABLE_SECONDS
    assert keys.verify(SHOP, matches(token)) is None
    assert keys.token_for(SHOP) == token and keys.friendly_name(SHOP) == "Shop"


def test_a_re_look_up_twilio_does_not_answer_keeps_the_known_token(keys, fake_twilio):
    token = fake_twilio.add_subaccount(SHOP, "Shop")
    assert keys.verify(SHOP, matches(token)) is None
    fake_twilio.account_faults = [503]
    with pytest.raises(SigningKeyUnavailable):
        keys.verify(SHOP, matches("rotated, perhaps"))
    assert keys.verify(SHOP, matches(token)) is None  # no 503 for what we can check


def test_concurrent_callbacks_of_one_subaccount_share_one_look_up(keys, fake_twilio):
    token = fake_twilio.add_subaccount(SHOP, "Shop")
    arrived = threading.Event()

    def slow_api(request):  # a Twilio far away: the look-up takes a while
        if request.path.endswith(f"{SHOP}.json"):
            arrived.set()
            time.sleep(0.3)

    fake_twilio.on_request = slow_api
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: keys.verify(SHOP, matches(token)), range(20)))
    assert arrived.is_set()
    assert results == [None] * 20
    assert fake_twilio.account_lookups[SHOP] == 1


def test_the_keeper_never_shows_a_token(keys, fake_twilio):
    token = fake_twilio.add_subaccount(SHOP, "Shop")
    keys.verify(SHOP, matches(token))
    assert token not in repr(keys) and token not in repr(keys._known[SHOP])


def test_a_sid_in_other_letter_cases_is_not_worth_a_look_up(keys, fake_twilio):
    assert keys.covers("AC" + "e" * 32)
    assert not keys.covers("AC" + "E" * 32)
    assert not keys.covers(ACCOUNT_SID)


def test_aged_answers_are_forgotten_so_forged_sids_do_not_grow_memory(
    keys, fake_twilio, clock, monkeypatch
):
    monkeypatch.setattr(twilio_accounts, "PRUNE_AT", 5)
    token = fake_twilio.add_subaccount(SHOP, "Shop")
    assert keys.verify(SHOP, matches(token)) is None
    for n in range(4):
        keys.verify(f"AC{n:032x}", matches("x"))
    clock.now += NOT_OURS_SECONDS
    for n in range(4, 6):
        keys.verify(f"AC{n:032x}", matches("x"))
    assert set(keys._known) == {SHOP, f"AC{4:032x}", f"AC{5:032x}"}
