"""The archive: recordings through 1, 2 and 4 workers, and one big recording, beside
the plainest copy of the same bytes.

``python -m bench archive [--recordings 1000] [--workers 1,2,4] [--big-mb 300]``

SeaweedFS and the fake Twilio API run on loopback; workers are the Procfile's
``worker`` processes on PostgreSQL. The mixed run queues ``--recordings``
completed recordings of 100 KB to 50 MB (most small; two in five two-channel,
one in five two-channel at the provider but refused with a 400, so fetched
with one channel) at once, as a burst of callbacks would, and measures
recordings/s and MB/s until the last is confirmed, each worker's peak RSS, and
each recording's time from its callback to its confirmed archive (p50, p99).
The reference copies the same bytes with a plain ``requests`` download piped
into boto3's ``upload_fileobj``, one after another. Then one ``--big-mb``
recording, three times: callback to confirmed-and-deleted against the plain
copy.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from app.db import make_engine, make_session_factory
from app.recordings.models import ArchiveState, Recording
from tests.archive.helpers import queue_recording
from tests.fakes.compat_api import Body, FakeTwilioApi
from tests.fakes.seaweed import SeaweedS3
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, recording_sid
from tests.procfile import Process, process_env, run_release

MB = 1_000_000
REFERENCE = r"""
import sys, time, boto3, requests
from botocore.config import Config
endpoint, bucket = sys.argv[1:3]
s3 = boto3.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))
auth = (sys.argv[3], sys.argv[4])
total = 0
start = time.perf_counter()
for line in sys.stdin:
    url, key = line.split()
    with requests.get(url, auth=auth, stream=True, timeout=(10, 60)) as r:
        r.raise_for_status()
        s3.upload_fileobj(r.raw, bucket, key)
