"""The pipeline against a real SeaweedFS and a fake Twilio that is a real HTTP server."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import select, text, update
from sqlalchemy.exc import OperationalError

from app.archive.errors import DATABASE, dependency_down
from app.archive.pipeline import Archiver
from app.db import make_engine, make_session_factory, transaction
from app.recordings import queue
from app.recordings.models import ArchiveAttempt, ArchiveState, Recording
from app.storage import make_store
from tests.archive.helpers import (
    body_bytes,
    drain,
    queue_recording,
    read_object,
    recording,
    wait_for,
)
from tests.fakes.compat_api import Body, FakeTwilioApi
from tests.helpers import ACCOUNT_SID, CALL_SID, recording_sid

MONO = Body(size=150_000, seed=1)
DUAL = Body(size=300_000, seed=2)


def expected_key(sid: str, ext: str = "mp3") -> str:
    return f"calls/twilio/{ACCOUNT_SID}/2026/11/16/{sid}.{ext}"


def assert_archived_once(
    fake: FakeTwilioApi, s3: Any, bucket: str, sessions, sid: str, body: Body | bytes, channels: int
) -> None:
    """The bytes in S3 are the provider's, described right, and the original went once."""
    data = body_bytes(body)
    key = expected_key(sid)
    assert read_object(s3, bucket, key) == data
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentType"] == "audio/mpeg"
    assert head["Metadata"]["recording-sid"] == sid
    assert head["Metadata"]["call-sid"] == CALL_SID
    assert head["Metadata"]["account-sid"] == ACCOUNT_SID
    assert head["Metadata"]["channels"] == str(channels)
    assert head["Metadata"]["duration"] == "42"
    assert head["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert len(fake.deletes(sid)) == 1
    assert fake.is_deleted(sid)
    row = recording(sessions, sid)
    assert row.archive_state is ArchiveState.DONE
    assert row.key == key and row.bucket == bucket
    assert row.size_bytes == len(data)
    assert row.sha256 == hashlib.sha256(data).hexdigest()
    assert row.archived_channels == channels
    assert row.archived_at is not None and row.original_deleted_at is not None
    assert row.archived_at <= row.original_deleted_at
    assert row.lease_holder is None


@pytest.fixture
def delete_guard(fake_twilio: FakeTwilioApi, s3, bucket):
    """At the moment each DELETE arrives, the archive must already hold the full object."""
    seen: list[tuple[str, bool]] = []

    def check(request) -> None:
        if request.method == "DELETE" and request.recording_sid:
            key = expected_key(request.recording_sid)
            try:
                head = s3.head_object(Bucket=bucket, Key=key)
                ok = "sha256" in head["Metadata"]
            except s3.exceptions.ClientError:
                ok = False
            seen.append((request.recording_sid, ok))

    fake_twilio.on_request = check
    return seen


def test_a_dual_channel_recording_is_archived_then_deleted(
    archiver, fake_twilio, s3, bucket, sessions, delete_guard
):
    sid = recording_sid(1)
    fake_twilio.add_recording(sid, mono=MONO, dual=DUAL)
    queue_recording(sessions, fake_twilio, sid, channels=2)
    drain(archiver, sessions)
    assert_archived_once(fake_twilio, s3, bucket, sessions, sid, DUAL, channels=2)
    gets = fake_twilio.media_gets(sid)
    assert [g.query.get("RequestedChannels") for g in gets] == ["2"]
    assert gets[0].path.endswith(f"{sid}.mp3")
    assert delete_guard == [(sid, True)]


def test_a_mono_only_recording_falls_back_to_one_channel_after_a_400(
    archiver, fake_twilio, s3, bucket, sessions, delete_guard
):
    sid = recording_sid(2)
    fake_twilio.add_recording(sid, mono=MONO, dual_unsupported=True)
    queue_recording(sessions, fake_twilio, sid, channels=2)
    drain(archiver, sessions)
    assert_archived_once(fake_twilio, s3, bucket, sessions, sid, MONO, channels=1)
    asked = [(g.query.get("RequestedChannels"), g.status) for g in fake_twilio.media_gets(sid)]
    assert asked == [("2", 400), ("1", 200)]
    assert delete_guard == [(sid, True)]


def test_a_one_channel_recording_is_asked_for_as_it_is(archiver, fake_twilio, s3, bucket, sessions):
    sid = recording_sid(3)
    fake_twilio.add_recording(sid, mono=MONO, dual=DUAL)
    queue_recording(sessions, fake_twilio, sid, channels=1)
    drain(archiver, sessions)
    assert_archived_once(fake_twilio, s3, bucket, sessions, sid, MONO, channels=1)
    assert [g.query for g in fake_twilio.media_gets(sid)] == [{}]


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"not_ready": 3}, id="404-not-ready-yet"),
        pytest.param({"fail_statuses": [429], "retry_after": "0"}, id="429-retry-after"),
        pytest.param({"fail_statuses": [500, 503]}, id="5xx"),
        pytest.param({"stall_after": 50_000, "stall_seconds": 30}, id="stall-mid-body"),
        pytest.param({"break_after": 70_000}, id="connection-broken-mid-body"),
    ],
)
def test_it_retries_provider_faults_and_archives_exactly_once(
    archiver, fake_twilio, s3, bucket, sessions, delete_guard, fault
):
    sid = recording_sid(4)
    fake_twilio.add_recording(sid, mono=MONO, dual=DUAL, **fault)
    queue_recording(sessions, fake_twilio, sid, channels=2)
    drain(archiver, sessions)
    assert_archived_once(fake_twilio, s3, bucket, sessions, sid, DUAL, channels=2)
    row = recording(sessions, sid)
    assert row.attempts >= 2
    assert delete_guard == [(sid, True)]


