"""Chaos: recordings flowing while workers die, the store and the database go away,
and the provider misbehaves. Bounded in time, loopback only.

``python -m bench chaos [--recordings 500] [--faults 24]``

The Procfile's ``web`` (two gunicorn workers) and two ``worker`` processes run
on PostgreSQL with ``ARCHIVE_MAX_ATTEMPTS=6``, ``ARCHIVE_RETRY_BASE_SECONDS=0.5``
and ``ARCHIVE_LEASE_SECONDS=6``, against SeaweedFS and the fake Twilio API.
Signed callbacks flow (in-progress, then completed by POST or GET, some sent
twice, some followed by a late in-progress; a 503 is sent again, as providers
do) while faults are injected in turn: a worker killed with SIGKILL (and
started again), SeaweedFS stopped for a few seconds, PostgreSQL restarted.
About a third of the recordings also misbehave at the provider (404 before
they are ready, 500, 429 with Retry-After, a body cut mid-way), no more than
twice each.

At the end it checks, and prints: callbacks answered 2xx against those sent;
recordings archived against those completed; objects in the bucket against
recordings (no duplicates); originals deleted without a confirmed archive
(the fake checks the bucket at the moment of each DELETE: must be 0);
recordings lost or failed (must be 0); and every archive's bytes against the
provider's.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from sqlalchemy import select

from app.db import make_engine, make_session_factory
from app.recordings.models import ArchiveState, Recording
from tests.fakes.compat_api import Body, FakeTwilioApi, RecordedRequest
from tests.fakes.seaweed import SeaweedS3
from tests.helpers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    WEBHOOK_PATH,
    recording_params,
    recording_sid,
    sign,
)
from tests.procfile import Process, free_port, process_env, run_release, wait_until_serving

BUCKET = "chaos"


class Callbacks:
    """Sends each recording's callbacks as a provider would, retrying 5xx."""

    def __init__(self, base: str, fake: FakeTwilioApi, rng: random.Random) -> None:
        self.url = f"{base}{WEBHOOK_PATH}"
        self.fake = fake
        self.rng = rng
        self.sent = 0
        self.answered_2xx = 0
        self.retries = 0
        self.refused: list[int] = []
        self.session = requests.Session()

    def _send(self, params: dict[str, str], method: str) -> None:
        self.sent += 1
        for _attempt in range(60):
            try:
                if method == "GET":
                    query = urlencode(params)
                    url = f"{self.url}?{query}"
                    response = self.session.get(
                        url, headers={"X-Twilio-Signature": sign(url, None)}, timeout=10
                    )
                else:
                    response = self.session.post(
                        self.url,
                        data=params,
                        headers={"X-Twilio-Signature": sign(self.url, params)},
                        timeout=10,
                    )
            except requests.RequestException:
                response = None
            if response is not None and response.status_code < 300:
                self.answered_2xx += 1
                return
            if response is not None and response.status_code < 500:
                self.refused.append(response.status_code)
                return
            self.retries += 1
            time.sleep(0.5)
        self.refused.append(0)

    def recording(self, sid: str) -> None:
        completed = recording_params(
            "completed", sid=sid, RecordingUrl=self.fake.recording_url(sid), RecordingChannels="1"
        )
        self._send(recording_params("in-progress", sid=sid), "POST")
        self._send(completed, self.rng.choice(["POST", "GET"]))
        if self.rng.random() < 0.4:
            self._send(completed, "POST")  # a provider's repeat
        if self.rng.random() < 0.2:
            self._send(recording_params("in-progress", sid=sid), "POST")  # late, out of order