print(time.perf_counter() - start)
"""


def sizes(count: int) -> list[int]:
    rng = random.Random(7)
    out = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.70:
            out.append(rng.randint(100_000, 2 * MB))
        elif roll < 0.95:
            out.append(rng.randint(2 * MB, 20 * MB))
        else:
            out.append(rng.randint(20 * MB, 50 * MB))
    return out


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_all(sessions: Any, count: int, workers: list[Process], timeout: float = 3600) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with sessions() as session:
            states = session.execute(select(Recording.archive_state)).scalars().all()
        finished = [s for s in states if s in (ArchiveState.DONE, ArchiveState.FAILED)]
        if len(finished) >= count:
            if ArchiveState.FAILED in finished:
                raise SystemExit("an archive failed:\n" + workers[0].log()[-3000:])
            return
        if time.monotonic() > deadline or any(w.popen.poll() is not None for w in workers):
            raise SystemExit("the workers did not finish:\n" + workers[0].log()[-3000:])
        time.sleep(0.2)


def wait_started(worker: Process, timeout: float = 60) -> None:
    """Until the worker logs that it started: it LISTENs before that line, so the
    callback's NOTIFY wakes it, and the measured time is the archive's alone
    (not the worker's start-up, nor a poll interval)."""
    deadline = time.monotonic() + timeout
    while " started: " not in worker.log():
        if time.monotonic() > deadline or worker.popen.poll() is not None:
            raise SystemExit("the worker did not start:\n" + worker.log()[-3000:])
        time.sleep(0.05)


def reference(seaweed: SeaweedS3, bucket: str, lines: list[str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", REFERENCE, seaweed.endpoint_url, bucket, ACCOUNT_SID, AUTH_TOKEN],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.split()[-1])


def run(
    database_url: str, recordings: int, worker_counts: list[int], big_mb: int
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-archive-"))
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    seaweed = SeaweedS3(work / "seaweed")
    seaweed.start()
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    result: dict[str, Any] = {"recordings": recordings, "mixed": {}, "big": {}}
    try:
        with FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN) as fake:
            env = process_env(
                {
                    "DATABASE_URL": database_url,
                    "SECRET_KEY": "bench",
                    "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                    "TWILIO_API_BASE_URL": fake.base_url,
                    "S3_ENDPOINT_URL": seaweed.endpoint_url,
                    "LOG_FORMAT": "text",
                    "RECONCILE_EVERY_MINUTES": "100000",
                }
            )
            assert run_release(env).returncode == 0
            plan = sizes(recordings)
            rng = random.Random(11)
            kinds = [rng.choice(["dual", "dual", "mono-only", "mono", "mono"]) for _ in plan]
            for count in worker_counts if recordings else []:
                bucket = f"mixed-{count}"
                seaweed.create_bucket(bucket)
                with engine.begin() as connection:
                    connection.execute(
                        text("TRUNCATE recordings, recording_events, archive_attempts CASCADE")
                    )
                workers = [
                    Process("worker", {**env, "S3_BUCKET": bucket}, work / f"w{count}-{n}.log")
                    for n in range(count)
                ]
                for worker in workers:
                    wait_started(worker)
                total = 0
                sids = []
                for n, (size, kind) in enumerate(zip(plan, kinds, strict=True)):
                    sid = recording_sid(count * 1_000_000 + n)
                    body = Body(size, n)
                    total += size
                    if kind == "dual":
                        fake.add_recording(sid, mono=Body(size // 2, n), dual=body)
                    elif kind == "mono-only":
                        fake.add_recording(sid, mono=body, dual_unsupported=True)
                    else:
                        fake.add_recording(sid, mono=body)
                    sids.append(sid)
                started = time.perf_counter()
                for sid, kind in zip(sids, kinds, strict=True):
                    queue_recording(sessions, fake, sid, channels=1 if kind == "mono" else 2)
                wait_all(sessions, len(sids), workers)
                wall = time.perf_counter() - started
                rss = [peak_rss_mb(w.popen.pid) for w in workers]
                for w in workers:
                    w.stop()
                with sessions() as session:
                    rows = session.execute(
                        select(Recording.created_at, Recording.archived_at, Recording.size_bytes)
                    ).all()
                latencies = sorted((a - c).total_seconds() for c, a, _ in rows)
                archived = sum(s for _, _, s in rows)
                result["mixed"][str(count)] = {
                    "seconds": wall,
                    "recordings_per_s": len(rows) / wall,
                    "mb_per_s": archived / MB / wall,
                    "peak_rss_mb": max(rss),
                    "callback_to_archive_p50_s": statistics.median(latencies),
                    "callback_to_archive_p99_s": latencies[int(len(latencies) * 0.99) - 1],
                }
                print(f"  {count} worker(s): {result['mixed'][str(count)]}", flush=True)
            # The plain copy of the same bytes (what the mixed run archived).
            seaweed.create_bucket("reference")
            lines = []
            for n, size in enumerate(plan):
                sid = recording_sid(90_000_000 + n)
                fake.add_recording(sid, mono=Body(size, n))
                lines.append(f"{fake.recording_url(sid)}.mp3 ref/{sid}.mp3")
            if lines:
                seconds = reference(seaweed, "reference", lines)
                result["mixed"]["reference"] = {
                    "seconds": seconds,
                    "recordings_per_s": len(plan) / seconds,
                    "mb_per_s": sum(plan) / MB / seconds,
                }
                print(f"  reference: {result['mixed']['reference']}", flush=True)

            big = Body(big_mb * 1024 * 1024, 99)
            seaweed.create_bucket("big")
            runs = []
            for attempt in range(3):
                with engine.begin() as connection:
                    connection.execute(
                        text("TRUNCATE recordings, recording_events, archive_attempts CASCADE")
                    )
                sid = recording_sid(95_000_000 + attempt)
                fake.add_recording(sid, mono=big)
                worker = Process("worker", {**env, "S3_BUCKET": "big"}, work / f"big-{attempt}.log")
                wait_started(worker)
                queue_recording(sessions, fake, sid, channels=1)
                started = time.perf_counter()
                deadline = time.monotonic() + 600
                while not fake.deletes(sid):
                    if time.monotonic() > deadline or worker.popen.poll() is not None:
                        raise SystemExit(worker.log()[-3000:])
                    time.sleep(0.05)
                ours = time.perf_counter() - started
                rss = peak_rss_mb(worker.popen.pid)
                worker.stop()
                ref_sid = recording_sid(96_000_000 + attempt)
                fake.add_recording(ref_sid, mono=big)
                theirs = reference(
                    seaweed, "big", [f"{fake.recording_url(ref_sid)}.mp3 ref/{ref_sid}.mp3"]
                )
                runs.append(
                    {
                        "ours_s": ours,
                        "reference_s": theirs,
                        "ratio": theirs / ours,
                        "peak_rss_mb": rss,
                    }
                )
                print(f"  {big_mb} MB, run {attempt + 1}: {runs[-1]}", flush=True)
            result["big"] = {"mb": big_mb, "runs": runs}
    finally:
        seaweed.kill()
        engine.dispose()
        # The store's volumes: about 12 GB after the default run, left in /tmp until now.
        shutil.rmtree(work, ignore_errors=True)
    return result


def table(result: dict[str, Any]) -> str:
    mixed = result["mixed"]
    rows = _mixed_table(result["recordings"], mixed) if "reference" in mixed else []
    big = result["big"]
    rows += [
        "",
        f"One {big['mb']} MB recording, callback to confirmed-and-deleted, against the plain copy:",
        "",
        "| run | ours | plain copy | speed of the plain copy | peak RSS |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, run in enumerate(big["runs"], 1):
        rows.append(
            f"| {n} | {run['ours_s']:.2f} s | {run['reference_s']:.2f} s | {run['ratio']:.2f} | "
            f"{run['peak_rss_mb']:.0f} MB |"
        )
    return "\n".join(rows)


def _mixed_table(recordings: int, mixed: dict[str, Any]) -> list[str]:
    ref = mixed["reference"]
    rows = [
        f"{recordings:,} completed recordings, 100 KB to 50 MB, queued at once; "
        "SeaweedFS and the fake Twilio API on loopback; PostgreSQL.\n",
        "| workers | recordings/s | MB/s | of the plain copy | peak RSS per worker | callback to archive p50 | p99 |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for count, row in mixed.items():
        if count == "reference":
            continue
        rows.append(
            f"| {count} | {row['recordings_per_s']:.1f} | {row['mb_per_s']:.1f} | "
            f"{row['mb_per_s'] / ref['mb_per_s']:.2f} | {row['peak_rss_mb']:.0f} MB | "
            f"{row['callback_to_archive_p50_s']:.1f} s | {row['callback_to_archive_p99_s']:.1f} s |"
        )
    rows.append(
        f"| plain copy (`requests` → `upload_fileobj`, one after another) | "
        f"{ref['recordings_per_s']:.1f} | {ref['mb_per_s']:.1f} | 1.00 | | | |"
    )
    return rows
