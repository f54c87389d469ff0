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
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (scripts/test does it)"
)


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
    page.click("text=Retry")
    page.wait_for_selector(".flash.success")
    assert "queued" in page.inner_text(".subtitle")
    with Session(live_engine) as session:
        state = session.execute(
            select(Recording.archive_state).where(Recording.id == seeded["failed"].id)
        ).scalar_one()
    assert state is ArchiveState.QUEUED
    assert not [e for e in errors if "Content Security Policy" in e], errors
    assert os.path.getsize(ARTIFACTS / "admin-listing.png") > 10_000