def run(database_url: str, recordings: int, faults: int) -> dict[str, Any]:
    rng = random.Random(2026)
    work = Path(tempfile.mkdtemp(prefix="bench-chaos-"))
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    restart_database = os.environ.get("BENCH_DATABASE_RESTART")
    seaweed = SeaweedS3(work / "seaweed")
    seaweed.start()
    seaweed.create_bucket(BUCKET)
    s3 = seaweed.client()
    engine = make_engine(database_url, pool_pre_ping=True)
    sessions = make_session_factory(engine)
    bodies: dict[str, Body] = {}
    early_deletes: list[str] = []  # the archive missing or short at the DELETE
    deletes_while_store_away: list[str] = []  # could not look: checked again at the end
    provider_faults = 0
    injected: dict[str, int] = {
        "worker killed": 0,
        "SeaweedFS stopped": 0,
        "PostgreSQL restarted": 0,
    }
    try:
        with FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN) as fake:

            def on_request(request: RecordedRequest) -> None:
                # At the moment of each DELETE: is the archive whole in the bucket?
                if request.kind != "delete" or request.recording_sid not in bodies:
                    return
                body = bodies[request.recording_sid]
                try:
                    objects = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"twilio/{ACCOUNT_SID}/")
                except Exception:  # noqa: BLE001 - SeaweedFS stopped by the chaos right now
                    deletes_while_store_away.append(request.recording_sid)
                    return
                sizes = [
                    o["Size"]
                    for o in objects.get("Contents", [])
                    if request.recording_sid in o["Key"]
                ]
                if sizes != [body.size]:
                    early_deletes.append(request.recording_sid)

            fake.on_request = on_request
            for n in range(recordings):
                sid = recording_sid(70_000_000 + n)
                body = Body(rng.randint(50_000, 3_000_000), n)
                bodies[sid] = body
                script: dict[str, Any] = {}
                if rng.random() < 0.35:
                    provider_faults += 1
                    choice = rng.choice(["404", "500", "429", "cut"])
                    if choice == "404":
                        script["not_ready"] = rng.randint(1, 2)
                    elif choice == "500":
                        script["fail_statuses"] = [500]
                    elif choice == "429":
                        script.update(fail_statuses=[429], retry_after="1")
                    else:
                        script["break_after"] = body.size // 3
                fake.add_recording(sid, mono=body, **script)

            env = process_env(
                {
                    "DATABASE_URL": database_url,
                    "SECRET_KEY": "bench",
                    "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                    "TWILIO_API_BASE_URL": fake.base_url,
                    "S3_BUCKET": BUCKET,
                    "S3_ENDPOINT_URL": seaweed.endpoint_url,
                    "ARCHIVE_MAX_ATTEMPTS": "6",
                    "ARCHIVE_RETRY_BASE_SECONDS": "0.5",
                    "ARCHIVE_RETRY_MAX_SECONDS": "8",
                    "ARCHIVE_LEASE_SECONDS": "6",
                    "WORKER_POLL_SECONDS": "0.5",
                    "HTTP_READ_TIMEOUT": "5",
                    "HTTP_CONNECT_TIMEOUT": "2",
                    "RECONCILE_EVERY_MINUTES": "100000",
                    "LOG_FORMAT": "text",
                    "WEB_CONCURRENCY": "2",
                }
            )
            assert run_release(env).returncode == 0
            port = free_port()
            web = Process("web", {**env, "PORT": str(port)}, work / "web.log")
            wait_until_serving(f"http://127.0.0.1:{port}", web)
            workers = [Process("worker", env, work / f"worker-{n}.log") for n in range(2)]
            spawned = len(workers)

            sender = Callbacks(f"http://127.0.0.1:{port}", fake, rng)
            sids = list(bodies)

            # Spread over the faults' window, so callbacks arrive while things break.
            pace = 2.0 * faults / max(1, recordings)

            def send_all() -> None:
                for sid in sids:
                    sender.recording(sid)
                    time.sleep(pace)

            flow = threading.Thread(target=send_all, name="callbacks")
            started = time.monotonic()
            flow.start()

            kinds = ["worker killed", "SeaweedFS stopped"]
            if restart_database:
                kinds.append("PostgreSQL restarted")
            for n in range(faults):
                time.sleep(rng.uniform(1.0, 3.0))
                kind = kinds[n % len(kinds)]
                if kind == "worker killed":
                    victim = rng.randrange(len(workers))
                    workers[victim].signal(signal.SIGKILL)
                    workers[victim].popen.wait(10)
                    workers[victim] = Process("worker", env, work / f"worker-{spawned}.log")
                    spawned += 1
                elif kind == "SeaweedFS stopped":
                    seaweed.kill()
                    time.sleep(rng.uniform(2.0, 5.0))
                    seaweed.restart()
                else:
                    subprocess.run(restart_database, shell=True, check=True, timeout=60)  # noqa: S602 - our own command
                injected[kind] += 1
                print(f"  fault {n + 1}/{faults}: {kind}", flush=True)
            flow.join(600)

            def settled() -> bool:
                with sessions() as session:
                    states = session.execute(select(Recording.archive_state)).scalars().all()
                terminal = {ArchiveState.DONE, ArchiveState.FAILED, ArchiveState.NO_MEDIA}
                return len(states) == len(bodies) and all(s in terminal for s in states)

            deadline = time.monotonic() + 600
            while not settled() and time.monotonic() < deadline:
                time.sleep(1)
            elapsed = time.monotonic() - started
            for process in [web, *workers]:
                process.stop()

            with sessions() as session:
                rows = {r.recording_sid: r for r in session.execute(select(Recording)).scalars()}
            states = [r.archive_state for r in rows.values()]
            objects: dict[str, dict[str, Any]] = {}
            token = None
            while True:
                page = s3.list_objects_v2(
                    Bucket=BUCKET, **({"ContinuationToken": token} if token else {})
                )
                for item in page.get("Contents", []):
                    objects[item["Key"]] = item
                token = page.get("NextContinuationToken")
                if not token:
                    break
            wrong_bytes = 0
            for sid, row in rows.items():
                if row.key is None or row.key not in objects:
                    continue
                data = s3.get_object(Bucket=BUCKET, Key=row.key)["Body"].read()
                if hashlib.sha256(data).hexdigest() != bodies[sid].sha256():
                    wrong_bytes += 1
            archived_sids = [k.rsplit("/", 1)[-1].split(".")[0] for k in objects]
            deleted = [sid for sid in bodies if fake.is_deleted(sid)]
            result = {
                "recordings": recordings,
                "seconds": elapsed,
                "faults": injected,
                "recordings_with_provider_faults": provider_faults,
                "callbacks_sent": sender.sent,
                "callbacks_answered_2xx": sender.answered_2xx,
                "callbacks_resent_after_5xx_or_no_answer": sender.retries,
                "callbacks_refused": len(sender.refused),
                "completed": len(bodies),
                "archived": states.count(ArchiveState.DONE),
                "failed": states.count(ArchiveState.FAILED),
                "lost": len(
                    set(bodies)
                    - {s for s, r in rows.items() if r.archive_state is ArchiveState.DONE}
                ),
                "objects_in_bucket": len(objects),
                "duplicate_objects": len(archived_sids) - len(set(archived_sids)),
                "originals_deleted": len(deleted),
                "deleted_without_confirmed_archive": len(early_deletes),
                "deleted_while_store_away": len(deletes_while_store_away),
                "of_those_whole_afterwards": sum(
                    1
                    for sid in deletes_while_store_away
                    if rows.get(sid) is not None
                    and rows[sid].key in objects
                    and objects[rows[sid].key]["Size"] == bodies[sid].size
                ),
                "archives_with_wrong_bytes": wrong_bytes,
                "tries_per_recording_max": max((r.attempts for r in rows.values()), default=0),
            }
    finally:
        seaweed.kill()
        engine.dispose()
    return result


