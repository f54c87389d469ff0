"""The console as an operator reads it: counts that say how old they are, the recording
that has waited longest, retrying and missing recordings told apart, tries numbered
in order, failures with what to do about them, and a listing that says how many."""

from __future__ import annotations

import datetime as dt
import re
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import update

from app.admin.views import archive_badge
from app.archive.hints import hint_for
from app.extensions import extensions
from app.recordings.models import ArchiveAttempt, ArchiveState, Recording
from app.recordings.overview import Figures
from tests.admin.helpers import HTML, log_in, seed

DAY = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
DASH = "\N{EN DASH}"  # as in "1-50 of 67"


@pytest.fixture
def admin(client):
    log_in(client)
    return client


def page_of(admin, path: str, **query) -> str:
    response = admin.get(path, query_string=query, headers=HTML)
    assert response.status_code == 200, response.data
    return response.get_data(as_text=True)


def tile(page: str, label: str) -> str:
    """The figure shown on the tile labelled ``label``."""
    match = re.search(
        r'<span class="count">([^<]*)</span>\s*<span class="label">' + re.escape(label) + "<", page
    )
    assert match, f"no tile {label!r}"
    return match.group(1)


def test_the_counts_say_how_old_they_are_and_that_rows_changed_after_them(admin, connection):
    seed(connection)
    first = page_of(admin, "/admin/")
    assert tile(first, "failed") == "0"
    assert re.search(
        r"Counts above: all recordings, whatever the filter, as of [0-9-]+ [0-9:]+ UTC \(\d+s ago;",
        first,
    )
    assert "refreshed every 30 s" not in first
    assert "Some rows below changed after these counts" not in first
    # A worker fails a recording between two page loads: the counts (cached) still
    # say 0 failed, and the page says the table is newer than they are.
    seed(connection, archive_state=ArchiveState.FAILED, updated_at=dt.datetime.now(dt.UTC))
    second = page_of(admin, "/admin/")
    assert tile(second, "failed") == "0"
    assert "Some rows below changed after these counts were taken." in second


def test_counts_older_than_a_minute_are_counted_again_before_the_page_answers(
    admin, connection, app
):
    page_of(admin, "/admin/")
    seed(connection, archive_state=ArchiveState.FAILED)
    with app.app_context():
        cache = extensions().admin_overview
        stale = cache.get()
        # As if nobody had looked for a minute and a bit.
        cache._figures = Figures(stale.overview, time.time() - 2 * cache.fresh_seconds - 1)
    assert tile(page_of(admin, "/admin/"), "failed") == "1"


def test_the_oldest_recording_not_yet_archived_is_shown_with_how_long_it_waited(admin, connection):
    now = dt.datetime.now(dt.UTC)
    # Retrying: its next try is due in a while, so it is not overdue (the old
    # "oldest queued" tile said 0s), but it has waited 12 minutes.
    retrying = seed(
        connection,
        archive_state=ArchiveState.QUEUED,
        attempts=2,
        created_at=now - dt.timedelta(minutes=12),
        next_attempt_at=now + dt.timedelta(minutes=5),
    )
    seed(connection, archive_state=ArchiveState.QUEUED, created_at=now, next_attempt_at=now)
    page = page_of(admin, "/admin/")
    assert tile(page, "oldest not archived").startswith("12m")
    assert f'href="/admin/recordings/{retrying.id}"' in page
    assert retrying.recording_sid in page  # in the tile's title


def test_nothing_waiting_says_so(admin, connection):
    seed(connection)
    assert tile(page_of(admin, "/admin/"), "waiting to be archived") == "none"


def test_an_archived_recording_whose_object_is_missing_is_not_shown_as_archived(admin, connection):
    missing = seed(connection, key="twilio/x/gone.mp3", archived_at=DAY, size_bytes=10)
    page = page_of(admin, f"/admin/recordings/{missing.id}")
    subtitle = page[page.index('<p class="subtitle">') :]
    subtitle = subtitle[: subtitle.index("</p>")]
    assert "archived, object missing" in subtitle
    assert "state-problem" in subtitle and "state-done" not in subtitle


@pytest.mark.parametrize(
    ("integrity", "label"),
    [("missing", "archived, object missing"), ("mismatch", "archived, object changed")],
)
def test_the_scrubs_integrity_mark_gets_its_own_badge(integrity, label):
    # The scrub (issue 19) adds an ``integrity`` column; the badge reads it when it is there.
    recording = SimpleNamespace(archive_state=ArchiveState.DONE, attempts=1, integrity=integrity)
    assert archive_badge(recording) == ("state-problem", label)
    recording.integrity = "ok"
    assert archive_badge(recording) == ("state-done", "archived")


