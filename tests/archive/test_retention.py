"""Object Lock and legal holds on a real SeaweedFS bucket created with Object Lock.

What SeaweedFS 4.48 enforces, as these tests show: a COMPLIANCE version cannot
be deleted; a GOVERNANCE version cannot be deleted either, with or without
``BypassGovernanceRetention`` (SeaweedFS refuses the bypass too, where AWS
lets a caller with ``s3:BypassGovernanceRetention`` through); a plain delete
only stacks a delete marker on top, the locked version stays.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import threading
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from flask import Flask

from app import create_app
from app.archive.pipeline import Archiver
from app.archive.retention import LegalHoldRefused, set_legal_hold
from app.config import Settings
from app.db import transaction
from app.recordings import queue
from app.storage import RetentionUnsupported, make_store
from app.worker import check_retention_at_start
from tests.admin.helpers import HTML, PASSWORD, USERNAME, csrf_token, log_in
from tests.archive.helpers import drain, queue_recording, recording
from tests.fakes.compat_api import Body
from tests.fakes.seaweed import SeaweedS3
from tests.helpers import recording_sid

_locked = itertools.count(1)
BODY = Body(size=9 * 1024 * 1024 + 17, seed=5)  # two parts, when uploaded in parts


@pytest.fixture
def bucket(seaweed: SeaweedS3) -> str:
    """This module's buckets have Object Lock (and so versioning)."""
    name = f"locked-{os.getpid()}-{next(_locked)}"
    seaweed.create_bucket(name, object_lock=True)
    return name


@pytest.fixture
def plain_bucket(seaweed: SeaweedS3) -> str:
    name = f"unlocked-{os.getpid()}-{next(_locked)}"
    seaweed.create_bucket(name)
    return name


@pytest.fixture
def lock_mode() -> str:
    return "COMPLIANCE"


@pytest.fixture
def single_put_max_mb() -> int:
    return 1024  # the default: BODY goes up in one PUT


@pytest.fixture
def archive_overrides(lock_mode: str, single_put_max_mb: int) -> dict[str, Any]:
    # Originals kept, so "archive again" has something to archive from.
    return {
        "s3_object_lock_mode": lock_mode,
        "s3_object_lock_days": 3,
        "delete_original": False,
        "s3_single_put_max_mb": single_put_max_mb,
    }


def archive_one(archiver, fake_twilio, sessions, n: int = 1):
    sid = recording_sid(n)
    fake_twilio.add_recording(sid, mono=BODY, dual=BODY)
    queue_recording(sessions, fake_twilio, sid, channels=1)
    drain(archiver, sessions)
    return recording(sessions, sid)


def versions(s3, bucket: str, key: str) -> list[dict[str, Any]]:
    answer = s3.list_object_versions(Bucket=bucket, Prefix=key)
    return [v for v in answer.get("Versions", []) if v["Key"] == key]


@pytest.mark.parametrize(
    ("single_put_max_mb", "etag_parts"), [(1024, ""), (0, "-2")], ids=["one PUT", "in parts"]
)
def test_each_recording_is_one_object_version_with_its_retention_in_it(
    archiver, fake_twilio, sessions, s3, bucket, etag_parts
):
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    row = archive_one(archiver, fake_twilio, sessions)
    assert row.key is not None and row.retain_until is not None
    assert len(versions(s3, bucket, row.key)) == 1
    head = s3.head_object(Bucket=bucket, Key=row.key)
    # The way up was the one asked for: "-2" after a multipart ETag, nothing after a PUT's.
    assert head["ETag"].strip('"')[32:] == etag_parts
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] == row.retain_until
    assert before + dt.timedelta(days=3) <= row.retain_until
    assert row.retain_until <= dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    # The one write carries our digest in its metadata, as the contract says.
    assert head["Metadata"]["sha256"] == row.sha256 == BODY.sha256()