def table(result: dict[str, Any]) -> str:
    faults = result["faults"]
    lines = [
        f"{result['recordings']} recordings over {result['seconds']:.0f} s; faults injected: "
        + ", ".join(f"{n} x {k}" for k, n in faults.items())
        + f" ({sum(faults.values())} in all), and {result['recordings_with_provider_faults']} "
        "recordings misbehaving at the provider (404, 500, 429, a cut body).\n",
        "| check | value | must be |",
        "| --- | ---: | --- |",
        f"| callbacks answered 2xx / sent | {result['callbacks_answered_2xx']} / {result['callbacks_sent']} | all |",
        f"| callbacks sent again after a 5xx or no answer | {result['callbacks_resent_after_5xx_or_no_answer']} | |",
        f"| recordings archived / completed | {result['archived']} / {result['completed']} | all |",
        f"| recordings failed | {result['failed']} | 0 |",
        f"| recordings lost | {result['lost']} | 0 |",
        f"| objects in the bucket / recordings | {result['objects_in_bucket']} / {result['completed']} | equal |",
        f"| duplicate objects | {result['duplicate_objects']} | 0 |",
        f"| originals deleted while the archive was missing or short | {result['deleted_without_confirmed_archive']} | 0 |",
        f"| originals deleted | {result['originals_deleted']} | all |",
        f"| of those, deleted while SeaweedFS was stopped (the bucket could not be looked at "
        f"then; whole afterwards) | {result['deleted_while_store_away']} "
        f"({result['of_those_whole_afterwards']} whole) | all whole |",
        f"| archives whose bytes differ from the provider's | {result['archives_with_wrong_bytes']} | 0 |",
        f"| most tries any recording took | {result['tries_per_recording_max']} | ≤ 6 |",
    ]
    return "\n".join(lines)
