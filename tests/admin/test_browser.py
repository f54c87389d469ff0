"""The console in a real browser: Debian's Chromium, driven by Playwright, against the
Procfile's web process, with the suite's database and SeaweedFS. Screenshots of the
listing and a detail page go to test-artifacts/ (not committed)."""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import shutil
import struct
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.recordings.models import ArchiveAttempt, ArchiveState, Recording
from tests.admin.helpers import PASSWORD, USERNAME
from tests.helpers import ROOT
from tests.procfile import (
    process_env,
    web_process,
)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
# What the console shows does not depend on which database the rows came from, and each
# test costs a web process and a Chromium: scripts/test runs these on PostgreSQL only.
pytestmark = [
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (scripts/test does it)",
    ),
    pytest.mark.one_database,
]


def tone(seconds: float = 2.0, rate: int = 8000) -> bytes:
    """A real WAV file: a 440 Hz tone the browser can decode and play."""
    frames = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * 440 * n / rate)))
        for n in range(int(seconds * rate))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return out.getvalue()


@pytest.fixture
def seeded(live_engine, s3, bucket) -> dict[str, Recording]:
    """A few recordings as the service would have left them, one archived in S3."""
    day = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
    audio = tone()
    key = "twilio/AC0/2026/11/20/RE" + "a" * 32 + ".wav"
    s3.put_object(Bucket=bucket, Key=key, Body=audio, ContentType="audio/x-wav")
    common = {
        "provider": "twilio",
        "account_sid": "AC" + "0" * 32,
        "provider_status": "completed",
        "channels": 2,
        "created_at": day,
        "updated_at": day,
    }
    rows = {
        "archived": Recording(
            **common,
            recording_sid="RE" + "a" * 32,
            call_sid="CA" + "a" * 32,
            archive_state=ArchiveState.DONE,
            duration_seconds=2,
            recorded_at=day,
            started_at=day,
            bucket=bucket,
            key=key,
            size_bytes=len(audio),
            sha256="0" * 64,
            archived_channels=1,
            archived_at=day,
            original_deleted_at=day,
        ),
        "failed": Recording(
            **common,
            recording_sid="RE" + "f" * 32,
            call_sid="CA" + "f" * 32,
            archive_state=ArchiveState.FAILED,
            duration_seconds=125,
            recorded_at=day + dt.timedelta(minutes=5),
            attempts=8,
            last_error="download of https://api.twilio.com/...: HTTP 401: the provider refused "
            "our credentials; check the account SID and token",
        ),
        "queued": Recording(
            **common,
            recording_sid="RE" + "b" * 32,
            archive_state=ArchiveState.QUEUED,
            recorded_at=day + dt.timedelta(minutes=10),
            next_attempt_at=day,
        ),
    }
    with Session(live_engine) as session:
        session.add_all(rows.values())
        session.flush()
        session.add(
            ArchiveAttempt(
                recording_id=rows["failed"].id,
                number=8,
                worker_id="vm:4242:abcd",
                started_at=day,
                ended_at=day,
                outcome="failed",
                bytes_moved=0,
                error="HTTP 401",
            )
        )
        session.commit()
        for row in rows.values():
            session.refresh(row)
            session.expunge(row)
    return rows


@pytest.fixture
def web(live_engine, database_url, seaweed, bucket, tmp_path) -> Iterator[str]:
    env = process_env(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "browser-test-secret",
            "ADMIN_USERNAME": USERNAME,
            "ADMIN_PASSWORD": PASSWORD,
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": seaweed.endpoint_url,
        }
    )
    with web_process(env, tmp_path / "web.log", release=True) as served:
        yield served.base_url
    assert PASSWORD not in served.process.log()


BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
# A name that is not loopback: Chromium keeps a Secure cookie set over plain
# http only from localhost and 127.0.0.1, so this is the laptop on the LAN.
LAN_NAME = "archiver.lan"


def browser_page(extra_args: list[str]) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS + extra_args
        )
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        yield context.new_page()
        context.close()
        browser.close()


@pytest.fixture
def page(tmp_path) -> Iterator[object]:
    yield from browser_page([])


@pytest.fixture
def lan_page() -> Iterator[object]:
    yield from browser_page([f"--host-resolver-rules=MAP {LAN_NAME} 127.0.0.1"])


def test_a_login_over_plain_http_from_another_machine_opens_the_console(web, lan_page):
    page = lan_page
    base = web.replace("127.0.0.1", LAN_NAME)
    page.goto(f"{base}/admin/")
    assert "/admin/login" in page.url
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/")
    assert page.locator("table.recordings").count() == 1
    cookies = [c for c in page.context.cookies() if c["name"] == "archiver_session"]
    assert cookies and not cookies[0]["secure"], cookies