def test_a_compliance_version_cannot_be_deleted(archiver, fake_twilio, sessions, s3, bucket):
    row = archive_one(archiver, fake_twilio, sessions)
    (version,) = versions(s3, bucket, row.key)
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=bucket, Key=row.key, VersionId=version["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert len(versions(s3, bucket, row.key)) == 1


@pytest.mark.parametrize("lock_mode", ["GOVERNANCE"])
def test_a_governance_version_cannot_be_deleted_even_with_the_bypass_on_seaweedfs(
    archiver, fake_twilio, sessions, s3, bucket
):
    row = archive_one(archiver, fake_twilio, sessions)
    (version,) = versions(s3, bucket, row.key)
    assert s3.head_object(Bucket=bucket, Key=row.key)["ObjectLockMode"] == "GOVERNANCE"
    for bypass in (False, True):
        with pytest.raises(ClientError) as refused:
            s3.delete_object(
                Bucket=bucket,
                Key=row.key,
                VersionId=version["VersionId"],
                BypassGovernanceRetention=bypass,
            )
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert len(versions(s3, bucket, row.key)) == 1


def test_a_delete_without_a_version_leaves_the_locked_version_and_archive_again_adds_one(
    archiver, fake_twilio, sessions, s3, bucket
):
    """What "archive again" meets under Object Lock: the key shows nothing (a delete
    marker), the locked version stays, and the new copy is a new version."""
    row = archive_one(archiver, fake_twilio, sessions)
    s3.delete_object(Bucket=bucket, Key=row.key)
    store = make_store(archiver.settings)
    assert not store.exists(row.key)
    assert len(versions(s3, bucket, row.key)) == 1
    with transaction(sessions) as session:
        assert queue.archive_again(session, row.id)
    drain(archiver, sessions)
    assert store.exists(row.key)
    assert len(versions(s3, bucket, row.key)) == 2


def test_a_legal_hold_is_set_on_the_object_and_lifted(archiver, fake_twilio, sessions, s3, bucket):
    row = archive_one(archiver, fake_twilio, sessions)
    store = make_store(archiver.settings)
    with transaction(sessions) as session:
        set_legal_hold(session, store, row.recording_sid, True, actor="test")
    assert s3.get_object_legal_hold(Bucket=bucket, Key=row.key)["LegalHold"]["Status"] == "ON"
    assert recording(sessions, row.recording_sid).legal_hold is True
    with transaction(sessions) as session:
        set_legal_hold(session, store, row.recording_sid, False, actor="test")
    assert s3.get_object_legal_hold(Bucket=bucket, Key=row.key)["LegalHold"]["Status"] == "OFF"
    held = recording(sessions, row.recording_sid)
    assert held.legal_hold is False and held.legal_hold_changed_at is not None


def test_a_legal_hold_on_a_bucket_without_object_lock_is_refused_saying_why(
    archive_settings, fake_twilio, sessions, plain_bucket
):
    settings = replace(
        archive_settings, s3_bucket=plain_bucket, s3_object_lock_mode=None, s3_object_lock_days=None
    )
    archiver = Archiver(settings, sessions, make_store(settings), "test-worker")
    row = archive_one(archiver, fake_twilio, sessions)
    assert row.retain_until is None
    with transaction(sessions) as session, pytest.raises(LegalHoldRefused) as refused:
        set_legal_hold(session, make_store(settings), row.recording_sid, True, actor="test")
    assert "has no Object Lock" in refused.value.reason
    assert recording(sessions, row.recording_sid).legal_hold is False


def test_a_legal_hold_on_an_unknown_recording_is_not_found(archiver, sessions):
    with transaction(sessions) as session, pytest.raises(LegalHoldRefused) as refused:
        set_legal_hold(session, archiver.store, recording_sid(99), True, actor="test")
    assert refused.value.not_found


def test_the_worker_refuses_to_start_on_a_bucket_without_object_lock(
    archive_settings, plain_bucket
):
    settings = replace(archive_settings, s3_bucket=plain_bucket)
    with pytest.raises(RetentionUnsupported, match=f"bucket {plain_bucket} has no Object Lock"):
        check_retention_at_start(make_store(settings), threading.Event())


def test_the_worker_starts_on_a_bucket_with_object_lock(archive_settings):
    check_retention_at_start(make_store(archive_settings), threading.Event())


def make_console(settings: Settings) -> Flask:
    settings = replace(settings, admin_username=USERNAME, admin_password=PASSWORD)
    app = create_app({"settings": settings})
    app.config.update(TESTING=True)
    return app


@pytest.fixture
def console(archive_settings: Settings) -> Flask:
    return make_console(archive_settings)


def test_the_console_button_sets_and_lifts_the_hold(
    archiver, fake_twilio, sessions, s3, bucket, console
):
    row = archive_one(archiver, fake_twilio, sessions)
    client = console.test_client()
    log_in(client)
    page = f"/admin/recordings/{row.id}"
    assert "Set legal hold" in client.get(page, headers=HTML).get_data(as_text=True)
    token = csrf_token(client, page)
    answer = client.post(f"{page}/legal-hold", data={"csrf_token": token, "hold": "on"})
    assert answer.status_code == 302
    assert s3.get_object_legal_hold(Bucket=bucket, Key=row.key)["LegalHold"]["Status"] == "ON"
    shown = client.get(page, headers=HTML).get_data(as_text=True)
    assert "Lift legal hold" in shown
    assert "Retained until" in shown and f"{row.retain_until:%Y-%m-%d}" in shown
    listed = client.get("/admin/?hold=on", headers=HTML).get_data(as_text=True)
    assert row.recording_sid in listed
    answer = client.post(f"{page}/legal-hold", data={"csrf_token": token, "hold": "off"})
    assert answer.status_code == 302
    assert s3.get_object_legal_hold(Bucket=bucket, Key=row.key)["LegalHold"]["Status"] == "OFF"
    assert row.recording_sid not in client.get("/admin/?hold=on", headers=HTML).get_data(
        as_text=True
    )


def test_the_console_answers_409_with_the_reason_on_a_bucket_without_object_lock(
    archive_settings, fake_twilio, sessions, plain_bucket
):
    settings = replace(
        archive_settings, s3_bucket=plain_bucket, s3_object_lock_mode=None, s3_object_lock_days=None
    )
    row = archive_one(
        Archiver(settings, sessions, make_store(settings), "w"), fake_twilio, sessions
    )
    client = make_console(settings).test_client()
    log_in(client)
    page = f"/admin/recordings/{row.id}"
    token = csrf_token(client, page)
    answer = client.post(
        f"{page}/legal-hold", data={"csrf_token": token, "hold": "on"}, headers=HTML
    )
    assert answer.status_code == 409
    assert "has no Object Lock" in answer.get_data(as_text=True)
    assert recording(sessions, row.recording_sid).legal_hold is False


def test_the_legal_hold_command_sets_and_lifts_it(
    archiver, fake_twilio, sessions, s3, bucket, console
):
    row = archive_one(archiver, fake_twilio, sessions)
    runner = console.test_cli_runner()
    result = runner.invoke(args=["legal-hold", row.recording_sid, "--on"])
    assert result.exit_code == 0, result.output
    assert f"legal hold set on {row.recording_sid}" in result.output
    assert s3.get_object_legal_hold(Bucket=bucket, Key=row.key)["LegalHold"]["Status"] == "ON"
    result = runner.invoke(args=["legal-hold", row.recording_sid, "--off"])
    assert result.exit_code == 0, result.output
    assert recording(sessions, row.recording_sid).legal_hold is False
    missing = runner.invoke(args=["legal-hold", recording_sid(98), "--on"])
    assert missing.exit_code == 1
    assert f"no recording {recording_sid(98)}" in missing.output
