"""The console's call details: numbers for people, the search box, times in the
display zone, a recording by its SID, and the CSV of the current filter."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from app.recordings import phones
from tests.admin.helpers import HTML, PASSWORD, USERNAME, log_in, seed

DAY = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)


@pytest.fixture
def settings_overrides(tmp_path):
    return {
        "admin_username": USERNAME,
        "admin_password": PASSWORD,
        "local_archive_dir": str(tmp_path / "archive"),
        "display_timezone": "America/New_York",
    }


@pytest.fixture
def admin(client):
    log_in(client)
    return client


def call(connection, from_: str, to: str, **fields):  # type: ignore[no-untyped-def]
    caller, called = phones.normalise(from_, "US"), phones.normalise(to, "US")
    assert caller and called
    return seed(
        connection,
        from_number=caller.value,
        from_digits_reversed=caller.digits_reversed,
        to_number=called.value,
        to_digits_reversed=called.digits_reversed,
        direction="outbound-dial",
        call_details_state="done",
        **fields,
    )


def page(admin, path: str, **query) -> str:  # type: ignore[no-untyped-def]
    response = admin.get(path, query_string=query, headers=HTML)
    assert response.status_code == 200, response.data
    return response.get_data(as_text=True)


def test_the_listing_shows_the_numbers_for_people_and_times_in_the_display_zone(admin, connection):
    call(connection, "+14155550100", "client:alice", recorded_at=DAY)
    listing = page(admin, "/admin/")
    assert "+1 415-555-0100" in listing
    assert "client:alice" in listing
    assert "outbound (dial)" in listing
    assert "2026-11-20 10:00:00 EST" in listing  # 15:00 UTC
    assert 'title="2026-11-20 15:00:00 UTC"' in listing
    assert "America/New_York" in listing


def test_the_search_box_takes_a_number_as_people_write_it(admin, connection):
    wanted = call(connection, "+14155550100", "+14155550199")
    call(connection, "+12125550123", "+14155550199")
    listing = page(admin, "/admin/", q="(415) 555-0100")
    assert wanted.recording_sid in listing
    assert listing.count('href="/admin/recordings/') == 1
    assert 'value="(415) 555-0100"' in listing


def test_three_digits_are_refused_naming_what_to_type(admin):
    response = admin.get("/admin/", query_string={"q": "010"}, headers=HTML)
    assert response.status_code == 400
    assert "4 digits or more of a phone number" in response.get_data(as_text=True)


def test_a_recording_opens_by_its_sid_and_an_unknown_sid_is_a_404_page(admin, connection):
    recording = call(connection, "+14155550100", "+14155550199")
    detail = page(admin, f"/admin/recordings/{recording.recording_sid}")
    assert f'<h1 class="sid">{recording.recording_sid}</h1>' in detail
    assert "+1 415-555-0199" in detail
    missing = admin.get("/admin/recordings/RE" + "9" * 32, headers=HTML)
    assert missing.status_code == 404
    assert "no such recording" in missing.get_data(as_text=True)


def test_a_look_up_given_up_says_call_details_unavailable_and_why(admin, connection):
    recording = seed(
        connection,
        call_details_state="unavailable",
        call_details_error="call look-up: HTTP 404: the provider has no such call",
    )
    detail = page(admin, f"/admin/recordings/{recording.id}")
    assert "call details unavailable: call look-up: HTTP 404" in detail
    assert "call details unavailable" in page(admin, "/admin/")


def test_the_csv_holds_the_filter_newest_first_up_to_its_limit(admin, connection, monkeypatch):
    older = call(connection, "+14155550100", "+14155550199", recorded_at=DAY)
    newer = call(
        connection, "+14155550100", "=HYPERLINK(1)", recorded_at=DAY + dt.timedelta(hours=1)
    )
    call(connection, "+12125550123", "+14155550199", recorded_at=DAY)  # not matching
    response = admin.get("/admin/recordings.csv", query_string={"q": "4155550100"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["recording_sid"] for r in rows] == [newer.recording_sid, older.recording_sid]
    assert rows[1]["from"] == "+14155550100"
    assert rows[0]["to"] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet
    assert rows[1]["started_at"] == DAY.isoformat()

    monkeypatch.setattr("app.admin.views.CSV_ROW_LIMIT", 1)
    limited = admin.get("/admin/recordings.csv", query_string={"q": "4155550100"})
    assert len(list(csv.DictReader(io.StringIO(limited.get_data(as_text=True))))) == 1


def test_the_listing_links_the_csv_of_its_filter(admin, connection):
    call(connection, "+14155550100", "+14155550199")
    listing = page(admin, "/admin/", q="0100")
    assert 'href="/admin/recordings.csv?q=0100"' in listing