def test_an_operator_finds_plays_and_retries_recordings(web, seeded, page, live_engine):
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{web}/")
    assert "/admin/login" in page.url
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{web}/admin/")
    rows = page.locator("table.recordings tbody tr")
    assert rows.count() == 3
    page.screenshot(path=str(ARTIFACTS / "admin-listing.png"), full_page=True)

    page.select_option("select[name=state]", "failed")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**state=failed**")
    assert rows.count() == 1
    assert "RE" + "f" * 10 in rows.first.inner_text()

    page.goto(f"{web}/admin/")
    page.fill("input[name=q]", "CA" + "a" * 10)
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**q=CA**")
    assert rows.count() == 1

    # The archived one plays from the store.
    rows.first.locator("td.sid a").click()
    page.wait_for_selector("audio")
    source = page.locator("audio").get_attribute("src")
    answer = page.request.get(f"{web}{source}", headers={"Range": "bytes=0-"})
    assert answer.status in (200, 206)
    assert answer.headers["content-type"].startswith("audio/")
    # The player preloads nothing (a page view is not a listen): press play.
    page.locator("audio").evaluate("a => a.play()")
    # Polled from here: wait_for_function would evaluate a string in the page,
    # which the console's CSP (rightly) forbids.
    deadline = time.monotonic() + 15
    while page.locator("audio").evaluate("a => a.readyState") < 3:
        assert time.monotonic() < deadline, "the audio never became playable"
        page.wait_for_timeout(100)
    page.screenshot(path=str(ARTIFACTS / "admin-detail-archived.png"), full_page=True)

    # The failed one says why, and goes back in the queue.
    page.goto(f"{web}/admin/?state=failed")
    page.locator("table.recordings td.sid a").first.click()
    assert "check the account SID and token" in page.inner_text(".error-box")
    page.screenshot(path=str(ARTIFACTS / "admin-detail-failed.png"), full_page=True)
    page.click("button:text-is('Retry')")  # not the hint, which says "then retry"
    page.wait_for_selector(".flash.success")
    assert "queued" in page.inner_text(".subtitle")
    with Session(live_engine) as session:
        state = session.execute(
            select(Recording.archive_state).where(Recording.id == seeded["failed"].id)
        ).scalar_one()
    assert state is ArchiveState.QUEUED
    assert not [e for e in errors if "Content Security Policy" in e], errors
    assert os.path.getsize(ARTIFACTS / "admin-listing.png") > 10_000