def test_a_retrying_recording_shows_which_try_is_next_and_when(admin, connection):
    now = dt.datetime.now(dt.UTC)
    retrying = seed(
        connection,
        archive_state=ArchiveState.QUEUED,
        attempts=1,
        next_attempt_at=now + dt.timedelta(minutes=3),
        last_error="download of https://api.twilio.com/...: HTTP 503",
    )
    listing = page_of(admin, "/admin/")
    assert "retrying (2 of 8)" in listing
    assert "next try in 2m" in listing or "next try in 3m" in listing
    page = page_of(admin, f"/admin/recordings/{retrying.id}")
    assert re.search(r"Try 1 of 8 failed; try 2 of 8 is in [23]m", page)
    assert "the provider did not answer" in page


def test_tries_are_numbered_in_order_and_a_given_back_try_is_not_counted(admin, connection):
    recording = seed(connection, archive_state=ArchiveState.RUNNING, attempts=2)
    connection.execute(
        ArchiveAttempt.__table__.insert(),
        [
            {
                "recording_id": recording.id,
                "number": number,
                "worker_id": "vm:1",
                "started_at": DAY + dt.timedelta(minutes=n),
                "outcome": outcome,
            }
            # A worker stopped during try 1 and gave it back (attempts went back
            # down), so the next try was number 1 again.
            for n, (number, outcome) in enumerate([(1, "released"), (1, "retry"), (2, "running")])
        ],
    )
    page = page_of(admin, f"/admin/recordings/{recording.id}")
    table = page[page.index('<table class="attempts">') :]
    cells = re.findall(r"<tr>\s*<td>(\d+)</td><td class=\"nowrap\">([^<]+)</td>", table)
    assert cells == [("1", "not counted"), ("2", "try 1 of 8"), ("3", "try 2 of 8")]


@pytest.mark.parametrize(
    ("error", "what", "fix"),
    [
        (
            "download of https://api.twilio.com/...: HTTP 401: the provider refused our "
            "credentials; check the account SID and token",
            "the provider refused our credentials",
            "Check the Twilio credentials in the worker",
        ),
        (
            "download of https://api.twilio.com/...: HTTP 404 (not found; media may not be "
            "ready yet)",
            "the provider no longer has it",
            "the recording was deleted there",
        ),
        (
            "upload to twilio/AC0/x.mp3 failed: AccessDenied (HTTP 403): Access Denied",
            "the store refused us",
            "Check the bucket policy and the IAM permissions of the worker",
        ),
    ],
)
def test_a_failed_recording_says_what_to_do_about_it(admin, connection, error, what, fix):
    failed = seed(connection, archive_state=ArchiveState.FAILED, attempts=8, last_error=error)
    page = page_of(admin, f"/admin/recordings/{failed.id}")
    box = page[page.index('class="error-box"') :]
    assert f"Why it failed: {what}" in box
    assert fix in box
    assert error.split(":")[0] in box  # the technical message stays, below the hint


def test_an_error_without_a_hint_is_shown_as_it_is():
    assert hint_for("something nobody foresaw") is None
    assert hint_for(None) is None


def test_the_failed_filter_has_an_error_column(admin, connection):
    seed(
        connection,
        archive_state=ArchiveState.FAILED,
        last_error="download of https://api.twilio.com/...: HTTP 403: refused",
    )
    seed(connection, archive_state=ArchiveState.FAILED, last_error="a thing with no hint")
    page = page_of(admin, "/admin/", state="failed")
    assert "<th>Why it failed</th>" in page
    assert ">the provider refused our credentials</td>" in page
    assert ">a thing with no hint</td>" in page
    assert "<th>Why it failed</th>" not in page_of(admin, "/admin/")


def test_the_listing_says_which_rows_of_how_many_it_shows(admin, connection):
    for n in range(67):
        seed(connection, recorded_at=DAY + dt.timedelta(minutes=n))
    first = page_of(admin, "/admin/")
    assert f"1{DASH}50 of 67" in first
    link = re.search(r'href="([^"]+)" rel="next"', first)
    assert link
    second = admin.get(link.group(1).replace("&amp;", "&"), headers=HTML).get_data(as_text=True)
    assert f"51{DASH}67 of 67" in second
    assert "0 recordings" in page_of(admin, "/admin/", provider="telnyx")


def test_the_count_stops_at_its_cap(admin, connection, monkeypatch):
    monkeypatch.setattr("app.recordings.queries.COUNT_CAP", 5)
    for _ in range(7):
        seed(connection)
    assert f"1{DASH}7 of more than 5" in page_of(admin, "/admin/")


def test_bulk_retry_is_offered_only_when_failed_recordings_match(admin, connection):
    seed(connection, archive_state=ArchiveState.FAILED)
    seed(connection, archive_state=ArchiveState.FAILED)
    assert "Retry the failed recordings matching this filter" in page_of(admin, "/admin/")
    # A failed recording exists, but none matches: no button over an empty table.
    empty = page_of(admin, "/admin/", state="failed", provider="telnyx")
    assert "No recordings match." in empty
    assert "/admin/retry-failed" not in empty
    connection.execute(update(Recording).values(archive_state=ArchiveState.DONE))
    assert "/admin/retry-failed" not in page_of(admin, "/admin/")
