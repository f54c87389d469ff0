"""TWILIO_SUBACCOUNTS through the Procfile's web and worker: subaccounts' recordings
archived with the main credentials; a foreign account costs one look-up."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import requests

from app.recordings.models import ArchiveState
from tests.archive.helpers import recording, wait_for
from tests.archive.test_worker_process import (  # noqa: F401 - fixtures
    all_in_state,
    worker_env,
    workers,
)
from tests.fakes.compat_api import Body
from tests.helpers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    WEBHOOK_PATH,
    recording_params,
    recording_sid,
    sign,
)
from tests.procfile import web_process

SUBACCOUNTS = {"AC" + "5" * 32: "Shop", "AC" + "6" * 32: "Depot"}
FOREIGN = "AC" + "e" * 32


def basic_user(headers: dict[str, str]) -> str:
    value = headers.get("Authorization", "").partition(" ")[2]
    return base64.b64decode(value).decode().partition(":")[0]


def test_subaccounts_are_archived_with_the_main_credentials_and_a_foreign_burst_costs_one_look_up(
    worker_env,  # noqa: F811 - the fixture imported above
    workers,  # noqa: F811
    fake_twilio,
    sessions,
    tmp_path,
):
    tokens = {sid: fake_twilio.add_subaccount(sid, name) for sid, name in SUBACCOUNTS.items()}
    bodies = {}
    env = {**worker_env, "TWILIO_SUBACCOUNTS": "true", "WEB_CONCURRENCY": "1"}
    workers.env = env
    with web_process(env, tmp_path / "web.log") as web:
        workers.start()
        url = f"{web.base_url}{WEBHOOK_PATH}"

        def post(params: dict[str, str], token: str) -> int:
            headers = {"X-Twilio-Signature": sign(url, params, token)}
            return requests.post(url, data=params, headers=headers, timeout=30).status_code

        jobs = []
        for n in range(8):
            account = list(SUBACCOUNTS)[n % 2]
            sid = recording_sid(300 + n)
            bodies[sid] = Body(size=20_000 + n, seed=n)
            fake_twilio.add_recording(sid, mono=bodies[sid], account_sid=account)
            params = recording_params(
                sid=sid,
                AccountSid=account,
                RecordingUrl=fake_twilio.recording_url(sid, account),
                RecordingChannels="1",
            )
            jobs.append((params, tokens[account]))
        foreign = [
            (
                recording_params(
                    sid=recording_sid(900 + n),
                    AccountSid=FOREIGN,
                    RecordingUrl=fake_twilio.recording_url(recording_sid(900 + n), FOREIGN),
                ),
                "a-token-of-its-own",
            )
            for n in range(100)
        ]
        with ThreadPoolExecutor(16) as pool:  # concurrent: the look-ups are shared
            codes = list(pool.map(lambda job: post(*job), jobs + foreign))
        assert codes == [204] * len(jobs) + [403] * len(foreign)
        wait_for(lambda: all_in_state(sessions, ArchiveState.DONE, len(jobs)), 60, "the archive")
        web_log = web.process.log()
        metrics = requests.get(f"{web.base_url}/metrics", timeout=10).text
    assert 'recording_archiver_account_lookups_total{outcome="subaccount"} 2.0' in metrics
    assert 'recording_archiver_account_lookups_total{outcome="not_ours"} 1.0' in metrics
    assert fake_twilio.account_lookups == {**dict.fromkeys(SUBACCOUNTS, 1), FOREIGN: 1}
    for sid, body in bodies.items():
        row = recording(sessions, sid)
        assert row.account_sid in SUBACCOUNTS
        assert f"/{row.account_sid}/" in row.key  # the object key names the subaccount
        assert row.sha256 == body.sha256() and row.original_deleted_at is not None
        for request in fake_twilio.media_gets(sid) + fake_twilio.deletes(sid):
            assert request.path.startswith(f"/2010-04-01/Accounts/{row.account_sid}/")
            assert basic_user(request.headers) == ACCOUNT_SID  # the main credentials
    for token in [AUTH_TOKEN, *tokens.values()]:
        assert token not in web_log
        for process in workers.started:
            assert token not in process.log()


def test_the_scheduled_run_archives_every_subaccounts_missed_recordings_closed_first(
    worker_env,  # noqa: F811 - the fixture imported above
    workers,  # noqa: F811
    fake_twilio,
    sessions,
):
    closed, active = "AC" + "2" * 32, "AC" + "1" * 32
    fake_twilio.add_subaccount(active, "Open shop")
    fake_twilio.add_subaccount(closed, "Old shop", status="closed")
    for n, account in enumerate((active, closed, closed)):
        fake_twilio.add_recording(recording_sid(700 + n), mono=Body(5_000, n), account_sid=account)
    workers.env = {**worker_env, "TWILIO_SUBACCOUNTS": "true"}
    worker = workers.start(RECONCILE_EVERY_MINUTES="60")
    wait_for(lambda: all_in_state(sessions, ArchiveState.DONE, 3), 60, "the scheduled archive")
    wait_for(lambda: "scheduled reconcile of twilio AC1" in worker.log(), 30, "the summary")
    log = worker.log()
    said = [
        log.index(f"scheduled reconcile of twilio {closed} (Old shop, closed): 2 listed, 2 queued"),
        log.index(f"scheduled reconcile of twilio {ACCOUNT_SID} (Main, active): 0 listed"),
        log.index(
            f"scheduled reconcile of twilio {active} (Open shop, active): 1 listed, 1 queued"
        ),
    ]
    assert said == sorted(said)  # the closed subaccount first
    for n in range(3):
        assert recording(sessions, recording_sid(700 + n)).original_deleted_at is not None
