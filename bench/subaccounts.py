"""Twilio subaccounts: how many account look-ups a burst of callbacks costs.

``python -m bench.subaccounts [--callbacks 1000] [--subaccounts 10] [--web-concurrency 1,2]``

Runs the Procfile's ``web`` (``release`` first) with ``TWILIO_SUBACCOUNTS=true``
against the fake Twilio API (a real HTTP server) holding ``--subaccounts``
subaccounts, and sends, 32 at a time:

1. ``--callbacks`` correctly signed callbacks spread over the subaccounts
   (each signed with its own subaccount's token);
2. ``--callbacks`` callbacks of a foreign account (not a subaccount of ours);
3. ``--callbacks`` forged callbacks naming a known subaccount (a wrong token);

and counts the ``GET /2010-04-01/Accounts/{Sid}.json`` requests the fake saw
for each. The database is ``DATABASE_URL`` when set, else a fresh SQLite file.
Nothing is archived (no worker runs): only the web's look-ups are measured.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.fakes.compat_api import FakeTwilioApi
from tests.helpers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    WEBHOOK_PATH,
    recording_params,
    recording_sid,
    sign,
)
from tests.procfile import process_env, web_process

FOREIGN = "AC" + "e" * 32


def burst(url: str, jobs: list[tuple[dict[str, str], str]]) -> tuple[dict[int, int], float]:
    session = requests.Session()

    def post(job: tuple[dict[str, str], str]) -> int:
        params, token = job
        headers = {"X-Twilio-Signature": sign(url, params, token)}
        return session.post(url, data=params, headers=headers, timeout=30).status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(32) as pool:
        codes = list(pool.map(post, jobs))
    seconds = time.perf_counter() - started
    counted: dict[int, int] = {}
    for code in codes:
        counted[code] = counted.get(code, 0) + 1
    return counted, seconds


def run(callbacks: int, subaccounts: int, concurrency: int, workdir: Path) -> list[str]:
    database_url = os.environ.get("DATABASE_URL") or (
        f"sqlite:///{workdir / f'bench-{concurrency}.sqlite3'}"
    )
    lines = []
    with FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN) as fake:
        subs = {f"AC{n + 1:032x}": "" for n in range(subaccounts)}
        for sid in subs:
            subs[sid] = fake.add_subaccount(sid, f"Site {sid[-2:]}")
        env = process_env(
            {
                "DATABASE_URL": database_url,
                "SECRET_KEY": "bench",
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "TWILIO_API_BASE_URL": fake.base_url,
                "TWILIO_SUBACCOUNTS": "true",
                "WEB_CONCURRENCY": str(concurrency),
                "LOG_FORMAT": "json",
            }
        )
        with web_process(env, workdir / f"web-{concurrency}.log", release=True) as web:
            url = f"{web.base_url}{WEBHOOK_PATH}"
            accounts = list(subs)

            def params(account: str, n: int) -> dict[str, str]:
                sid = recording_sid(n)
                return recording_params(
                    sid=sid, AccountSid=account, RecordingUrl=fake.recording_url(sid, account)
                )

            ours = [(params(accounts[n % len(accounts)], n), "") for n in range(callbacks)]
            ours = [(p, subs[p["AccountSid"]]) for p, _ in ours]
            foreign = [(params(FOREIGN, 10_000_000 + n), "its-own") for n in range(callbacks)]
            forged = [(params(accounts[0], 20_000_000 + n), "forged") for n in range(callbacks)]
            for name, jobs, counted_sids in (
                (f"{callbacks} callbacks of {subaccounts} subaccounts", ours, accounts),
                (f"{callbacks} callbacks of a foreign account", foreign, [FOREIGN]),
                (f"{callbacks} forged callbacks of a known subaccount", forged, [accounts[0]]),
            ):
                before = sum(fake.account_lookups[s] for s in counted_sids)
                codes, seconds = burst(url, jobs)
                lookups = sum(fake.account_lookups[s] for s in counted_sids) - before
                lines.append(
                    f"| {concurrency} | {name} | {lookups} | "
                    f"{', '.join(f'{n} x {c}' for c, n in sorted(codes.items()))} | "
                    f"{callbacks / seconds:,.0f}/s |"
                )
                print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--callbacks", type=int, default=1000)
    parser.add_argument("--subaccounts", type=int, default=10)
    parser.add_argument("--web-concurrency", default="1,2")
    args = parser.parse_args()
    print("| WEB_CONCURRENCY | burst | account look-ups | answers | rate |")
    print("| --- | --- | --- | --- | --- |", flush=True)
    with tempfile.TemporaryDirectory() as workdir:
        for concurrency in (int(n) for n in args.web_concurrency.split(",")):
            run(args.callbacks, args.subaccounts, concurrency, Path(workdir))


if __name__ == "__main__":
    main()