@pytest.fixture
def busy(live_engine, s3, bucket) -> dict[str, Recording]:
    """A listing as an operator meets it: 67 recordings over three providers, archived
    (one whose object has gone), retrying, failed for several reasons."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now - dt.timedelta(hours=3)
    audio = tone()
    common = {"account_sid": "AC" + "0" * 32, "provider_status": "completed", "channels": 2}
    rows: dict[str, Recording] = {}
    for n in range(60):
        provider = ("twilio", "signalwire", "telnyx")[n % 3]
        sid = f"RE{n:032x}" if provider != "telnyx" else f"{n:08x}-aaaa-4aaa-aaaa-{n:012x}"
        key = f"{provider}/AC0/2026/12/02/{sid}.wav"
        s3.put_object(Bucket=bucket, Key=key, Body=audio, ContentType="audio/x-wav")
        at = start + dt.timedelta(minutes=n)
        rows[f"done{n}"] = Recording(
            **common,
            provider=provider,
            recording_sid=sid,
            call_sid=f"CA{n:032x}" if n % 7 else None,
            conference_sid=None if n % 7 else f"CF{n:032x}",
            archive_state=ArchiveState.DONE,
            duration_seconds=30 + 7 * n,
            recorded_at=at,
            started_at=at,
            created_at=at,
            updated_at=at,
            bucket=bucket,
            key=key,
            size_bytes=262_144 + 10_000 * n,
            sha256="0" * 64,
            archived_channels=2 if n % 2 else 1,
            archived_at=at + dt.timedelta(seconds=40),
            original_deleted_at=at + dt.timedelta(seconds=41) if n % 4 else None,
        )
    late = now - dt.timedelta(minutes=20)
    special = {
        "missing": {
            "recording_sid": "RE" + "d" * 32,
            "archive_state": ArchiveState.DONE,
            "bucket": bucket,
            "key": "twilio/AC0/2026/12/02/RE" + "d" * 32 + ".wav",  # never put: gone
            "size_bytes": 262_144,
            "sha256": "0" * 64,
            "archived_channels": 2,
            "archived_at": late,
        },
        "retrying": {
            "recording_sid": "RE" + "b" * 32,
            "archive_state": ArchiveState.QUEUED,
            "attempts": 2,
            "next_attempt_at": now + dt.timedelta(minutes=4),
            "created_at": now - dt.timedelta(minutes=17),
            "last_error": "download of https://api.twilio.com/...: HTTP 503",
        },
        "credentials": {
            "recording_sid": "RE" + "f" * 32,
            "archive_state": ArchiveState.FAILED,
            "attempts": 8,
            "last_error": "download of https://api.twilio.com/2010-04-01/Accounts/AC0/"
            "Recordings/RE" + "f" * 32 + ".wav: HTTP 401: the provider refused our "
            "credentials; check the account SID and token",
        },
        "gone": {
            "recording_sid": "RE" + "e" * 32,
            "archive_state": ArchiveState.FAILED,
            "attempts": 8,
            "last_error": "download of https://api.twilio.com/...: HTTP 404 (not found; "
            "media may not be ready yet)",
        },
        "denied": {
            "recording_sid": "RE" + "c" * 32,
            "archive_state": ArchiveState.FAILED,
            "attempts": 8,
            "last_error": "upload of twilio/AC0/2026/12/02/RE" + "c" * 32 + ".wav failed: "
            "AccessDenied (HTTP 403): Access Denied",
        },
    }
    for n, (name, fields) in enumerate(special.items()):
        at = late + dt.timedelta(minutes=n)
        values: dict[str, object] = {
            **common,
            "provider": "twilio",
            "call_sid": "CA" + fields["recording_sid"][2:],  # type: ignore[index]
            "duration_seconds": 95,
            "recorded_at": at,
            "started_at": at,
            "created_at": at,
            "updated_at": at,
        }
        values.update(fields)
        rows[name] = Recording(**values)
    rows["waiting"] = Recording(
        **{**common, "provider_status": "in-progress"},
        provider="signalwire",
        recording_sid="RE" + "9" * 32,
        call_sid="CA" + "9" * 32,
        archive_state=ArchiveState.WAITING,
        recorded_at=now,
        created_at=now,
        updated_at=now,
    )
    rows["nothing"] = Recording(
        **{**common, "provider_status": "absent"},
        provider="twilio",
        recording_sid="RE" + "8" * 32,
        call_sid="CA" + "8" * 32,
        archive_state=ArchiveState.NO_MEDIA,
        recorded_at=now - dt.timedelta(minutes=1),
        created_at=now,
        updated_at=now,
    )
    with Session(live_engine) as session:
        session.add_all(rows.values())
        session.flush()
        retrying = rows["retrying"].id
        tries = [
            (1, "released", None, "the worker stopped; given back with no try counted"),
            (1, "retry", 0, "download of https://api.twilio.com/...: HTTP 503"),
            (2, "retry", 0, "download of https://api.twilio.com/...: HTTP 503"),
        ]
        for n, (number, outcome, moved, error) in enumerate(tries):
            began = now - dt.timedelta(minutes=15 - 5 * n)
            session.add(
                ArchiveAttempt(
                    recording_id=retrying,
                    number=number,
                    worker_id="vm:4242:abcd",
                    started_at=began,
                    ended_at=began + dt.timedelta(seconds=2),
                    outcome=outcome,
                    bytes_moved=moved,
                    error=error,
                )
            )
        session.commit()
        for row in rows.values():
            session.refresh(row)
            session.expunge(row)
    return rows


def single_line_rows(page) -> list[str]:
    """The table rows taller than one line of text (something in them wrapped)."""
    heights = page.locator("table.recordings tbody tr").evaluate_all(
        "rows => rows.map(r => [r.getBoundingClientRect().height, r.innerText])"
    )
    shortest = min(h for h, _ in heights)
    return [text for h, text in heights if h > shortest + 4]


def test_the_console_reads_plainly_at_1366_px(web, busy, page):
    """Screenshots first (they are the point), then what an operator should read there."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{web}/admin/login")
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{web}/admin/")
    page.screenshot(path=str(ARTIFACTS / "console-listing.png"), full_page=True)
    page.goto(f"{web}/admin/?state=failed")
    page.screenshot(path=str(ARTIFACTS / "console-listing-failed.png"), full_page=True)
    page.goto(f"{web}/admin/?state=failed&provider=telnyx")
    page.screenshot(path=str(ARTIFACTS / "console-listing-empty.png"), full_page=True)
    for name in ("retrying", "credentials", "missing"):
        page.goto(f"{web}/admin/recordings/{busy[name].id}")
        page.screenshot(path=str(ARTIFACTS / f"console-detail-{name}.png"), full_page=True)

    page.goto(f"{web}/admin/")
    assert "1\N{EN DASH}50 of 67" in page.inner_text(".listing-head")
    assert single_line_rows(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366  # no sideways scroll
    overview = page.inner_text(".overview")
    assert "oldest not archived" in overview and "17m" in overview
    page.goto(f"{web}/admin/?state=failed")
    assert page.locator("table.recordings thead th", has_text="Why it failed").count() == 1
    assert single_line_rows(page) == []
    assert "1\N{EN DASH}3 of 3" in page.inner_text(".listing-head")
    assert "Retry the failed recordings" in page.inner_text(".listing-head")
    page.goto(f"{web}/admin/?state=failed&provider=telnyx")
    assert page.locator(".listing-head a.button").count() == 0
    page.goto(f"{web}/admin/recordings/{busy['retrying'].id}")
    assert "try 3 of 8 is in" in page.inner_text(".next-try")
    page.goto(f"{web}/admin/recordings/{busy['missing'].id}")
    assert page.inner_text(".subtitle .state") == "archived, object missing"
