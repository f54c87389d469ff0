"""Webhook answer time: our ``web`` process beside the bare reference.

    .venv/bin/python bench/webhook.py [--requests 3000] [--concurrency 4]

Starts a throwaway PostgreSQL with ``pg_virtualenv`` unless ``DATABASE_URL``
is set, runs ``release`` and ``web`` exactly as the Procfile writes them, then
the reference app (``bench/reference_webhook.py``) under the same gunicorn
settings, and sends each the same number of distinct, correctly signed
``completed`` callbacks from ``--concurrency`` client threads. Prints the
median, 99th percentile and throughput of both. Not a test: figures on a
shared machine are noisy, so compare the two columns of one run.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import (  # noqa: E402
    ACCOUNT_SID,
    AUTH_TOKEN,
    WEBHOOK_PATH,
    recording_params,
    recording_sid,
    sign,
)
from tests.procfile import (  # noqa: E402
    Process,
    free_port,
    process_env,
    procfile_commands,
    run_release,
    wait_until_serving,
)


def drive(base_url: str, total: int, concurrency: int, offset: int) -> tuple[list[float], float]:
    host = base_url.split("://", 1)[1]
    url = f"http://{host}{WEBHOOK_PATH}"
    bodies = []
    for n in range(total):
        params = recording_params("completed", sid=recording_sid(offset + n))
        bodies.append((params, sign(url, params)))
    local = __import__("threading").local()

    def one(item: tuple[dict[str, str], str]) -> float:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        params, signature = item
        start = time.perf_counter()
        response = session.post(
            base_url + WEBHOOK_PATH, data=params, headers={"X-Twilio-Signature": signature}
        )
        elapsed = time.perf_counter() - start
        if response.status_code != 204:
            raise RuntimeError(f"{response.status_code}: {response.text}")
        return elapsed

    # Warm up connections and the pool, not measured.
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, bodies[: concurrency * 5]))
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        times = list(pool.map(one, bodies[concurrency * 5 :]))
    return times, time.perf_counter() - started


def summary(name: str, times: list[float], wall: float) -> str:
    ms = sorted(t * 1000 for t in times)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return (
        f"{name:<28} n={len(ms):>5}  median={statistics.median(ms):6.2f} ms  "
        f"p99={p99:6.2f} ms  max={ms[-1]:7.2f} ms  throughput={len(ms) / wall:7.1f}/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    if not os.environ.get("DATABASE_URL"):
        command = shlex.join([sys.executable, *sys.argv])
        url = "postgresql://$PGUSER:$PGPASSWORD@$PGHOST:$PGPORT/$PGDATABASE"
        sys.exit(
            subprocess.call(["pg_virtualenv", "bash", "-c", f'DATABASE_URL="{url}" {command}'])
        )

    workdir = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    env = process_env(
        {
            "DATABASE_URL": os.environ["DATABASE_URL"],
            "SECRET_KEY": "bench",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "2"),
        }
    )
    release = run_release(env)
    if release.returncode:
        sys.exit(release.stderr)

    results = []
    web_command = procfile_commands()["web"]
    reference_command = web_command.replace("'app:create_app()'", "bench.reference_webhook:app")
    for name, command, offset in (
        ("web (this project)", web_command, 0),
        ("reference (one INSERT)", reference_command, 10_000_000),
    ):
        port = free_port()
        process = Process.from_command(
            name, command, {**env, "PORT": str(port)}, workdir / f"{offset}.log"
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(base_url, process, path="/healthz" if offset == 0 else None)
            times, wall = drive(base_url, args.requests, args.concurrency, offset)
        finally:
            process.stop()
        results.append(summary(name, times, wall))

    print(
        f"{args.requests} signed POSTs, {args.concurrency} client threads, "
        f"WEB_CONCURRENCY={env['WEB_CONCURRENCY']}, PostgreSQL"
    )
    for line in results:
        print(line)


if __name__ == "__main__":
    main()
