"""Object Lock through the Procfile's ``worker``: the start-up refusal, and a locked archive."""

from __future__ import annotations

import datetime as dt
import os

from app.recordings.models import ArchiveState
from tests.archive.helpers import queue_recording, recording, wait_for
from tests.archive.test_worker_process import worker_env, workers  # noqa: F401 (fixtures)
from tests.fakes.compat_api import Body
from tests.helpers import recording_sid

LOCK = {"S3_OBJECT_LOCK_MODE": "COMPLIANCE", "S3_OBJECT_LOCK_DAYS": "1"}


def test_the_worker_refuses_to_start_when_the_bucket_has_no_object_lock(workers, bucket):  # noqa: F811
    worker = workers.start(**LOCK)
    code = worker.popen.wait(60)
    assert code != 0
    log = worker.log()
    assert "the worker refuses to start" in log
    assert f"bucket {bucket} has no Object Lock enabled" in log
    assert "S3_OBJECT_LOCK_MODE=COMPLIANCE" in log


def test_the_worker_archives_into_a_locked_bucket_with_one_version_each(
    workers,  # noqa: F811
    seaweed,
    s3,
    fake_twilio,
    live_engine,
):
    from app.db import make_session_factory

    locked = f"locked-proc-{os.getpid()}"
    seaweed.create_bucket(locked, object_lock=True)
    sessions = make_session_factory(live_engine)
    sids = [recording_sid(900 + n) for n in range(3)]
    for n, sid in enumerate(sids):
        body = Body(size=100_000 + n, seed=n)
        fake_twilio.add_recording(sid, mono=body, dual=body)
        queue_recording(sessions, fake_twilio, sid, channels=1)
    workers.start(S3_BUCKET=locked, **LOCK)

    def archived() -> bool:
        return all(recording(sessions, sid).archive_state is ArchiveState.DONE for sid in sids)

    wait_for(archived, 60, "the recordings archived")
    for sid in sids:
        row = recording(sessions, sid)
        answer = s3.list_object_versions(Bucket=locked, Prefix=row.key)
        assert [v["Key"] for v in answer.get("Versions", [])] == [row.key]
        head = s3.head_object(Bucket=locked, Key=row.key)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"] == row.retain_until
        assert row.retain_until > dt.datetime.now(dt.UTC) + dt.timedelta(hours=23)
