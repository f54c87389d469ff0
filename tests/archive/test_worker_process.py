"""The ``worker`` process as the Procfile runs it: end to end, killed, restarted, in numbers."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app.recordings.models import ArchiveState, Recording
from tests.archive.helpers import queue_recording, read_object, recording, wait_for
from tests.fakes.compat_api import Body
from tests.helpers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SIGNALWIRE_PROJECT,
    SIGNALWIRE_SIGNING_KEY,
    SIGNALWIRE_TOKEN,
    TELNYX_API_KEY,
    WEBHOOK_PATH,
    TelnyxSigner,
    hmac_sha1_signature,
    recording_params,
    recording_sid,
    sign,
    signalwire_params,
    telnyx_params,
    uuid_n,
)
from tests.procfile import Process, free_port, process_env, run_release, wait_until_serving


@pytest.fixture
def worker_env(database_url, seaweed, bucket, fake_twilio) -> dict[str, str]:
    return process_env(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "worker-test-secret",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_API_BASE_URL": fake_twilio.base_url,
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": seaweed.endpoint_url,
            "S3_PREFIX": "calls/",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "ARCHIVE_RETRY_BASE_SECONDS": "0.05",
            "ARCHIVE_RETRY_MAX_SECONDS": "0.5",
            "ARCHIVE_LEASE_SECONDS": "30",
            "WORKER_POLL_SECONDS": "0.1",
            "HTTP_READ_TIMEOUT": "5",
        }
    )


class Workers:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.started: list[Process] = []

    def start(self, **extra: str) -> Process:
        n = len(self.started)
        process = Process("worker", {**self.env, **extra}, self.logs / f"worker-{n}.log")
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.popen.poll() is None:
                process.stop()


@pytest.fixture
def workers(worker_env, tmp_path, live_engine) -> Iterator[Workers]:
    assert run_release(worker_env).returncode == 0
    pool = Workers(worker_env, tmp_path)
    yield pool
    pool.stop_all()
    for process in pool.started:
        assert AUTH_TOKEN not in process.log(), "the auth token reached the worker's log"


def all_in_state(sessions, state: ArchiveState, count: int) -> bool:
    with sessions() as session:
        states = session.execute(select(Recording.archive_state)).scalars().all()
    return len(states) == count and all(s is state for s in states)


def assert_each_archived_once(fake, s3, bucket, sessions, bodies: dict[str, Body]) -> None:
    with sessions() as session:
        rows = {r.recording_sid: r for r in session.execute(select(Recording)).scalars()}
    assert set(rows) == set(bodies)
    for sid, body in bodies.items():
        row = rows[sid]
        assert row.archive_state is ArchiveState.DONE, (sid, row.last_error)
        head = s3.head_object(Bucket=bucket, Key=row.key)
        assert head["ContentLength"] == body.size
        assert head["Metadata"]["sha256"] == body.sha256() == row.sha256
        assert len(fake.deletes(sid)) == 1, sid
        served = [g for g in fake.media_gets(sid) if g.status == 200]
        assert served, sid


def test_release_web_and_worker_archive_a_signed_callback(
    worker_env, workers, fake_twilio, s3, bucket, sessions, tmp_path
):
    sid = recording_sid(1)
    body = Body(size=400_000, seed=11)
    fake_twilio.add_recording(sid, mono=body, dual=Body(size=800_000, seed=12))
    port = free_port()
    web = Process("web", {**worker_env, "PORT": str(port)}, tmp_path / "web.log")
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", web)
        workers.start()
        params = recording_params(
            "completed", sid=sid, RecordingUrl=fake_twilio.recording_url(sid), RecordingChannels="1"
        )
        url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
        response = requests.post(
            url, data=params, headers={"X-Twilio-Signature": sign(url, params)}, timeout=10
        )
        assert response.status_code == 204
        wait_for(lambda: all_in_state(sessions, ArchiveState.DONE, 1), 60, "the archive")
    finally:
        web.stop()
    row = recording(sessions, sid)
    assert read_object(s3, bucket, row.key) == body.read_all()
    assert row.original_deleted_at is not None
    assert len(fake_twilio.deletes(sid)) == 1


def test_a_worker_killed_mid_download_is_taken_over_after_its_lease(
    workers, fake_twilio, s3, bucket, sessions
):
    sid = recording_sid(2)
    body = Body(size=3_000_000, seed=21)
    fake_twilio.add_recording(
        sid, mono=body, stall_after=1_000_000, stall_seconds=60, faults_times=1
    )
    downloading = threading.Event()
    fake_twilio.on_request = lambda r: downloading.set() if r.method == "GET" else None
    queue_recording(sessions, fake_twilio, sid, channels=1)

    first = workers.start(ARCHIVE_LEASE_SECONDS="5", HTTP_READ_TIMEOUT="60")
    assert downloading.wait(30), first.log()
    first.signal(signal.SIGKILL)
    first.popen.wait(10)
    assert recording(sessions, sid).archive_state is ArchiveState.RUNNING

    workers.start(ARCHIVE_LEASE_SECONDS="5")
    wait_for(lambda: all_in_state(sessions, ArchiveState.DONE, 1), 60, "the takeover")
    assert_each_archived_once(fake_twilio, s3, bucket, sessions, {sid: body})
    row = recording(sessions, sid)
    assert row.attempts == 2
    assert len(fake_twilio.media_gets(sid)) == 2


def test_sigterm_gives_the_recording_back_and_exits_cleanly(workers, fake_twilio, sessions):
    sid = recording_sid(3)
    body = Body(size=2_000_000, seed=31)
    fake_twilio.add_recording(sid, mono=body, stall_after=500_000, stall_seconds=60)
    downloading = threading.Event()
    fake_twilio.on_request = lambda r: downloading.set() if r.method == "GET" else None
    queue_recording(sessions, fake_twilio, sid, channels=1)

    worker = workers.start(HTTP_READ_TIMEOUT="2")
    assert downloading.wait(30), worker.log()
    worker.signal(signal.SIGTERM)
    assert worker.popen.wait(20) == 0, worker.log()
    row = recording(sessions, sid)
    assert row.archive_state is ArchiveState.QUEUED
    assert row.lease_holder is None
    assert row.attempts == 0
    assert fake_twilio.deletes(sid) == []


def test_every_one_of_many_recordings_is_archived_once_by_four_workers(
    workers, fake_twilio, s3, bucket, sessions, is_postgres
):
    count = 200 if is_postgres else 40
    bodies = {}
    for n in range(count):
        sid = recording_sid(1000 + n)
        bodies[sid] = Body(size=2_000 + 37 * n, seed=n)
        fake_twilio.add_recording(sid, mono=bodies[sid], not_ready=1 if n % 10 == 0 else 0)
        queue_recording(sessions, fake_twilio, sid, channels=1)
    for _ in range(4):
        workers.start()
    wait_for(lambda: all_in_state(sessions, ArchiveState.DONE, count), 240, "all archives")
    assert_each_archived_once(fake_twilio, s3, bucket, sessions, bodies)
    for sid in bodies:
        served = [g for g in fake_twilio.media_gets(sid) if g.status == 200]
        assert len(served) == 1, f"{sid} was downloaded {len(served)} times"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="calls/")
    assert listed["KeyCount"] == count or listed.get("IsTruncated")


def test_the_database_restarting_under_running_workers_loses_nothing(
    workers, fake_twilio, s3, bucket, sessions, is_postgres
):
    restart = os.environ.get("TEST_DATABASE_RESTART")
    if not is_postgres or not restart:
        pytest.skip("needs TEST_DATABASE_RESTART (set by scripts/test under pg_virtualenv)")
    bodies = {}
    for n in range(40):
        sid = recording_sid(5000 + n)
        bodies[sid] = Body(size=200_000, seed=500 + n)
        fake_twilio.add_recording(sid, mono=bodies[sid], not_ready=n % 3)
        queue_recording(sessions, fake_twilio, sid, channels=1)
    for _ in range(2):
        workers.start()
    wait_for(lambda: sum(len(fake_twilio.deletes(s)) for s in bodies) >= 5, 60, "first archives")
    subprocess.run(shlex.split(restart), check=True, timeout=60)
    sessions.kw["bind"].dispose()
    wait_for(lambda: _done_count(sessions) == len(bodies), 120, "archives after the restart")
    assert_each_archived_once(fake_twilio, s3, bucket, sessions, bodies)
    assert all(p.popen.poll() is None for p in workers.started), "a worker died"


def _done_count(sessions: Any) -> int:
    try:
        with sessions() as session:
            rows = session.execute(select(Recording.archive_state)).scalars().all()
    except OperationalError:  # still coming back up
        return -1
    return sum(1 for s in rows if s is ArchiveState.DONE)


def test_an_idle_worker_on_postgresql_wakes_when_work_is_queued(
    workers, fake_twilio, sessions, is_postgres
):
    if not is_postgres:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; elsewhere the poll interval applies")
    worker = workers.start(WORKER_POLL_SECONDS="120")
    wait_for(lambda: "started" in worker.log(), 30, "the worker to start")
    sid = recording_sid(7)
    fake_twilio.add_recording(sid, mono=Body(size=10_000, seed=7))
    queue_recording(sessions, fake_twilio, sid, channels=1)
    # Far sooner than the 60-180 s poll: only the NOTIFY can have woken it.
    wait_for(lambda: all_in_state(sessions, ArchiveState.DONE, 1), 20, "the wake-up")


def test_three_providers_side_by_side_in_one_deployment(
    worker_env, workers, fake_twilio, fake_signalwire, fake_telnyx, s3, bucket, sessions, tmp_path
):
    """One web and one worker, each provider switched on by its settings alone: a signed
    callback to each path is archived and the original deleted at its own provider."""
    signer = TelnyxSigner()
    env = {
        **worker_env,
        "SIGNALWIRE_SPACE_URL": fake_signalwire.origin,
        "SIGNALWIRE_PROJECT_ID": SIGNALWIRE_PROJECT,
        "SIGNALWIRE_API_TOKEN": SIGNALWIRE_TOKEN,
        "SIGNALWIRE_SIGNING_KEY": SIGNALWIRE_SIGNING_KEY,
        "TELNYX_API_BASE_URL": fake_telnyx.api_base_url,
        "TELNYX_API_KEY": TELNYX_API_KEY,
        "TELNYX_PUBLIC_KEY": signer.public_key,
        "TELNYX_MEDIA_HOSTS": fake_telnyx.storage_origin,
    }
    bodies = {
        "twilio": Body(size=300_000, seed=51),
        "signalwire": Body(size=310_000, seed=52),
        "telnyx": Body(size=320_000, seed=53),
    }
    twilio_sid, signalwire_sid, telnyx_sid = recording_sid(51), uuid_n(52, "r"), uuid_n(53, "r")
    fake_twilio.add_recording(twilio_sid, mono=bodies["twilio"])
    fake_signalwire.add_recording(signalwire_sid, mono=bodies["signalwire"])
    fake_telnyx.add_recording(telnyx_sid, body=bodies["telnyx"])

    port = free_port()
    web = Process("web", {**env, "PORT": str(port)}, tmp_path / "web.log")
    workers.env = env
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", web)
        workers.start()
        base = f"http://127.0.0.1:{port}/webhooks"

        params = recording_params(
            "completed",
            sid=twilio_sid,
            RecordingUrl=fake_twilio.recording_url(twilio_sid),
            RecordingChannels="1",
        )
        url = f"{base}/twilio/recording-status"
        answers = [
            requests.post(
                url, data=params, headers={"X-Twilio-Signature": sign(url, params)}, timeout=10
            )
        ]

        params = signalwire_params(sid=signalwire_sid, base_url=fake_signalwire.origin)
        url = f"{base}/signalwire/recording-status"
        signature = hmac_sha1_signature(url, params, SIGNALWIRE_SIGNING_KEY)
        answers.append(
            requests.post(
                url, data=params, headers={"X-SignalWire-Signature": signature}, timeout=10
            )
        )

        body = urlencode(
            telnyx_params(sid=telnyx_sid, media_url=fake_telnyx.media_url(telnyx_sid))
        ).encode()
        answers.append(
            requests.post(
                f"{base}/telnyx/recording-status",
                data=body,
                headers={
                    **signer.headers(body),
                    "Content-Type": "application/x-www-form-urlencoded",
                },
                timeout=10,
            )
        )
        assert [a.status_code for a in answers] == [204, 204, 204], [a.text for a in answers]
        wait_for(lambda: all_in_state(sessions, ArchiveState.DONE, 3), 60, "three archives")
    finally:
        web.stop()
    with sessions() as session:
        rows = {r.provider: r for r in session.execute(select(Recording)).scalars()}
    for provider, expected in bodies.items():
        assert read_object(s3, bucket, rows[provider].key) == expected.read_all(), provider
    assert len(fake_twilio.deletes(twilio_sid)) == 1
    assert len(fake_signalwire.deletes(signalwire_sid)) == 1
    assert len(fake_telnyx.deletes(telnyx_sid)) == 1
    assert fake_telnyx.credential_leaks == []
    for secret in (SIGNALWIRE_TOKEN, SIGNALWIRE_SIGNING_KEY, TELNYX_API_KEY):
        assert secret not in web.log()
        assert secret not in workers.started[0].log()
