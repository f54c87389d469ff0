"""The ``worker`` process as the Procfile runs it: end to end, killed, restarted, in numbers."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app.recordings.models import ArchiveState, Recording
from app.work.models import WorkItem
from tests.archive.helpers import queue_recording, read_object, recording, wait_for
from tests.database_restart import restart_command
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
from tests.procfile import (
    Process,
    free_port,
    process_env,
    web_process,
)


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
def workers(released, worker_env, tmp_path, live_engine) -> Iterator[Workers]:
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
    with web_process(worker_env, tmp_path / "web.log") as web:
        port = web.port
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
    fake_twilio.on_request = lambda r: downloading.set() if r.kind == "media" else None
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
    fake_twilio.on_request = lambda r: downloading.set() if r.kind == "media" else None
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


@pytest.mark.restarts_database
def test_the_database_restarting_under_running_workers_loses_nothing(
    database_url, workers, fake_twilio, s3, bucket, sessions
):
    restart = restart_command(database_url)  # skips without PostgreSQL and a way to restart it
    bodies = {}
    for n in range(40):
        sid = recording_sid(5000 + n)
        bodies[sid] = Body(size=200_000, seed=500 + n)
        fake_twilio.add_recording(sid, mono=bodies[sid], not_ready=n % 3)
        queue_recording(sessions, fake_twilio, sid, channels=1)
    for _ in range(2):
        workers.start()
    wait_for(lambda: sum(len(fake_twilio.deletes(s)) for s in bodies) >= 5, 60, "first archives")
    subprocess.run(restart, check=True, timeout=60)
    sessions.kw["bind"].dispose()
    wait_for(lambda: _done_count(sessions) == len(bodies), 120, "archives after the restart")
    assert_each_archived_once(fake_twilio, s3, bucket, sessions, bodies)
    assert all(p.popen.poll() is None for p in workers.started), "a worker died"
    # Tries went on what the provider answered (the 404s before each was ready),
    # none on our own database being away.
    with sessions() as session:
        tries = dict(session.execute(select(Recording.recording_sid, Recording.attempts)).all())
    assert tries == {recording_sid(5000 + n): n % 3 + 1 for n in range(40)}


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

    workers.env = env
    with web_process(env, tmp_path / "web.log") as web:
        port = web.port
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
    with sessions() as session:
        rows = {r.provider: r for r in session.execute(select(Recording)).scalars()}
    for provider, expected in bodies.items():
        assert read_object(s3, bucket, rows[provider].key) == expected.read_all(), provider
    assert len(fake_twilio.deletes(twilio_sid)) == 1
    assert len(fake_signalwire.deletes(signalwire_sid)) == 1
    assert len(fake_telnyx.deletes(telnyx_sid)) == 1
    assert fake_telnyx.credential_leaks == []
    for secret in (SIGNALWIRE_TOKEN, SIGNALWIRE_SIGNING_KEY, TELNYX_API_KEY):
        assert secret not in web.process.log()
        assert secret not in workers.started[0].log()


def test_a_recording_whose_callback_never_came_is_archived_by_the_schedule_alone(
    workers, fake_twilio, s3, bucket, sessions
):
    """Two workers; the hourly reconciliation runs at once in exactly one of them,
    finds the recording at the provider, and the archive follows."""
    sid = recording_sid(77)
    body = Body(size=250_000, seed=77)
    fake_twilio.add_recording(sid, mono=body, call_sid="CA" + "7" * 32)
    first = workers.start(RECONCILE_EVERY_MINUTES="60")
    second = workers.start(RECONCILE_EVERY_MINUTES="60")
    wait_for(lambda: all_in_state(sessions, ArchiveState.DONE, 1), 60, "the scheduled archive")
    assert_each_archived_once(fake_twilio, s3, bucket, sessions, {sid: body})
    runs = [r for r in fake_twilio.requests if r.path.endswith("/Recordings.json")]
    assert len(runs) == 1, runs
    logs = first.log() + second.log()
    assert logs.count("scheduled reconcile of twilio") == 1


def test_metrics_are_exact_across_two_web_workers_and_every_log_line_is_clean_json(
    worker_env, workers, fake_twilio, fake_telnyx, sessions, tmp_path
):
    """A known sequence of callbacks and archives through two gunicorn workers and a
    worker: /metrics adds up exactly, every line of output is JSON, the callback's
    request id reaches the worker's lines, and no secret appears anywhere."""
    signer = TelnyxSigner()
    closed = free_port()  # a storage host that refuses connections
    secret_signature = "presigned0secret0signature"
    env = {
        **worker_env,
        "LOG_FORMAT": "json",
        "WEB_CONCURRENCY": "2",
        "METRICS_TOKEN": "metrics-secret-token",
        "TELNYX_API_BASE_URL": fake_telnyx.api_base_url,
        "TELNYX_API_KEY": TELNYX_API_KEY,
        "TELNYX_PUBLIC_KEY": signer.public_key,
        "TELNYX_MEDIA_HOSTS": f"{fake_telnyx.storage_origin},http://127.0.0.1:{closed}",
        "ARCHIVE_MAX_ATTEMPTS": "2",
    }
    good, refused = recording_sid(61), recording_sid(62)
    body = Body(size=200_000, seed=61)
    fake_twilio.add_recording(good, mono=body)
    fake_twilio.add_recording(refused, mono=body, fail_statuses=[403])
    telnyx_sid = uuid_n(63, "r")
    workers.env = env
    signatures: list[str] = []
    with web_process(env, tmp_path / "web.log") as web:
        port = web.port
        try:
            worker = workers.start()
            url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"

            def send(params: dict[str, str], signature: str | None = None) -> requests.Response:
                signature = signature or sign(url, params)
                signatures.append(signature)
                with requests.Session() as fresh:  # a new connection: either web worker
                    return fresh.post(
                        url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10
                    )

            def completed(sid: str) -> dict[str, str]:
                return recording_params(
                    "completed",
                    sid=sid,
                    RecordingUrl=fake_twilio.recording_url(sid),
                    RecordingChannels="1",
                )

            answers = [
                send(recording_params("in-progress", sid=good)),
                send(completed(good)),
                send(completed(good)),  # a repeat
                send(completed(refused)),
                send(completed(good), "AAAAbadsignature="),
                send(completed(refused), "BBBBbadsignature="),
                send(completed(good) | {"RecordingDuration": "forty"}),
            ]
            assert [a.status_code for a in answers] == [204, 204, 204, 204, 403, 403, 400]
            request_id = answers[1].headers["X-Request-Id"]
            form = urlencode(
                telnyx_params(
                    sid=telnyx_sid,
                    media_url=f"http://127.0.0.1:{closed}/b/k.mp3?X-Amz-Signature={secret_signature}",
                )
            ).encode()
            telnyx_headers = signer.headers(form)
            signatures.append(telnyx_headers["telnyx-signature-ed25519"])
            assert (
                requests.post(
                    f"http://127.0.0.1:{port}/webhooks/telnyx/recording-status",
                    data=form,
                    headers={**telnyx_headers, "Content-Type": "application/x-www-form-urlencoded"},
                    timeout=10,
                ).status_code
                == 204
            )

            def settled() -> bool:
                with sessions() as session:
                    found = dict(
                        session.execute(
                            select(Recording.recording_sid, Recording.archive_state)
                        ).all()
                    )
                return (
                    found.get(good) is ArchiveState.DONE
                    and found.get(refused) is ArchiveState.FAILED
                    and (found.get(telnyx_sid) is ArchiveState.FAILED)
                )

            wait_for(settled, 60, "the archives to settle")
            metrics_url = f"http://127.0.0.1:{port}/metrics"
            assert requests.get(metrics_url, timeout=10).status_code == 401
            scraped = requests.get(
                metrics_url, headers={"Authorization": "Bearer metrics-secret-token"}, timeout=10
            )
            assert scraped.status_code == 200
        finally:
            workers.stop_all()

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    callbacks = "recording_archiver_callbacks_total"
    assert value(callbacks, provider="twilio", status="completed", code="204") == 3
    assert value(callbacks, provider="twilio", status="in-progress", code="204") == 1
    assert value(callbacks, provider="twilio", status="completed", code="403") == 2
    assert value(callbacks, provider="twilio", status="completed", code="400") == 1
    assert value(callbacks, provider="telnyx", status="completed", code="204") == 1
    assert value("recording_archiver_signature_refusals_total", provider="twilio") == 2
    assert value("recording_archiver_recordings", state="done") == 1
    assert value("recording_archiver_recordings", state="failed") == 2
    attempts = "recording_archiver_archive_attempts_total"
    assert value(attempts, outcome="done") == 1
    assert value(attempts, outcome="failed") == 2  # the refused token; telnyx's second try
    assert value(attempts, outcome="retry") == 1  # telnyx's first try
    assert value("recording_archiver_archived_bytes_total") == body.size
    assert value("recording_archiver_download_seconds_count") == 1
    assert value("recording_archiver_download_seconds_bucket", le="+Inf") == 1
    assert value("recording_archiver_oldest_queued_age_seconds") == 0

    output = web.process.log() + worker.log()
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) > 20
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            # The whole rest of the log: a traceback is many lines, and its first says nothing.
            pytest.fail(f"not JSON: {line!r}\n" + output[output.index(line) :][:4000])
    archived = [p for p in parsed if "archived twilio" in p.get("message", "")]
    assert archived and archived[0]["request_id"] == request_id
    for secret in (AUTH_TOKEN, "metrics-secret-token", secret_signature, *signatures):
        assert secret not in output, secret
    with sessions() as session:
        errors = session.execute(select(Recording.last_error)).scalars().all()
    assert all(secret_signature not in (e or "") for e in errors)
    assert any("[redacted]" in (e or "") for e in errors)


