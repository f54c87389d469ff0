"""Smoke tests for the test doubles: the fake Twilio API and the SeaweedFS manager."""

from __future__ import annotations

import base64
import hashlib
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.fakes.compat_api import Body, FakeTwilioApi, RecordedRequest
from tests.fakes.seaweed import SeaweedS3

ACCOUNT = "AC" + "a" * 32
TOKEN = "smoke-token"
SID = "RE" + "1" * 32
MONO = Body(size=150_000, seed=1)
DUAL = b"dual-channel-bytes" * 1000


# --------------------------------------------------------------------------- Body


def test_a_body_is_deterministic_streamed_and_not_periodic() -> None:
    body = Body(size=200_003, seed=7)
    data = body.read_all()
    assert len(data) == body.size
    assert data == Body(size=200_003, seed=7).read_all()
    assert data != Body(size=200_003, seed=8).read_all()
    assert b"".join(body.iter_chunks(7_001)) == data
    assert body.sha256() == hashlib.sha256(data).hexdigest()
    assert body.md5() == hashlib.md5(data).hexdigest()  # noqa: S324 - what S3 ETags are
    assert data[:65536] != data[65536:131072]
    assert data[8:65536] == data[65536 + 8 : 131072]  # only the first 8 bytes differ


# --------------------------------------------------------------------------- fake Twilio


@pytest.fixture
def api() -> Iterator[FakeTwilioApi]:
    with FakeTwilioApi(ACCOUNT, TOKEN) as fake:
        yield fake


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.auth = (ACCOUNT, TOKEN)
        yield session


def get(http: requests.Session, url: str, **kwargs: Any) -> requests.Response:
    return http.get(url, timeout=5, **kwargs)


def test_mono_and_dual_are_served_with_auth(api: FakeTwilioApi, http: requests.Session) -> None:
    api.add_recording(SID, mono=MONO, dual=DUAL)
    url = api.recording_url(SID)
    assert url == f"{api.base_url}/2010-04-01/Accounts/{ACCOUNT}/Recordings/{SID}"

    mono = get(http, url + ".mp3")
    assert mono.status_code == 200
    assert mono.content == MONO.read_all()
    assert mono.headers["Content-Type"] == "audio/mpeg"
    assert mono.headers["Content-Length"] == str(MONO.size)
    assert mono.raw.version == 11 and mono.headers.get("Connection") != "close"

    dual = get(http, url + ".wav", params={"RequestedChannels": "2"})
    assert (dual.status_code, dual.content) == (200, DUAL)
    assert dual.headers["Content-Type"] == "audio/x-wav"
    assert get(http, url + ".mp3", params={"RequestedChannels": "1"}).content == MONO.read_all()
    assert get(http, url).headers["Content-Type"] == "audio/x-wav"  # no extension: WAV

    gets = api.media_gets(SID)
    assert [(g.query, g.status, g.bytes_sent) for g in gets] == [
        ({}, 200, MONO.size),
        ({"RequestedChannels": "2"}, 200, len(DUAL)),
        ({"RequestedChannels": "1"}, 200, MONO.size),
        ({}, 200, MONO.size),
    ]
    assert all(g.auth_ok and g.recording_sid == SID for g in gets)


