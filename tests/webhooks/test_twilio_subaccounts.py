"""TWILIO_SUBACCOUNTS: subaccounts' callbacks, each checked with its own auth token."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app import create_app
from app.db import make_session_factory
from app.providers import twilio
from app.providers.twilio_accounts import NOT_OURS_SECONDS
from app.recordings.accounts import known_accounts
from app.recordings.models import ArchiveState, Recording
from tests.fakes.compat_api import Body
from tests.helpers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    make_settings,
    recording_params,
    recording_sid,
    signed_post,
)

SHOP = "AC" + "5" * 32
DEPOT = "AC" + "6" * 32
FOREIGN = "AC" + "e" * 32


@pytest.fixture
def settings_overrides(fake_twilio):
    return {"twilio_api_base_url": fake_twilio.base_url, "twilio_subaccounts": True}


def callback(fake, account: str, n: int) -> dict[str, str]:
    sid = recording_sid(n)
    return recording_params(
        sid=sid, AccountSid=account, RecordingUrl=fake.recording_url(sid, account)
    )


def stored(app, account: str) -> list[str]:
    with app.extensions["recording_archiver"].sessions() as session:
        return list(
            session.execute(
                select(Recording.recording_sid).where(Recording.account_sid == account)
            ).scalars()
        )


def test_callbacks_of_two_subaccounts_are_accepted_each_with_its_own_token_after_one_look_up(
    app, client, fake_twilio
):
    tokens = {
        SHOP: fake_twilio.add_subaccount(SHOP, "Shop"),
        DEPOT: fake_twilio.add_subaccount(DEPOT, "Depot"),
    }
    for n in range(10):
        account = (SHOP, DEPOT)[n % 2]
        response = signed_post(client, callback(fake_twilio, account, n), token=tokens[account])
        assert response.status_code == 204, response.get_json()
    assert fake_twilio.account_lookups == {SHOP: 1, DEPOT: 1}
    assert len(stored(app, SHOP)) == len(stored(app, DEPOT)) == 5
    # A subaccount's callback signed with another key (the main token) is not its own.
    wrong = signed_post(client, callback(fake_twilio, SHOP, 99), token=AUTH_TOKEN)
    assert wrong.status_code == 403
    assert "X-Twilio-Signature does not match" in wrong.get_json()["error"]
    # The main account's callbacks never need a look-up.
    main = signed_post(client, callback(fake_twilio, ACCOUNT_SID, 50))
    assert main.status_code == 204
    assert sum(fake_twilio.account_lookups.values()) <= 3
    assert (
        twilio.auth_token_for(app.extensions["recording_archiver"].settings, DEPOT)
        == (tokens[DEPOT])
    )


def test_a_foreign_account_is_refused_with_at_most_one_look_up_however_many_callbacks(
    client, fake_twilio
):
    for n in range(40):
        response = signed_post(client, callback(fake_twilio, FOREIGN, n), token="its-own-token")
        assert response.status_code == 403
        assert response.get_json()["error"] == (
            "AccountSid is not a subaccount of TWILIO_ACCOUNT_SID"
        )
    assert fake_twilio.account_lookups[FOREIGN] == 1


def test_an_account_owned_by_someone_else_is_refused_even_with_its_own_token(
    app, client, fake_twilio
):
    token = fake_twilio.add_subaccount(FOREIGN, "Not ours", owner_account_sid="AC" + "d" * 32)
    for n in range(3):
        response = signed_post(client, callback(fake_twilio, FOREIGN, n), token=token)
        assert response.status_code == 403
    assert fake_twilio.account_lookups[FOREIGN] == 1
    assert stored(app, FOREIGN) == []


def test_a_rotated_token_is_accepted_after_one_more_look_up_and_forgeries_make_no_more(
    client, fake_twilio
):
    old = fake_twilio.add_subaccount(SHOP, "Shop")
    assert signed_post(client, callback(fake_twilio, SHOP, 1), token=old).status_code == 204
    new = fake_twilio.rotate_token(SHOP)
    assert signed_post(client, callback(fake_twilio, SHOP, 2), token=new).status_code == 204
    assert fake_twilio.account_lookups[SHOP] == 2
    # Forged callbacks (or the old token) within the re-look-up limit cost no look-up.
    for n in range(20):
        token = old if n % 2 else "forged"
        assert signed_post(client, callback(fake_twilio, SHOP, 3), token=token).status_code == 403
    assert fake_twilio.account_lookups[SHOP] == 2
    assert signed_post(client, callback(fake_twilio, SHOP, 4), token=new).status_code == 204


def test_twilio_down_during_the_look_up_answers_503_once_and_main_callbacks_are_unaffected(
    app, client, fake_twilio
):
    token = fake_twilio.add_subaccount(SHOP, "Shop")
    fake_twilio.account_faults = [503]
    for n in range(5):
        response = signed_post(client, callback(fake_twilio, SHOP, n), token=token)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert "did not answer" in response.get_json()["error"]
    assert fake_twilio.account_lookups[SHOP] == 1  # the burst shared one failed look-up
    assert stored(app, SHOP) == []
    assert signed_post(client, callback(fake_twilio, ACCOUNT_SID, 9)).status_code == 204


def test_without_the_setting_a_subaccount_callback_is_refused_and_nothing_is_looked_up(
    database_url, connection, fake_twilio
):
    token = fake_twilio.add_subaccount(SHOP, "Shop")
    settings = make_settings(
        database_url=database_url,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_api_base_url=fake_twilio.base_url,
    )
    client = create_app({"settings": settings, "bind": connection}).test_client()
    assert signed_post(client, callback(fake_twilio, SHOP, 1), token=token).status_code == 403
    assert fake_twilio.account_lookups == {}


def test_the_not_ours_answer_is_kept_for_a_while_not_forever():
    assert 60 <= NOT_OURS_SECONDS <= 3600


def test_reconcile_walks_every_subaccount_closed_first_and_says_what_each_found(
    database_url, live_engine, fake_twilio
):
    day = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    accounts = {
        "AC" + "1" * 32: ("Open shop", "active"),
        "AC" + "2" * 32: ("Old shop", "closed"),
        "AC" + "3" * 32: ("Paused shop", "suspended"),
    }
    for n, (sid, (name, status)) in enumerate(accounts.items(), 1):
        fake_twilio.add_subaccount(sid, name, status=status)
        for k in range(n):
            fake_twilio.add_recording(
                recording_sid(100 * n + k), mono=Body(100, k), account_sid=sid, date_created=day
            )
    fake_twilio.add_recording(recording_sid(1), mono=Body(100, 1), date_created=day)
    fake_twilio.add_subaccount("AC" + "4" * 32, "Someone else's", owner_account_sid=FOREIGN)
    settings = make_settings(
        database_url=database_url,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_api_base_url=fake_twilio.base_url,
        twilio_subaccounts=True,
    )
    runner = create_app({"settings": settings}).test_cli_runner()
    since = (day - dt.timedelta(days=1)).date().isoformat()
    result = runner.invoke(args=["reconcile", "--provider", "twilio", "--since", since])
    assert result.exit_code == 0, result.output
    firsts = [line for line in result.output.splitlines() if "recordings listed" in line]
    assert firsts == [
        f"twilio {'AC' + '2' * 32} (Old shop, closed): 2 recordings listed in 1 page(s)",
        f"twilio {ACCOUNT_SID} (Main, active): 1 recordings listed in 1 page(s)",
        f"twilio {'AC' + '1' * 32} (Open shop, active): 1 recordings listed in 1 page(s)",
        f"twilio {'AC' + '3' * 32} (Paused shop, suspended): 3 recordings listed in 1 page(s)",
    ]
    with make_session_factory(live_engine)() as session:
        rows = session.execute(select(Recording)).scalars().all()
    assert {(r.account_sid, r.archive_state) for r in rows} == {
        (sid, ArchiveState.QUEUED) for sid in [ACCOUNT_SID, *accounts]
    }
    assert len(rows) == 7
    for row in rows:  # the media URL names the recording's own account
        assert f"/Accounts/{row.account_sid}/Recordings/{row.recording_sid}" in row.media_url
    with make_session_factory(live_engine)() as session:
        named = {a.account_sid: (a.friendly_name, a.status) for a in known_accounts(session)}
    assert named == {ACCOUNT_SID: ("Main", "active"), **accounts}  # for the console
    listed = [r for r in fake_twilio.requests if r.path.endswith("/Recordings.json")]
    assert "AC" + "4" * 32 not in " ".join(r.path for r in listed)
