"""The console by account: a Twilio subaccount's recordings, under its friendly name."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.providers.base import AccountListing
from app.recordings import accounts
from tests.admin.helpers import HTML, log_in, seed

SHOP = "AC" + "5" * 32
DEPOT = "AC" + "6" * 32


def name_accounts(connection, *listed: tuple[str, str, str]) -> None:
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        accounts.remember(
            session,
            "twilio",
            [AccountListing(sid, name, status, api=None) for sid, name, status in listed],  # type: ignore[arg-type]
        )
        session.commit()


def test_the_listing_filters_by_account_and_shows_its_friendly_name(client, connection):
    name_accounts(connection, (SHOP, "Corner shop", "active"), (DEPOT, "Old depot", "closed"))
    shop = seed(connection, account_sid=SHOP)
    depot = seed(connection, account_sid=DEPOT)
    log_in(client)
    everything = client.get("/admin/", headers=HTML).get_data(as_text=True)
    assert "Corner shop" in everything and "Old depot (closed)" in everything
    page = client.get(f"/admin/?account={SHOP}", headers=HTML)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert shop.recording_sid[:12] in text or shop.recording_sid in text
    assert depot.recording_sid not in text
    detail = client.get(f"/admin/recordings/{depot.id}", headers=HTML).get_data(as_text=True)
    assert f"{DEPOT} (Old depot)" in detail


def test_a_renamed_subaccount_shows_its_newest_name(client, connection):
    name_accounts(connection, (SHOP, "Corner shop", "active"))
    name_accounts(connection, (SHOP, "Big shop", "suspended"))
    seed(connection, account_sid=SHOP)
    log_in(client)
    text = client.get("/admin/", headers=HTML).get_data(as_text=True)
    assert "Big shop" in text and "Corner shop" not in text


def test_an_account_filter_that_is_no_sid_is_refused_naming_the_field(client):
    log_in(client)
    page = client.get("/admin/?account=AC%20x", headers=HTML)
    assert page.status_code == 400
    assert "account SID" in page.get_data(as_text=True)