def test_auth_and_unknown_resources(api: FakeTwilioApi, http: requests.Session) -> None:
    api.add_recording(SID, mono=MONO)
    url = api.recording_url(SID) + ".mp3"

    anonymous = requests.get(url, timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == 20003
    assert "Basic" in anonymous.headers["WWW-Authenticate"]
    assert requests.get(url, auth=(ACCOUNT, "wrong"), timeout=5).status_code == 401

    other_account = url.replace(ACCOUNT, "AC" + "b" * 32)
    assert get(http, other_account).status_code == 404
    unknown = get(http, api.recording_url("RE" + "9" * 32) + ".mp3")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == 20404
    assert unknown.headers["Content-Length"] == str(len(unknown.content))

    assert [(r.auth_ok, r.status) for r in api.requests] == [
        (False, 401),
        (False, 401),
        (True, 404),
        (True, 404),
    ]


def test_two_channels_refused_when_unsupported(api: FakeTwilioApi, http: requests.Session) -> None:
    api.add_recording(SID, mono=MONO, dual=DUAL, dual_unsupported=True)
    api.add_recording("RE" + "2" * 32, mono=MONO)  # no dual at all
    for sid in (SID, "RE" + "2" * 32):
        refused = get(http, api.recording_url(sid) + ".mp3", params={"RequestedChannels": "2"})
        assert refused.status_code == 400
        assert refused.json()["status"] == 400
    assert get(http, api.recording_url(SID) + ".mp3").status_code == 200


def test_not_ready_then_statuses_then_media(api: FakeTwilioApi, http: requests.Session) -> None:
    api.add_recording(SID, mono=MONO, not_ready=2, fail_statuses=[429, 503], retry_after="7")
    url = api.recording_url(SID) + ".mp3"
    answers = [get(http, url) for _ in range(5)]
    assert [a.status_code for a in answers] == [404, 404, 429, 503, 200]
    assert answers[2].headers["Retry-After"] == "7"
    assert "Retry-After" not in answers[3].headers
    assert answers[4].content == MONO.read_all()
    assert [g.status for g in api.media_gets(SID)] == [404, 404, 429, 503, 200]


def test_a_broken_connection_mid_body_then_a_whole_one(
    api: FakeTwilioApi, http: requests.Session
) -> None:
    api.add_recording(SID, mono=MONO, break_after=70_000)
    url = api.recording_url(SID) + ".mp3"
    with pytest.raises(requests.exceptions.RequestException):  # ChunkedEncodingError here
        get(http, url).content  # noqa: B018
    assert get(http, url).content == MONO.read_all()  # faults_times=1
    first, second = api.media_gets(SID)
    assert (first.status, first.bytes_sent) == (200, 70_000)
    assert (second.status, second.bytes_sent) == (200, MONO.size)


def test_a_stall_holds_the_body_and_stop_does_not_wait_for_it(http: requests.Session) -> None:
    fake = FakeTwilioApi(ACCOUNT, TOKEN).start()
    try:
        fake.add_recording(SID, mono=MONO, stall_after=50_000, stall_seconds=30)
        response = http.get(fake.recording_url(SID) + ".mp3", stream=True, timeout=(2, 0.5))
        assert response.headers["Content-Length"] == str(MONO.size)
        received = bytearray()
        with pytest.raises(requests.exceptions.ConnectionError):  # read timed out
            for chunk in response.iter_content(8192):
                received += chunk
        # urllib3 may keep a partial chunk buffered when the read times out
        assert 40_000 < len(received) <= 50_000
        assert bytes(received) == MONO.read_range(0, len(received))
        assert fake.media_gets(SID)[0].bytes_sent == 50_000
    finally:
        started = time.monotonic()
        fake.stop()
        assert time.monotonic() - started < 2


def test_delete_then_gone(api: FakeTwilioApi, http: requests.Session) -> None:
    api.add_recording(SID, mono=MONO, delete_statuses=[500])
    json_url = api.recording_url(SID) + ".json"
    assert http.delete(json_url, timeout=5).status_code == 500
    assert not api.is_deleted(SID)
    deleted = http.delete(json_url, timeout=5)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert api.is_deleted(SID)
    assert http.delete(json_url, timeout=5).status_code == 404
    assert get(http, api.recording_url(SID) + ".mp3").status_code == 404
    assert [r.status for r in api.deletes(SID)] == [204]
    assert [r.status for r in api.requests if r.method == "DELETE"] == [500, 204, 404]


def test_the_log_and_the_hook(api: FakeTwilioApi, http: requests.Session) -> None:
    seen: list[RecordedRequest] = []

    def hook(request: RecordedRequest) -> None:
        seen.append(request)
        if request.method == "DELETE":
            raise AssertionError("kept, not raised in the client")

    api.on_request = hook
    api.add_recording(SID, mono=MONO)
    before = time.monotonic()
    get(http, api.recording_url(SID) + ".mp3")
    http.delete(api.recording_url(SID) + ".json", timeout=5)
    assert [(r.method, r.status) for r in seen] == [("GET", 0), ("DELETE", 0)]
    log = api.requests
    assert [(r.method, r.status, r.recording_sid) for r in log] == [
        ("GET", 200, SID),
        ("DELETE", 204, SID),
    ]
    assert before <= log[0].time <= log[1].time <= time.monotonic()
    assert log[0].path.endswith(f"{SID}.mp3")
    assert len(api.hook_errors) == 1
    log[0].status = 999  # a copy: the fake's own record is untouched
    assert api.requests[0].status == 200


def test_a_big_body_streams(api: FakeTwilioApi, http: requests.Session) -> None:
    body = Body(size=32 * 1024 * 1024 + 5, seed=3)
    api.add_recording(SID, mono=body)
    digest = hashlib.sha256()
    with get(http, api.recording_url(SID) + ".mp3", stream=True) as response:
        for chunk in response.iter_content(1 << 20):
            digest.update(chunk)
    assert digest.hexdigest() == body.sha256()


# --------------------------------------------------------------------------- SeaweedFS


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    server = SeaweedS3(tmp_path_factory.mktemp("seaweed"))
    server.start()
    yield server
    server.kill()  # a graceful stop costs 10 s (see tests/fakes/seaweed.py)


def b64sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_seaweed_keeps_objects_across_a_restart_and_a_kill(seaweed: SeaweedS3) -> None:
    seaweed.create_bucket("smoke")
    seaweed.create_bucket("smoke")  # idempotent
    s3 = seaweed.client()
    data = Body(size=300_000, seed=5).read_all()
    s3.put_object(Bucket="smoke", Key="a/b.mp3", Body=data)
    head = s3.head_object(Bucket="smoke", Key="a/b.mp3")
    assert head["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'  # noqa: S324

    endpoint = seaweed.endpoint_url
    # SIGTERM, then SIGKILL: weed never exits on SIGTERM within 15 s (tests/fakes/seaweed.py),
    # so the default 10 s wait always elapses; 2 s still lets it start its graceful stop.
    seaweed.restart(stop_timeout=2)
    assert seaweed.endpoint_url == endpoint
    s3 = seaweed.client()
    assert s3.get_object(Bucket="smoke", Key="a/b.mp3")["Body"].read() == data
    s3.put_object(Bucket="smoke", Key="after-restart", Body=b"x")

    seaweed.kill()
    seaweed.start()
    assert s3.get_object(Bucket="smoke", Key="after-restart")["Body"].read() == b"x"
    assert s3.get_object(Bucket="smoke", Key="a/b.mp3")["Body"].read() == data


def test_seaweed_accepts_any_credentials(seaweed: SeaweedS3) -> None:
    other = boto3.session.Session().client(
        "s3",
        endpoint_url=seaweed.endpoint_url,
        aws_access_key_id="someone-else",
        aws_secret_access_key="anything",
        region_name="eu-west-3",
        config=Config(s3={"addressing_style": "path"}),
    )
    seaweed.create_bucket("anyone")
    other.put_object(Bucket="anyone", Key="k", Body=b"v")
    assert seaweed.client().get_object(Bucket="anyone", Key="k")["Body"].read() == b"v"


def test_seaweed_sha256_checksums(seaweed: SeaweedS3, tmp_path: Path) -> None:
    seaweed.create_bucket("checksums")
    s3 = seaweed.client()
    data = b"checksum me" * 100
    put = s3.put_object(Bucket="checksums", Key="one", Body=data, ChecksumAlgorithm="SHA256")
    assert put["ChecksumSHA256"] == b64sha256(data)
    head = s3.head_object(Bucket="checksums", Key="one", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == b64sha256(data)
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket="checksums", Key="bad", Body=data, ChecksumSHA256=b64sha256(b"x"))
    assert refused.value.response["Error"]["Code"] == "BadDigest"

    part = 5 * 1024 * 1024
    big = Body(size=2 * part + 1, seed=9).read_all()
    s3.upload_fileobj(
        io.BytesIO(big),
        "checksums",
        "multi",
        ExtraArgs={"ChecksumAlgorithm": "SHA256"},
        Config=TransferConfig(multipart_threshold=part, multipart_chunksize=part),
    )
    head = s3.head_object(Bucket="checksums", Key="multi", ChecksumMode="ENABLED")
    parts = [big[i : i + part] for i in range(0, len(big), part)]
    composite = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()
    assert head["ChecksumSHA256"] == f"{base64.b64encode(composite).decode()}-3"
    assert head["ETag"].endswith('-3"')
