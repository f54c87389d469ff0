"""The scrub's read-back rate, without a ceiling and under ``SCRUB_MAX_MB_PER_SECOND``.

Objects are put straight into SeaweedFS (``--objects`` of ``--mb`` MB each),
with their recording rows as the worker would have left them; then
``app.archive.scrub.scrub`` reads them all back once per ceiling. A worker's
scheduled scrub reads the same way, a turn at a time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import text

from app.archive.scrub import RateCeiling, scrub
from app.db import make_engine, make_session_factory, transaction
from app.recordings.models import ArchiveState, Recording
from app.storage import make_store
from tests.fakes.seaweed import SeaweedS3
from tests.helpers import ACCOUNT_SID, make_settings, recording_sid
from tests.procfile import process_env, run_release

BUCKET = "bench-scrub"


def run(database_url: str, objects: int, mb: int, ceilings: list[float]) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-scrub-"))
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    seaweed = SeaweedS3(work / "seaweed")
    seaweed.start()
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    result: dict[str, Any] = {"objects": objects, "mb_each": mb, "runs": {}}
    try:
        assert run_release(process_env({"DATABASE_URL": database_url})).returncode == 0
        seaweed.create_bucket(BUCKET)
        s3 = seaweed.client()
        settings = replace(
            make_settings(database_url=database_url),
            s3_bucket=BUCKET,
            s3_endpoint_url=seaweed.endpoint_url,
        )
        now = dt.datetime.now(dt.UTC)
        with transaction(sessions) as session:
            session.execute(text("DELETE FROM recordings"))
            for n in range(objects):
                body = os.urandom(mb * 1_000_000)
                key = f"bench/{n}.mp3"
                s3.put_object(Bucket=BUCKET, Key=key, Body=body)
                session.add(
                    Recording(
                        provider="twilio",
                        account_sid=ACCOUNT_SID,
                        recording_sid=recording_sid(50_000 + n),
                        provider_status="completed",
                        archive_state=ArchiveState.DONE,
                        bucket=BUCKET,
                        key=key,
                        size_bytes=len(body),
                        sha256=hashlib.sha256(body).hexdigest(),
                        archived_at=now,
                        recorded_at=now,
                    )
                )
        store = make_store(settings)
        for ceiling in ceilings:
            pace = RateCeiling(ceiling * 1e6) if ceiling else None
            started = time.monotonic()
            summary = scrub(sessions, store, limit=None, pace=pace)
            seconds = time.monotonic() - started
            assert summary.checked == objects and summary.found_ok() == objects, summary.line()
            result["runs"][str(ceiling or "none")] = {
                "seconds": seconds,
                "mb_per_s": summary.bytes_read / 1e6 / seconds,
            }
            print(f"  ceiling {ceiling or 'none'}: {summary.line()}", flush=True)
        with transaction(sessions) as session:
            session.execute(text("DELETE FROM recordings"))
    finally:
        engine.dispose()
        seaweed.kill()
    return result


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['objects']} objects of {result['mb_each']} MB in SeaweedFS on loopback, "
        "each read back in full and hashed (SHA-256) once per ceiling.",
        "",
        "| SCRUB_MAX_MB_PER_SECOND | seconds | MB/s read back |",
        "| ---: | ---: | ---: |",
    ]
    for ceiling, run in result["runs"].items():
        lines.append(f"| {ceiling} | {run['seconds']:.1f} | {run['mb_per_s']:.1f} |")
    return "\n".join(lines)
