"""Call details through the Procfile's processes: release, web and a worker, three
providers side by side, each call looked up at its own provider."""

from __future__ import annotations

from urllib.parse import urlencode

import requests
from sqlalchemy import select

from app.recordings.models import ArchiveState, CallDetailsState, Recording
from tests.archive.helpers import wait_for
from tests.archive.test_worker_process import all_in_state
from tests.fakes.compat_api import Body
from tests.helpers import (
    CALL_SID,
    SIGNALWIRE_PROJECT,
    SIGNALWIRE_SIGNING_KEY,
    SIGNALWIRE_TOKEN,
    TELNYX_API_KEY,
    TelnyxSigner,
    hmac_sha1_signature,
    recording_params,
    recording_sid,
    sign,
    signalwire_params,
    telnyx_params,
    uuid_n,
)
from tests.procfile import web_process


def details_settled(sessions, count: int) -> bool:  # type: ignore[no-untyped-def]
    with sessions() as session:
        states = session.execute(select(Recording.call_details_state)).scalars().all()
    return len(states) == count and CallDetailsState.PENDING.value not in states


def test_each_providers_call_details_arrive_beside_the_archive(
    worker_env, workers, fake_twilio, fake_signalwire, fake_telnyx, sessions, tmp_path
):
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
    twilio_sid, signalwire_sid, telnyx_sid = recording_sid(61), uuid_n(62, "r"), uuid_n(63, "r")
    fake_twilio.add_recording(twilio_sid, mono=Body(size=100_000, seed=61))
    fake_signalwire.add_recording(signalwire_sid, mono=Body(size=100_000, seed=62))
    fake_telnyx.add_recording(telnyx_sid, body=Body(size=100_000, seed=63))
    fake_twilio.add_call(CALL_SID, from_="+14155550100", to="+14155550199")
    fake_signalwire.add_call(uuid_n(1, "call"), from_="client:alice", to="+14155550111")
    telnyx_callback = telnyx_params(sid=telnyx_sid, media_url=fake_telnyx.media_url(telnyx_sid))
    # No call resource at Telnyx for this one: a 404, given up, the archive untouched.

    workers.env = env
    with web_process(env, tmp_path / "web.log") as web:
        workers.start()
        base = f"http://127.0.0.1:{web.port}/webhooks"
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
        body = urlencode(telnyx_callback).encode()
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
        wait_for(lambda: details_settled(sessions, 3), 60, "three look-ups")
    with sessions() as session:
        rows = {r.provider: r for r in session.execute(select(Recording)).scalars()}
    assert (rows["twilio"].from_number, rows["twilio"].to_number) == (
        "+14155550100",
        "+14155550199",
    )
    assert rows["signalwire"].from_number == "client:alice"
    assert rows["telnyx"].call_details_state == CallDetailsState.UNAVAILABLE
    assert "no such call" in (rows["telnyx"].call_details_error or "")
    assert all(r.attempts == 1 for r in rows.values())
    log = workers.started[0].log()
    for number in ("4155550100", "4155550199", "4155550111"):
        assert number not in log, "a phone number reached the worker's log"