def test_a_refused_token_fails_at_once_with_a_clear_error(
    archive_settings, sessions, fake_twilio, s3, bucket
):
    settings = archive_settings.with_overrides({"twilio_auth_token": "wrong-token"})
    archiver = Archiver(settings, sessions, make_store(settings), "w")
    sid = recording_sid(5)
    fake_twilio.add_recording(sid, mono=MONO, dual=DUAL)
    queue_recording(sessions, fake_twilio, sid)
    drain(archiver, sessions)
    row = recording(sessions, sid)
    assert row.archive_state is ArchiveState.FAILED
    assert row.attempts == 1
    assert "credentials" in row.last_error
    assert "wrong-token" not in row.last_error
    assert fake_twilio.deletes(sid) == []
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_a_recording_url_off_the_api_origin_gets_no_request(
    archiver, fake_twilio, sessions, s3, bucket
):
    with FakeTwilioApi(ACCOUNT_SID, "x") as elsewhere:
        sid = recording_sid(6)
        elsewhere.add_recording(sid, mono=MONO)
        queue_recording(sessions, elsewhere, sid)  # RecordingUrl points at the other server
        drain(archiver, sessions)
        assert elsewhere.requests == []
    row = recording(sessions, sid)
    assert row.archive_state is ArchiveState.FAILED
    assert "RecordingUrl refused" in row.last_error
    assert fake_twilio.requests == []


def test_the_last_try_ends_in_failed_and_retry_failed_brings_it_back(
    archive_settings, sessions, fake_twilio, s3, bucket
):
    settings = archive_settings.with_overrides({"archive_max_attempts": 3})
    archiver = Archiver(settings, sessions, make_store(settings), "w")
    sid = recording_sid(7)
    fake_twilio.add_recording(sid, mono=MONO, dual=DUAL, fail_statuses=[500, 502, 503])
    queue_recording(sessions, fake_twilio, sid)
    drain(archiver, sessions)
    row = recording(sessions, sid)
    assert row.archive_state is ArchiveState.FAILED
    assert row.attempts == 3
    assert "HTTP 503" in row.last_error
    assert fake_twilio.deletes(sid) == []
    assert not fake_twilio.is_deleted(sid)

    with transaction(sessions) as session:
        assert queue.requeue_failed(session) == 1
    drain(archiver, sessions)
    assert_archived_once(fake_twilio, s3, bucket, sessions, sid, DUAL, channels=2)


