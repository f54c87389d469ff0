"""The listing, its filters, search and pages; one recording; what can be done to it."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from app.recordings.models import ArchiveAttempt, ArchiveState, Recording, RecordingEvent
from tests.admin.helpers import HTML, csrf_token, log_in, seed

DAY = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


@pytest.fixture
def admin(client):
    log_in(client)
    return client


def sids_on(page: str) -> list[str]:
    return re.findall(r'title="((?:RE|[0-9a-f]{8}-)[^"]+)">', page)


def listed(admin, **query) -> list[str]:
    response = admin.get("/admin/", query_string=query, headers=HTML)
    assert response.status_code == 200, response.data
    return sids_on(response.get_data(as_text=True))


def test_the_listing_is_newest_first_with_the_overview_on_top(admin, connection):
    old = seed(connection, recorded_at=DAY, size_bytes=2_500_000)
    new = seed(connection, recorded_at=DAY + dt.timedelta(hours=1), size_bytes=500_000)
    seed(connection, archive_state=ArchiveState.FAILED, recorded_at=DAY - dt.timedelta(days=1))
    page = admin.get("/admin/", headers=HTML).get_data(as_text=True)
    assert sids_on(page)[:2] == [new.recording_sid, old.recording_sid]
    assert "3.0 MB" in page  # bytes archived
    assert "2026-11-20 01:00:00 UTC" in page
    assert "0:42" in page  # duration as m:ss


def test_filters_narrow_to_exactly_the_matching_rows(admin, connection):
    failed = seed(connection, archive_state=ArchiveState.FAILED, recorded_at=DAY)
    absent = seed(
        connection,
        provider_status="absent",
        archive_state=ArchiveState.NO_MEDIA,
        recorded_at=DAY + dt.timedelta(days=2),
    )
    telnyx = seed(
        connection, provider="telnyx", recording_sid="0" * 8 + "-aaaa-4aaa-aaaa-" + "a" * 12
    )
    assert listed(admin, state="failed") == [failed.recording_sid]
    assert listed(admin, status="absent") == [absent.recording_sid]
    assert listed(admin, provider="telnyx") == [telnyx.recording_sid]
    assert listed(admin, **{"from": "2026-11-22", "to": "2026-11-22"}) == [absent.recording_sid]
    assert listed(admin, **{"from": "2026-11-19", "to": "2026-11-20"}) == [
        telnyx.recording_sid,
        failed.recording_sid,
    ]


def test_one_search_finds_a_recording_call_or_conference_sid_by_prefix(admin, connection):
    target = seed(connection, conference_sid="CF" + "7" * 32)
    seed(connection)
    assert listed(admin, q=target.recording_sid) == [target.recording_sid]
    assert (
        listed(admin, q=target.recording_sid[:8]) == [target.recording_sid]
        or len(listed(admin, q=target.recording_sid[:8])) >= 1
    )
    assert listed(admin, q=target.call_sid) == [target.recording_sid]
    assert listed(admin, q="CF7777777") == [target.recording_sid]
    assert listed(admin, q="CAc0ffe_") == []  # "_" is taken literally, not as a wildcard
    refused = admin.get("/admin/", query_string={"q": "CA%%%%%%"}, headers=HTML)
    assert refused.status_code == 400  # refused, and nothing listed
    assert sids_on(refused.get_data(as_text=True)) == []


def test_a_search_shorter_than_8_characters_says_so(admin, connection):
    seed(connection)
    page = admin.get("/admin/", query_string={"q": "RE00"}, headers=HTML).get_data(as_text=True)
    assert "at least 8 characters" in page


def test_keyset_pages_show_each_row_once_while_new_rows_arrive(admin, connection):
    rows = [seed(connection, recorded_at=DAY + dt.timedelta(seconds=i)) for i in range(120)]
    seen: list[str] = []
    url = "/admin/"
    pages = 0
    while url:
        page = admin.get(url, headers=HTML).get_data(as_text=True)
        seen += sids_on(page)
        pages += 1
        # New recordings arrive between pages (newer, and one older: a backfill).
        seed(connection, recorded_at=DAY + dt.timedelta(days=1, seconds=pages))
        match = re.search(r'<a href="([^"]+)" rel="next">', page)
        url = match.group(1).replace("&amp;", "&") if match else ""
        assert "offset" not in url
    expected = [r.recording_sid for r in reversed(rows)]
    assert [sid for sid in seen if sid in set(expected)] == expected
    assert len(seen) == len(set(seen))
    assert pages == 3


def test_the_detail_page_shows_every_callback_and_every_attempt(admin, connection):
    recording = seed(
        connection,
        archive_state=ArchiveState.FAILED,
        last_error="download of https://api.twilio.com/...: HTTP 401: check the token",
        attempts=2,
    )
    connection.execute(
        RecordingEvent.__table__.insert(),
        [
            {
                "provider": "twilio",
                "dedup_key": f"k{n}",
                "account_sid": recording.account_sid,
                "recording_sid": recording.recording_sid,
                "recording_status": status,
                "params": {"RecordingStatus": status, "Odd": "<b>x</b>"},
                "method": "POST",
                "received_at": DAY + dt.timedelta(seconds=n),
            }
            for n, status in enumerate(["in-progress", "completed"])
        ],
    )
    connection.execute(
        ArchiveAttempt.__table__.insert(),
        [
            {
                "recording_id": recording.id,
                "number": n,
                "worker_id": "vm:1",
                "started_at": DAY,
                "ended_at": DAY,
                "outcome": outcome,
                "bytes_moved": 1000,
                "error": error,
            }
            for n, outcome, error in [(1, "retry", "HTTP 503"), (2, "failed", "HTTP 401")]
        ],
    )
    page = admin.get(f"/admin/recordings/{recording.id}", headers=HTML).get_data(as_text=True)
    assert "Why it failed" in page
    assert "check the token" in page
    events = page[page.index("Callbacks received") :]
    assert events.index("<strong>in-progress</strong>") < events.index("<strong>completed</strong>")
    assert "&lt;b&gt;x&lt;/b&gt;" in page  # parameters are shown, escaped
    assert "HTTP 503" in page and "HTTP 401" in page
    assert f'action="/admin/recordings/{recording.id}/retry"' in page


def test_retry_puts_a_failed_recording_back_and_leaves_an_archived_one_alone(admin, connection):
    failed = seed(connection, archive_state=ArchiveState.FAILED, attempts=8)
    done = seed(connection)
    for recording in (failed, done):
        token = csrf_token(admin, f"/admin/recordings/{failed.id}")
        response = admin.post(
            f"/admin/recordings/{recording.id}/retry", data={"csrf_token": token}, headers=HTML
        )
        assert response.status_code == 302
    states = dict(connection.execute(select(Recording.id, Recording.archive_state)).all())
    assert states[failed.id] is ArchiveState.QUEUED
    assert states[done.id] is ArchiveState.DONE
    attempts = dict(connection.execute(select(Recording.id, Recording.attempts)).all())
    assert attempts[failed.id] == 0


def test_archive_again_queues_a_recording_whose_object_is_missing(admin, connection):
    missing = seed(connection, key="twilio/x/missing.mp3", archived_at=DAY, size_bytes=10)
    page = admin.get(f"/admin/recordings/{missing.id}", headers=HTML).get_data(as_text=True)
    assert "The stored object is missing" in page
    assert "Archive again" in page
    token = csrf_token(admin, f"/admin/recordings/{missing.id}")
    admin.post(f"/admin/recordings/{missing.id}/archive-again", data={"csrf_token": token})
    row = connection.execute(select(Recording).where(Recording.id == missing.id)).one()
    assert row.archive_state is ArchiveState.QUEUED
    assert row.key is None and row.archived_at is None


def test_archive_again_does_nothing_to_a_recording_whose_object_is_there(admin, connection, app):
    present = seed(connection, key="twilio/x/present.mp3", archived_at=DAY, size_bytes=4)
    path = Path(app.extensions["recording_archiver"].settings.local_archive_dir) / present.key
    path.parent.mkdir(parents=True)
    path.write_bytes(b"abcd")
    token = csrf_token(admin, f"/admin/recordings/{present.id}")
    admin.post(f"/admin/recordings/{present.id}/archive-again", data={"csrf_token": token})
    row = connection.execute(select(Recording).where(Recording.id == present.id)).one()
    assert row.archive_state is ArchiveState.DONE
    assert row.key == present.key


def test_the_local_archive_streams_with_range_for_the_player(admin, connection, app):
    data = bytes(range(256)) * 40
    recording = seed(connection, key="twilio/a/b.mp3", archived_at=DAY, size_bytes=len(data))
    path = Path(app.extensions["recording_archiver"].settings.local_archive_dir) / recording.key
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    whole = admin.get(f"/admin/recordings/{recording.id}/media")
    assert whole.status_code == 200
    assert whole.mimetype == "audio/mpeg"
    assert whole.data == data
    part = admin.get(f"/admin/recordings/{recording.id}/media", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert part.data == data[100:200]
    download = admin.get(f"/admin/recordings/{recording.id}/media?download=1")
    assert "attachment" in download.headers["Content-Disposition"]


def test_bulk_retry_asks_first_then_requeues_exactly_the_matching_failed(admin, connection):
    twilio_failed = [seed(connection, archive_state=ArchiveState.FAILED) for _ in range(3)]
    other = seed(connection, archive_state=ArchiveState.FAILED, provider="signalwire")
    confirm = admin.get("/admin/retry-failed?provider=twilio", headers=HTML)
    assert "3 failed recordings match" in confirm.get_data(as_text=True)
    assert all(
        state is ArchiveState.FAILED
        for state in connection.execute(select(Recording.archive_state)).scalars()
    )
    token = csrf_token(admin, "/admin/retry-failed?provider=twilio")
    admin.post("/admin/retry-failed?provider=twilio", data={"csrf_token": token})
    states = dict(connection.execute(select(Recording.id, Recording.archive_state)).all())
    assert {states[r.id] for r in twilio_failed} == {ArchiveState.QUEUED}
    assert states[other.id] is ArchiveState.FAILED
