"""Scrubbing: archived objects read back and checked, against a real SeaweedFS and a
local folder; one object removed and another overwritten behind the service's back."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from app import create_app
from app.archive.pipeline import Archiver
from app.archive.scrub import RateCeiling, ScrubSchedule, scrub
from app.recordings.models import Integrity
from app.storage import make_store
from app.work.models import WorkItem, WorkStatus
from tests.admin.helpers import HTML, PASSWORD, USERNAME, log_in
from tests.archive.helpers import drain, queue_recording, recording
from tests.fakes.compat_api import Body
from tests.helpers import recording_sid

SIDS = [recording_sid(700 + n) for n in range(3)]


def archive_three(archiver, fake_twilio, sessions) -> list:
    for n, sid in enumerate(SIDS):
        body = Body(size=200_000 + n, seed=40 + n)
        fake_twilio.add_recording(sid, mono=body, dual=body)
        queue_recording(sessions, fake_twilio, sid, channels=1)
    drain(archiver, sessions)
    return [recording(sessions, sid) for sid in SIDS]


def requests_to_provider(fake_twilio) -> int:
    return len(fake_twilio.requests)


@pytest.fixture
def console(archive_settings):
    settings = replace(archive_settings, admin_username=USERNAME, admin_password=PASSWORD)
    app = create_app({"settings": settings})
    app.config.update(TESTING=True)
    return app


def test_a_removed_and_an_overwritten_object_are_flagged_and_the_rest_ok(
    archiver, fake_twilio, sessions, s3, bucket, console, caplog
):
    removed, overwritten, untouched = archive_three(archiver, fake_twilio, sessions)
    assert all(r.integrity is Integrity.UNCHECKED for r in (removed, overwritten, untouched))
    s3.delete_object(Bucket=bucket, Key=removed.key)
    s3.put_object(Bucket=bucket, Key=overwritten.key, Body=b"not the recording")
    asked = requests_to_provider(fake_twilio)

    caplog.set_level(logging.INFO, "app.archive.scrub")
    result = console.test_cli_runner().invoke(args=["scrub"])
    assert result.exit_code == 1, result.output
    assert f"{removed.recording_sid}: missing" in result.output
    assert f"{overwritten.recording_sid}: mismatch" in result.output
    assert "checked 3: 1 ok, 1 missing, 1 mismatch" in result.output
    assert requests_to_provider(fake_twilio) == asked  # the provider is never asked

    found = {sid: recording(sessions, sid) for sid in SIDS}
    assert found[removed.recording_sid].integrity is Integrity.MISSING
    assert found[overwritten.recording_sid].integrity is Integrity.MISMATCH
    assert found[untouched.recording_sid].integrity is Integrity.OK
    assert all(r.integrity_checked_at is not None for r in found.values())
    problems = [r for r in caplog.records if "integrity check of" in r.getMessage()]
    assert len(problems) == 2

    # Once per problem: a second scrub finds the same and says nothing new.
    caplog.clear()
    again = console.test_cli_runner().invoke(args=["scrub"])
    assert "checked 3: 1 ok, 1 missing, 1 mismatch" in again.output
    assert not [r for r in caplog.records if "integrity check of" in r.getMessage()]

    client = console.test_client()
    log_in(client)
    page = client.get("/admin/?integrity=problems", headers=HTML).get_data(as_text=True)
    assert removed.recording_sid in page and overwritten.recording_sid in page
    assert untouched.recording_sid not in page
    detail = client.get(f"/admin/recordings/{removed.id}", headers=HTML).get_data(as_text=True)
    assert "integrity-missing" in detail

    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'recording_archiver_integrity{state="missing"} 1.0' in metrics
    assert 'recording_archiver_integrity{state="mismatch"} 1.0' in metrics
    assert 'recording_archiver_integrity{state="ok"} 1.0' in metrics
    assert "recording_archiver_scrubbed_objects_total 6.0" in metrics


def test_scrub_limit_checks_the_longest_unchecked_first(archiver, fake_twilio, sessions, console):
    archive_three(archiver, fake_twilio, sessions)
    first = console.test_cli_runner().invoke(args=["scrub", "--limit", "2"])
    assert "checked 2: 2 ok" in first.output, first.output
    checked = [sid for sid in SIDS if recording(sessions, sid).integrity_checked_at]
    assert len(checked) == 2
    second = console.test_cli_runner().invoke(args=["scrub", "--limit", "1"])
    assert "checked 1: 1 ok" in second.output
    (last,) = [sid for sid in SIDS if sid not in checked]
    assert recording(sessions, last).integrity is Integrity.OK


def test_the_local_folder_is_scrubbed_the_same(archive_settings, fake_twilio, sessions, tmp_path):
    settings = replace(archive_settings, s3_bucket=None, local_archive_dir=str(tmp_path / "a"))
    store = make_store(settings)
    archiver = Archiver(settings, sessions, store, "test-worker")
    removed, overwritten, untouched = archive_three(archiver, fake_twilio, sessions)
    Path(tmp_path / "a" / removed.key).unlink()
    Path(tmp_path / "a" / overwritten.key).write_bytes(b"x" * overwritten.size_bytes)
    summary = scrub(sessions, store, limit=None)
    assert summary.found[Integrity.MISSING] == 1
    assert summary.found[Integrity.MISMATCH] == 1
    assert summary.found[Integrity.OK] == 1
    assert recording(sessions, overwritten.recording_sid).integrity is Integrity.MISMATCH
    assert recording(sessions, untouched.recording_sid).integrity is Integrity.OK


def test_a_scheduled_scrub_checks_a_share_once_per_period_whichever_worker_looks(
    archiver, fake_twilio, sessions
):
    archive_three(archiver, fake_twilio, sessions)
    workers = [
        ScrubSchedule(sessions, archiver.store, 24, 50, owner=f"worker-{n}") for n in range(2)
    ]
    # A share is a thirtieth of the archive, at least one recording.
    assert workers[0].turn() is True
    assert workers[1].turn() is False  # the period is done: nothing for the other worker
    with sessions() as session:
        (item,) = session.execute(select(WorkItem).where(WorkItem.kind == "scrub")).scalars()
    assert item.status is WorkStatus.DONE
    assert "checked 1: 1 ok" in (item.result or "")
    assert sum(1 for sid in SIDS if recording(sessions, sid).integrity is Integrity.OK) == 1


def test_the_byte_rate_ceiling_paces_reads():
    ceiling = RateCeiling(4e6, threading.Event())
    started = time.monotonic()
    for _ in range(8):
        ceiling(1_000_000)  # 8 MB at 4 MB/s: about 2 s
    took = time.monotonic() - started
    assert took >= 1.7, took


def test_the_byte_rate_ceiling_stops_when_the_worker_stops():
    from app.archive.scrub import ScrubStopped

    stop = threading.Event()
    stop.set()
    with pytest.raises(ScrubStopped):
        RateCeiling(1e6, stop)(5_000_000)