def test_a_worker_survives_a_cut_off_listing_page_and_keeps_archiving(
    workers, fake_twilio, s3, bucket, sessions
):
    """The list API answers a cut-off JSON page to the scheduled reconciliation: the
    worker says so once, archives what is queued, and the period is run again."""
    queued, only_listed = recording_sid(81), recording_sid(82)
    bodies = {queued: Body(size=120_000, seed=81), only_listed: Body(size=130_000, seed=82)}
    for sid, body in bodies.items():
        fake_twilio.add_recording(sid, mono=body)
    queue_recording(sessions, fake_twilio, queued, channels=1)
    fake_twilio.list_faults = ["cut-off"]
    worker = workers.start(RECONCILE_EVERY_MINUTES="0.05")
    wait_for(lambda: all_in_state(sessions, ArchiveState.DONE, 2), 60, "both archives")
    assert worker.popen.poll() is None, worker.log()
    assert_each_archived_once(fake_twilio, s3, bucket, sessions, bodies)
    log = worker.log()
    assert log.count("the provider's answer is not valid JSON") == 1, log
    assert "Traceback" not in log


def test_sigterm_during_a_long_reconciliation_stops_the_worker_between_pages(
    workers, fake_twilio, sessions
):
    """Forty pages of one recording each, half a second apiece: SIGTERM after the
    second stops the worker within seconds, and the period is due again at once."""
    for n in range(40):
        fake_twilio.add_recording(recording_sid(8100 + n), mono=Body(size=1_000, seed=n))
    fake_twilio.max_page_size = 1
    fake_twilio.list_delay = 0.5
    worker = workers.start(RECONCILE_EVERY_MINUTES="60")

    def lists() -> int:
        return sum(1 for r in fake_twilio.requests if r.kind == "list")

    wait_for(lambda: lists() >= 2, 30, "the reconciliation's second page")
    worker.signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    assert worker.popen.wait(5) == 0, worker.log()
    took = time.monotonic() - stopped_at
    assert took < 5, took
    assert lists() < 10
    assert "scheduled reconcile of twilio stopped between pages" in worker.log()
    with sessions() as session:
        run = session.execute(select(WorkItem).where(WorkItem.kind == "reconcile")).scalar_one()
    assert run.run_after <= run.started_at + dt.timedelta(seconds=5)
    assert "stopped early" in (run.result or "")
    # The page the worker left behind is still being made: let it finish before the
    # fake stops (it would find no port to write its links with).
    wait_for(
        lambda: all(r.status for r in fake_twilio.requests if r.kind == "list"), 10, "the last page"
    )