def test_a_failed_delete_resumes_at_the_delete_without_downloading_again(
    archiver, fake_twilio, s3, bucket, sessions, delete_guard
):
    sid = recording_sid(8)
    fake_twilio.add_recording(sid, mono=MONO, dual=DUAL, delete_statuses=[500])
    queue_recording(sessions, fake_twilio, sid)
    drain(archiver, sessions)
    assert_archived_once(fake_twilio, s3, bucket, sessions, sid, DUAL, channels=2)
    assert len(fake_twilio.media_gets(sid)) == 1
    assert recording(sessions, sid).attempts == 2


class TestKeepingTheOriginal:
    @pytest.fixture
    def archive_overrides(self):
        return {"delete_original": False}

    def test_the_original_is_left_alone(self, archiver, fake_twilio, s3, bucket, sessions):
        sid = recording_sid(9)
        fake_twilio.add_recording(sid, mono=MONO, dual=DUAL)
        queue_recording(sessions, fake_twilio, sid)
        drain(archiver, sessions)
        assert read_object(s3, bucket, expected_key(sid)) == DUAL.read_all()
        assert [r for r in fake_twilio.requests if r.method == "DELETE"] == []
        row = recording(sessions, sid)
        assert row.archive_state is ArchiveState.DONE
        assert row.original_deleted_at is None


class TestWav:
    @pytest.fixture
    def archive_overrides(self):
        return {"recording_format": "wav"}

    def test_wav_is_asked_for_and_stored_as_wav(self, archiver, fake_twilio, s3, bucket, sessions):
        sid = recording_sid(10)
        fake_twilio.add_recording(sid, mono=MONO, dual=DUAL)
        queue_recording(sessions, fake_twilio, sid)
        drain(archiver, sessions)
        key = expected_key(sid, "wav")
        assert read_object(s3, bucket, key) == DUAL.read_all()
        assert s3.head_object(Bucket=bucket, Key=key)["ContentType"] == "audio/x-wav"
        assert fake_twilio.media_gets(sid)[0].path.endswith(".wav")


def test_a_multipart_sized_recording_arrives_whole(archiver, fake_twilio, s3, bucket, sessions):
    big = Body(size=21 * 1024 * 1024 + 123, seed=3)
    sid = recording_sid(11)
    fake_twilio.add_recording(sid, mono=MONO, dual=big)
    queue_recording(sessions, fake_twilio, sid)
    drain(archiver, sessions)
    stored = s3.get_object(Bucket=bucket, Key=expected_key(sid))["Body"]
    digest = hashlib.sha256()
    for chunk in iter(lambda: stored.read(1 << 20), b""):
        digest.update(chunk)
    assert digest.hexdigest() == big.sha256()
    assert recording(sessions, sid).archive_state is ArchiveState.DONE
    assert len(fake_twilio.deletes(sid)) == 1


class TestLocalFolder:
    """The embedded default: no bucket, the same pipeline into a folder."""

    @pytest.fixture
    def archive_overrides(self, tmp_path):
        return {"s3_bucket": None, "local_archive_dir": str(tmp_path / "archive")}

    def test_it_writes_the_file_and_its_metadata(
        self, archiver, archive_settings, fake_twilio, sessions
    ):
        sid = recording_sid(12)
        fake_twilio.add_recording(sid, mono=MONO, dual=DUAL)
        queue_recording(sessions, fake_twilio, sid)
        drain(archiver, sessions)
        path = Path(archive_settings.local_archive_dir) / expected_key(sid)
        assert path.read_bytes() == DUAL.read_all()
        meta = path.with_name(path.name + ".meta.json").read_text()
        assert hashlib.sha256(DUAL.read_all()).hexdigest() in meta
        assert not list(path.parent.glob("*.partial"))
        assert len(fake_twilio.deletes(sid)) == 1
        assert recording(sessions, sid).bucket == archive_settings.local_archive_dir


def store_takes_a_write(s3, bucket) -> bool:
    try:
        s3.put_object(Bucket=bucket, Key="readiness-probe", Body=b"x")
        s3.delete_object(Bucket=bucket, Key="readiness-probe")
    except (BotoCoreError, ClientError):
        return False
    return True


class TestTheStoreGoingAwayMidUpload:
    @pytest.fixture
    def archive_overrides(self):
        # In parts (no single PUT): the test sees the parts arrive, so it kills the
        # store mid-upload, not before or after it.
        return {
            "archive_max_attempts": 20,
            "archive_retry_max_seconds": 1.0,
            "s3_single_put_max_mb": 0,
        }

    def test_it_retries_until_the_store_is_back_and_deletes_only_then(
        self, archiver, fake_twilio, seaweed, s3, bucket, sessions, delete_guard
    ):
        sid = recording_sid(13)
        big = Body(size=40 * 1024 * 1024, seed=13)
        # The pause holds the download mid-way, with parts already sent to S3; then
        # the rest comes, and the store is gone.
        fake_twilio.add_recording(
            sid, mono=MONO, dual=big, pause_after=20 * 1024 * 1024, stall_seconds=1.5
        )
        queue_recording(sessions, fake_twilio, sid)

        def parts_uploaded() -> bool:
            uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
            return any(
                s3.list_parts(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"]).get("Parts")
                for u in uploads
            )

        first_try = threading.Thread(target=archiver.run_once)
        first_try.start()
        try:
            wait_for(parts_uploaded, 30, "a multipart upload under way")
            seaweed.kill()
            # The worker gives the recording back at once, with no try spent on our
            # own store's outage, and waits (claiming nothing) until it answers.
            wait_for(
                lambda: recording(sessions, sid).archive_state is ArchiveState.QUEUED,
                30,
                "the recording given back",
            )
            row = recording(sessions, sid)
            assert row.attempts == 0, row.last_error
            assert row.archived_at is None
            assert fake_twilio.deletes(sid) == []
            assert not fake_twilio.is_deleted(sid)
            assert first_try.is_alive()  # still waiting for the store
        finally:
            seaweed.restart()
            first_try.join(60)
        assert not first_try.is_alive()
        # Ready (it lists buckets) is not yet taking writes at full speed: on a loaded
        # machine the first uploads after a restart can time out, and each would be a
        # try. The worker's own first try above already proved the wait; the count
        # below is about the retry, so wait until a small write goes through.
        wait_for(lambda: store_takes_a_write(s3, bucket), 30, "the store taking writes again")
        drain(archiver, sessions)
        stored = s3.get_object(Bucket=bucket, Key=expected_key(sid))["Body"]
        digest = hashlib.sha256()
        for chunk in iter(lambda: stored.read(1 << 20), b""):
            digest.update(chunk)
        assert digest.hexdigest() == big.sha256()
        assert len(fake_twilio.deletes(sid)) == 1
        assert delete_guard == [(sid, True)]
        row = recording(sessions, sid)
        assert row.archive_state is ArchiveState.DONE
        assert row.attempts == 1  # the one that archived it


def test_a_404_to_the_delete_means_already_gone(archiver, fake_twilio, s3, bucket, sessions):
    sid = recording_sid(14)
    fake_twilio.add_recording(sid, mono=MONO, dual=DUAL, delete_statuses=[404])
    queue_recording(sessions, fake_twilio, sid)
    drain(archiver, sessions)
    row = recording(sessions, sid)
    assert row.archive_state is ArchiveState.DONE
    assert row.original_deleted_at is not None
    assert read_object(s3, bucket, expected_key(sid)) == DUAL.read_all()
    assert row.attempts == 1


class Killed(BaseException):
    """The worker killed mid-try: nothing after it runs, nothing is settled."""


def test_a_worker_killed_between_the_delete_and_the_done_mark_loses_nothing(
    archiver, archive_settings, fake_twilio, s3, bucket, sessions, delete_guard, monkeypatch
):
    # The delete is recorded with the done mark, in one commit: killed in between,
    # the recording must stay archived (its confirmation committed before the
    # DELETE was sent), and the next claim must delete again, take the
    # provider's 404 as already gone, and mark it done without a new download.
    sid = recording_sid(18)
    fake_twilio.add_recording(sid, mono=MONO, dual=DUAL)
    queue_recording(sessions, fake_twilio, sid)
    committed_before_delete: list[bool] = []
    guard = fake_twilio.on_request

    def check(request) -> None:  # type: ignore[no-untyped-def]
        guard(request)
        if request.method == "DELETE" and request.recording_sid == sid:
            row = recording(sessions, sid)  # what another session sees: the committed state
            committed_before_delete.append(row.archived_at is not None and row.sha256 is not None)

    fake_twilio.on_request = check

    def killed(*args: Any, **kwargs: Any) -> bool:
        raise Killed

    with monkeypatch.context() as patched:
        patched.setattr(queue, "mark_done", killed)
        with pytest.raises(Killed):
            archiver.run_once()
    row = recording(sessions, sid)
    assert fake_twilio.is_deleted(sid)
    assert row.archive_state is ArchiveState.RUNNING and row.archived_at is not None
    assert row.original_deleted_at is None  # nothing after the DELETE was committed

    # Its lease runs out; another worker takes it over.
    with transaction(sessions) as session:
        session.execute(
            update(Recording)
            .where(Recording.id == row.id)
            .values(next_attempt_at=row.next_attempt_at - dt.timedelta(hours=1))
        )
    successor = Archiver(archive_settings, sessions, make_store(archive_settings), "successor")
    drain(successor, sessions)

    row = recording(sessions, sid)
    assert row.archive_state is ArchiveState.DONE, row.last_error
    assert row.original_deleted_at is not None and row.archived_at <= row.original_deleted_at
    assert row.attempts == 2
    assert read_object(s3, bucket, expected_key(sid)) == DUAL.read_all()
    assert len(fake_twilio.media_gets(sid)) == 1  # not downloaded again
    deletes = [r.status for r in fake_twilio.requests if r.method == "DELETE"]
    assert deletes == [204, 404]  # the second found it gone: still done
    assert committed_before_delete == [True, True]
    assert delete_guard == [(sid, True), (sid, True)]
    with sessions() as session:
        outcomes = session.execute(
            select(ArchiveAttempt.outcome, ArchiveAttempt.worker_id)
            .where(ArchiveAttempt.recording_id == row.id)
            .order_by(ArchiveAttempt.id)
        ).all()
    assert [tuple(o) for o in outcomes] == [("abandoned", "test-worker"), ("done", "successor")]


def test_a_done_mark_refused_after_the_delete_still_records_the_delete(
    archiver, fake_twilio, sessions, monkeypatch
):
    # Whatever ends the try writes the delete it made: a retry after it never
    # sends a second DELETE.
    sid = recording_sid(19)
    fake_twilio.add_recording(sid, mono=MONO, dual=DUAL)
    queue_recording(sessions, fake_twilio, sid)
    real = queue.mark_done

    def refused_once(*args: Any, **kwargs: Any) -> bool:
        monkeypatch.setattr(queue, "mark_done", real)
        raise RuntimeError("the done mark failed")

    monkeypatch.setattr(queue, "mark_done", refused_once)
    assert archiver.run_once()
    row = recording(sessions, sid)
    assert row.archive_state is ArchiveState.QUEUED and row.original_deleted_at is not None
    drain(archiver, sessions)
    row = recording(sessions, sid)
    assert row.archive_state is ArchiveState.DONE and row.attempts == 2
    assert [r.status for r in fake_twilio.requests if r.method == "DELETE"] == [204]


def test_retry_after_from_a_429_sets_the_next_attempt(archiver, fake_twilio, sessions):
    sid = recording_sid(15)
    fake_twilio.add_recording(sid, mono=MONO, dual=DUAL, fail_statuses=[429], retry_after="120")
    queue_recording(sessions, fake_twilio, sid)
    assert archiver.run_once()
    row = recording(sessions, sid)
    assert row.archive_state is ArchiveState.QUEUED
    assert "429" in row.last_error
    # ARCHIVE_RETRY_MAX_SECONDS (0.5 s here) caps even the provider's wish.
    waited = (row.next_attempt_at - row.updated_at).total_seconds()
    assert 0.45 <= waited <= 0.55


class TestServerSideEncryption:
    """SeaweedFS cannot encrypt without a KMS, so asking for SSE must fail the
    upload (proving the header is sent) and leave the original alone."""

    @pytest.fixture
    def archive_overrides(self):
        return {"s3_sse": "AES256", "archive_max_attempts": 2}

    def test_an_upload_the_store_refuses_never_deletes_the_original(
        self, archiver, fake_twilio, sessions
    ):
        sid = recording_sid(16)
        fake_twilio.add_recording(sid, mono=MONO, dual=DUAL)
        queue_recording(sessions, fake_twilio, sid)
        drain(archiver, sessions)
        row = recording(sessions, sid)
        assert row.archive_state is ArchiveState.FAILED
        assert "upload" in row.last_error
        assert fake_twilio.deletes(sid) == []
        assert row.archived_at is None


def test_an_archive_that_vanished_before_the_delete_is_made_again_first(
    archiver, fake_twilio, s3, bucket, sessions, delete_guard
):
    sid = recording_sid(17)
    fake_twilio.add_recording(sid, mono=MONO, dual=DUAL, delete_statuses=[500])
    queue_recording(sessions, fake_twilio, sid)
    assert archiver.run_once()  # archived, but the delete failed
    assert recording(sessions, sid).archived_at is not None
    s3.delete_object(Bucket=bucket, Key=expected_key(sid))
    drain(archiver, sessions)
    assert_archived_once(fake_twilio, s3, bucket, sessions, sid, DUAL, channels=2)
    assert len(fake_twilio.media_gets(sid)) == 2
    # Both DELETEs (the refused one and the one after re-archiving) found the archive whole.
    assert delete_guard == [(sid, True), (sid, True)]


def test_every_try_is_kept_with_its_outcome_bytes_and_error(archiver, fake_twilio, sessions):
    sid = recording_sid(40)
    fake_twilio.add_recording(sid, mono=MONO, dual=DUAL, break_after=100_000, faults_times=1)
    queue_recording(sessions, fake_twilio, sid, channels=2)
    drain(archiver, sessions)
    row = recording(sessions, sid)
    with sessions() as session:
        tries = (
            session.execute(
                select(ArchiveAttempt)
                .where(ArchiveAttempt.recording_id == row.id)
                .order_by(ArchiveAttempt.id)
            )
            .scalars()
            .all()
        )
    assert [(t.number, t.outcome) for t in tries] == [(1, "retry"), (2, "done")]
    assert "download broke" in tries[0].error
    assert tries[0].bytes_moved and tries[0].bytes_moved < DUAL.size
    assert tries[1].bytes_moved == DUAL.size and tries[1].error is None
    assert all(t.worker_id == "test-worker" and t.ended_at >= t.started_at for t in tries)


# -- a bad key template; the database refusing a statement while it answers


def test_a_key_template_that_cannot_be_filled_fails_before_any_download(
    archive_settings, sessions, fake_twilio
):
    """Settings are checked at start-up; this one gets past only through an override.
    The key is built before the download is opened, so no try leaves one open."""
    settings = archive_settings.with_overrides({"s3_key_template": "{recording_sid}.{extension}"})
    archiver = Archiver(settings, sessions, make_store(settings), "test-worker")
    sid = recording_sid(41)
    fake_twilio.add_recording(sid, mono=MONO, dual=DUAL)
    queue_recording(sessions, fake_twilio, sid)
    assert archiver.run_once()
    assert fake_twilio.media_gets(sid) == []
    assert recording(sessions, sid).attempts == 1


def database_error(sessions, statement: str) -> OperationalError:
    """A real OperationalError from the live database, which goes on answering."""
    with pytest.raises(OperationalError) as raised, transaction(sessions) as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET LOCAL statement_timeout = 1"))
        session.execute(text(statement))
    return raised.value


def test_a_statement_the_answering_database_refuses_is_the_recordings_try(
    archiver, sessions, is_postgres, tmp_path
):
    # PostgreSQL cancels a statement past its time-out; SQLite refuses a missing table.
    statement = "SELECT pg_sleep(1)" if is_postgres else "SELECT * FROM no_such_table"
    refused = database_error(sessions, statement)
    assert dependency_down(refused) == DATABASE
    error = archiver.database_refused(refused)
    assert error is not None and error.retryable
    expected = "QueryCanceled (canceling statement" if is_postgres else "no such table"
    assert expected in error.message
    assert "SELECT" not in error.message  # the driver's reason, not the statement

    # The same error, with the database really away: no try is the recording's.
    away_url = (
        "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=1"
        if is_postgres
        else f"sqlite:///{tmp_path}"  # a folder: the file cannot be opened
    )
    away_engine = make_engine(away_url)
    try:
        away = Archiver(
            archiver.settings, make_session_factory(away_engine), archiver.store, "away"
        )
        assert away.database_refused(refused) is None
    finally:
        away_engine.dispose()


def test_a_recording_whose_row_stays_locked_spends_a_try_instead_of_cycling(
    archive_settings, database_url, live_engine, sessions, fake_twilio, is_postgres, caplog
):
    """A lock held by another session makes the worker's statement hit its lock
    time-out while the database answers: an ordinary failure, a try spent."""
    if not is_postgres:
        pytest.skip(
            "SQLite's probe needs the write lock too: a held lock is the whole database away"
        )
    engine = make_engine(database_url, connect_args={"options": "-c lock_timeout=200"})
    archiver = Archiver(
        archive_settings, make_session_factory(engine), make_store(archive_settings), "locked"
    )
    sid = recording_sid(42)
    fake_twilio.add_recording(sid, mono=MONO, dual=DUAL)
    queue_recording(sessions, fake_twilio, sid)
    claim = archiver.claim()
    assert claim is not None
    caplog.set_level(logging.WARNING, logger="app.archive.pipeline")

    def classified() -> bool:
        return any(f"attempt 1/5 for {sid} failed" in r.getMessage() for r in caplog.records)

    worker = threading.Thread(target=archiver.archive_recording, args=(claim,))
    try:
        with live_engine.connect() as holder:
            holder.execute(
                text("SELECT id FROM recordings WHERE id = :id FOR UPDATE"), {"id": claim.id}
            )
            worker.start()
            # Its writes are retried for about 15 s first, as for a restart.
            wait_for(classified, 40, "the failure classified as the recording's")
            holder.rollback()
        worker.join(30)
        assert not worker.is_alive()
    finally:
        engine.dispose()
    row = recording(sessions, sid)
    assert row.archive_state is ArchiveState.QUEUED
    assert row.attempts == 1
    assert "LockNotAvailable (canceling statement due to lock timeout)" in row.last_error
