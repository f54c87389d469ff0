"""Smoke tests for the fake Telnyx TeXML API and its media storage."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tests.fakes.compat_api import Body
from tests.fakes.telnyx_api import FakeTelnyx, TelnyxRequest, call_control_id

ACCOUNT = str(uuid.UUID(int=0xACC))
API_KEY = "KEY0123456789ABCDEF_smoke"
SID = str(uuid.UUID(int=1))
BODY = Body(size=150_000, seed=1)

LINK = re.compile(
    r"^http://127\.0\.0\.1:\d+/telephony-recorder-prod/(?P<account>[^/]+)/(?P<sid>[^/.]+)"
    r"\.(?P<ext>mp3|wav)\?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=\d{8}T\d{6}Z"
    r"&X-Amz-Expires=600&X-Amz-SignedHeaders=host&X-Amz-Signature=[0-9a-f]{64}$"
)


def sid(n: int) -> str:
    return str(uuid.UUID(int=n))


@pytest.fixture
def fake() -> Iterator[FakeTelnyx]:
    with FakeTelnyx(ACCOUNT, API_KEY) as server:
        yield server


@pytest.fixture
def api() -> Iterator[requests.Session]:
    """A client of the API: the key goes in every request."""
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {API_KEY}"
        yield session


def get(url: str, **kwargs: Any) -> requests.Response:
    """A plain GET, no credentials: how presigned links are meant to be fetched."""
    return requests.get(url, timeout=5, **kwargs)


def s3_code(response: requests.Response) -> str:
    found = re.search(r"<Code>([^<]+)</Code>", response.text)
    assert found, response.text
    return found[1]


def metadata(fake: FakeTelnyx, api: requests.Session, recording_sid: str) -> dict[str, Any]:
    response = api.get(fake.recording_json_url(recording_sid), timeout=5)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


# --------------------------------------------------------------------------- the API


def test_the_api_refuses_a_request_without_the_bearer_key(
    fake: FakeTelnyx, api: requests.Session
) -> None:
    fake.add_recording(SID, body=BODY)
    url = fake.recording_json_url(SID)
    anonymous = get(url)
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["code"] == "10009"
    assert anonymous.json()["errors"][0]["title"] == "Authentication failed"
    assert get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert get(url, auth=(ACCOUNT, API_KEY)).status_code == 401  # Basic is not Telnyx's
    assert api.get(url, timeout=5).status_code == 200
    assert [(r.server, r.auth_ok, r.status) for r in fake.requests] == [
        ("api", False, 401),
        ("api", False, 401),
        ("api", False, 401),
        ("api", True, 200),
    ]


@pytest.mark.parametrize(("fmt", "content_type"), [("mp3", "audio/mpeg"), ("wav", "audio/x-wav")])
def test_metadata_describes_the_recording_and_gives_a_working_presigned_link(
    fake: FakeTelnyx, api: requests.Session, fmt: str, content_type: str
) -> None:
    created = dt.datetime(2023, 8, 11, 19, 12, 11, tzinfo=dt.UTC)
    fake.add_recording(SID, body=BODY, fmt=fmt, channels=1, date_created=created, duration=12)
    document = metadata(fake, api, SID)
    uri = f"/v2/texml/Accounts/{ACCOUNT}/Recordings/{SID}.json"
    assert {k: v for k, v in document.items() if k != "media_url"} == {
        "account_sid": ACCOUNT,
        "call_sid": call_control_id(1),
        "conference_sid": None,
        "channels": 1,
        "date_created": "Fri, 11 Aug 2023 19:12:11 +0000",
        "date_updated": "Fri, 11 Aug 2023 19:12:23 +0000",
        "start_time": "Fri, 11 Aug 2023 19:12:11 +0000",
        "duration": "12",
        "error_code": None,
        "sid": SID,
        "source": "DialVerb",
        "status": "completed",
        "uri": uri,
        "subresources_uris": {
            "transcriptions": f"/v2/texml/Accounts/{ACCOUNT}/Recordings/{SID}/Transcriptions.json"
        },
    }
    assert fake.recording_json_url(SID) == fake.api_base_url + uri

    link = document["media_url"]
    found = LINK.match(link)
    assert found, link
    assert (found["account"], found["sid"], found["ext"]) == (ACCOUNT, SID, fmt)
    assert link.startswith(fake.storage_origin + "/")
    assert fake.storage_origin != fake.api_base_url

    media = get(link)
    assert media.status_code == 200
    assert media.content == BODY.read_all()
    assert hashlib.sha256(media.content).hexdigest() == BODY.sha256()
    assert media.headers["Content-Type"] == content_type
    assert media.headers["Content-Length"] == str(BODY.size)

    assert [(r.server, r.kind) for r in fake.requests] == [
        ("api", "metadata"),
        ("storage", "media"),
    ]
    (served,) = fake.media_gets(SID)
    # Not bytes_sent: compat_api counts a chunk after writing it, so the client may be first.
    assert (served.status, served.auth_ok) == (200, True)
    assert [r.status for r in fake.metadata_gets(SID)] == [200]
    assert fake.credential_leaks == []


def test_media_url_gives_a_link_like_a_callback_s_recording_url(fake: FakeTelnyx) -> None:
    fake.add_recording(SID, body=b"tiny")
    link = fake.media_url(SID)
    assert LINK.match(link)
    assert get(link).content == b"tiny"


def test_unknown_recordings_and_other_accounts_are_not_found(
    fake: FakeTelnyx, api: requests.Session
) -> None:
    fake.add_recording(SID, body=BODY)
    unknown = api.get(fake.recording_json_url(sid(99)), timeout=5)
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["code"] == "10005"
    other = fake.recording_json_url(SID).replace(ACCOUNT, sid(0xBAD))
    assert api.get(other, timeout=5).status_code == 404
    other_list = fake.recordings_list_url.replace(ACCOUNT, sid(0xBAD))
    assert api.get(other_list, timeout=5).status_code == 404


# --------------------------------------------------------------------------- the links


def test_a_tampered_or_unsigned_link_is_refused(fake: FakeTelnyx) -> None:
    fake.add_recording(SID, body=BODY)
    fake.add_recording(sid(2), body=b"another one")
    link = fake.media_url(SID)
    last = link[-1]
    tampered = [
        link[:-1] + ("0" if last != "0" else "1"),  # the signature
        link.replace(SID, sid(2)),  # another recording
        link.replace(".mp3?", ".wav?"),  # another format
        re.sub(r"X-Amz-Date=\d{8}", "X-Amz-Date=20991231", link),  # a later date
        link.replace("X-Amz-Expires=600", "X-Amz-Expires=86400"),  # a longer life
    ]
    for url in tampered:
        refused = get(url)
        assert refused.status_code == 403, url
        assert s3_code(refused) == "SignatureDoesNotMatch"
        assert refused.headers["Content-Type"] == "application/xml"
    unsigned = get(link.split("?")[0])
    assert (unsigned.status_code, s3_code(unsigned)) == (403, "AccessDenied")
    assert get(link).status_code == 200
    assert [(r.status, r.auth_ok) for r in fake.media_gets(SID)] == [
        (403, False),
        (403, False),
        (403, False),
        (403, False),
        (403, False),
        (200, True),
    ]


def test_an_expired_link_is_refused_and_a_fresh_one_works(
    fake: FakeTelnyx, api: requests.Session
) -> None:
    fake.add_recording(SID, body=BODY)
    old = metadata(fake, api, SID)["media_url"]
    from_callback = fake.media_url(SID)
    assert get(old).status_code == 200

    fake.expire_links()
    for link in (old, from_callback):
        expired = get(link)
        assert expired.status_code == 403
        assert s3_code(expired) == "AccessDenied"
        assert "<Message>Request has expired</Message>" in expired.text

    fresh = metadata(fake, api, SID)["media_url"]
    assert fresh != old
    assert get(fresh).content == BODY.read_all()
    assert get(fake.media_url(SID)).status_code == 200
    assert [r.status for r in fake.media_gets(SID)] == [200, 403, 403, 200, 200]


def test_an_authorization_header_on_the_storage_is_refused_and_kept_as_a_leak(
    fake: FakeTelnyx, api: requests.Session
) -> None:
    fake.add_recording(SID, body=BODY)
    link = metadata(fake, api, SID)["media_url"]
    leaked = api.get(link, timeout=5)  # the session adds the API key: the mistake to catch
    assert leaked.status_code == 400
    assert s3_code(leaked) == "InvalidArgument"
    assert "Only one auth mechanism allowed" in leaked.text
    assert API_KEY not in leaked.text
    other_scheme = get(link, auth=("user", "secret"))
    assert other_scheme.status_code == 400

    leaks = fake.credential_leaks
    assert [(r.server, r.kind, r.status) for r in leaks] == [
        ("storage", "media", 400),
        ("storage", "media", 400),
    ]
    assert leaks[0].headers["Authorization"] == f"Bearer {API_KEY}"
    fake.clear_requests()
    assert get(link).status_code == 200
    assert len(fake.credential_leaks) == 2  # kept across clear_requests


# --------------------------------------------------------------------------- deletion


def test_a_deleted_recording_is_gone_from_the_api_and_the_storage(
    fake: FakeTelnyx, api: requests.Session
) -> None:
    fake.add_recording(SID, body=BODY, delete_statuses=[500, 503])
    url = fake.recording_json_url(SID)
    link = metadata(fake, api, SID)["media_url"]
    assert [api.delete(url, timeout=5).status_code for _ in range(2)] == [500, 503]
    assert not fake.is_deleted(SID)
    deleted = api.delete(url, timeout=5)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert fake.is_deleted(SID)

    assert api.get(url, timeout=5).status_code == 404
    assert api.delete(url, timeout=5).status_code == 404
    gone = get(link)
    assert (gone.status_code, s3_code(gone)) == (404, "NoSuchKey")
    assert [r.status for r in fake.deletes(SID)] == [204]
    assert [r.status for r in fake.requests if r.kind == "delete"] == [500, 503, 204, 404]


# --------------------------------------------------------------------------- the listing


def list_all(
    fake: FakeTelnyx, api: requests.Session, first_url: str
) -> tuple[list[str], list[dict[str, Any]]]:
    """Every SID of the listing, following ``next_page_uri`` from the origin, and the pages."""
    sids: list[str] = []
    pages: list[dict[str, Any]] = []
    url: str | None = first_url
    while url is not None:
        response = api.get(url, timeout=5)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        sids += [item["sid"] for item in page["recordings"]]
        next_uri = page["next_page_uri"]
        assert next_uri is None or next_uri.startswith("/v2/texml/Accounts/")
        url = fake.api_base_url + next_uri if next_uri else None
    return sids, pages


def add_days(fake: FakeTelnyx) -> dict[str, dt.datetime]:
    """Seven recordings, one a day from 2023-08-07 to 2023-08-13, at noon UTC."""
    created = {sid(day): dt.datetime(2023, 8, day, 12, 0, 0, tzinfo=dt.UTC) for day in range(7, 14)}
    for recording_sid, when in created.items():
        fake.add_recording(recording_sid, body=b"x", date_created=when)
    return created


def test_the_listing_pages_newest_first_through_next_page_uri_with_a_date_filter(
    fake: FakeTelnyx, api: requests.Session
) -> None:
    add_days(fake)
    # The documented spelling, unencoded, as a URL a client might write by hand.
    sids, pages = list_all(
        fake, api, fake.recordings_list_url + "?PageSize=2&DateCreated>=2023-08-09"
    )
    assert sids == [sid(day) for day in (13, 12, 11, 10, 9)]
    assert [(p["page"], p["page_size"], p["start"], p["end"]) for p in pages] == [
        (0, 2, 0, 1),
        (1, 2, 2, 3),
        (2, 2, 4, 4),
    ]
    assert [p["next_page_uri"] is None for p in pages] == [False, False, True]
    assert pages[0]["previous_page_uri"] is None
    second = parse_qs(urlsplit(pages[0]["next_page_uri"]).query)
    assert second["Page"] == ["1"] and second["PageToken"][0]
    assert second["DateCreated>"] == ["2023-08-09"]
    assert all(p["first_page_uri"].startswith("/v2/texml/Accounts/") for p in pages)
    entry = pages[0]["recordings"][0]
    assert entry["date_created"] == "Sun, 13 Aug 2023 12:00:00 +0000"
    assert LINK.match(entry["media_url"]) and get(entry["media_url"]).content == b"x"

    # The same filters as a client library sends them (keys percent-encoded), both ends.
    between = {"PageSize": "3", "DateCreated>=": "2023-08-09", "DateCreated<=": "2023-08-11"}
    sids, _ = list_all(fake, api, fake.recordings_list_url + "?" + urlencode(between))
    assert sids == [sid(day) for day in (11, 10, 9)]
    since_noon = {"DateCreated>": "2023-08-11T12:00:00Z", "DateCreated<": "2023-08-12T11:59:59Z"}
    sids, _ = list_all(fake, api, fake.recordings_list_url + "?" + urlencode(since_noon))
    assert sids == [sid(11)]
    one_day = {"DateCreated": "2023-08-08"}
    assert list_all(fake, api, fake.recordings_list_url + "?" + urlencode(one_day))[0] == [sid(8)]
    assert [r.status for r in fake.lists()] == [200] * 6


def test_deleting_between_pages_neither_skips_nor_repeats(
    fake: FakeTelnyx, api: requests.Session
) -> None:
    add_days(fake)
    first = api.get(fake.recordings_list_url, params={"PageSize": 3}, timeout=5).json()
    seen = [item["sid"] for item in first["recordings"]]
    for item in first["recordings"]:  # what an archiver does with each page
        assert api.delete(fake.recording_json_url(item["sid"]), timeout=5).status_code == 204
    url = fake.api_base_url + first["next_page_uri"]
    rest, _ = list_all(fake, api, url)
    assert seen + rest == [sid(day) for day in range(13, 6, -1)]


def test_a_bad_listing_query_is_refused(fake: FakeTelnyx, api: requests.Session) -> None:
    add_days(fake)
    for params in (
        {"DateCreated>": "last tuesday"},
        {"PageSize": "0"},
        {"Page": "1", "PageSize": "2"},  # a page built by hand, without its token
        {"Page": "1", "PageToken": "PAnonsense"},
    ):
        refused = api.get(fake.recordings_list_url, params=params, timeout=5)
        assert refused.status_code == 400, params
        assert refused.json()["errors"][0]["detail"]


# --------------------------------------------------------------------------- media faults


def test_media_not_ready_then_failures_then_the_body(fake: FakeTelnyx) -> None:
    fake.add_recording(SID, body=BODY, not_ready=2, fail_statuses=[429, 503, 500], retry_after="7")
    link = fake.media_url(SID)
    answers = [get(link) for _ in range(6)]
    assert [a.status_code for a in answers] == [404, 404, 429, 503, 500, 200]
    assert [s3_code(a) for a in answers[:5]] == [
        "NoSuchKey",
        "NoSuchKey",
        "TooManyRequests",
        "SlowDown",
        "InternalError",
    ]
    assert answers[2].headers["Retry-After"] == "7"
    assert "Retry-After" not in answers[3].headers
    assert answers[5].content == BODY.read_all()


def test_a_broken_connection_mid_body_then_a_whole_one(fake: FakeTelnyx) -> None:
    fake.add_recording(SID, body=BODY, break_after=70_000)
    link = fake.media_url(SID)
    with pytest.raises(requests.exceptions.RequestException):  # ChunkedEncodingError here
        get(link).content  # noqa: B018
    assert get(link).content == BODY.read_all()  # faults_times=1
    first, second = fake.media_gets(SID)
    # The connection is closed only after the last chunk is counted, so this cannot race.
    assert (first.status, first.bytes_sent) == (200, 70_000)
    assert second.status == 200


def test_a_stall_holds_the_body_and_stop_does_not_wait_for_it() -> None:
    fake = FakeTelnyx(ACCOUNT, API_KEY).start()
    try:
        fake.add_recording(SID, body=BODY, stall_after=50_000, stall_seconds=30)
        response = requests.get(fake.media_url(SID), stream=True, timeout=(2, 0.5))
        assert response.headers["Content-Length"] == str(BODY.size)
        received = bytearray()
        with pytest.raises(requests.exceptions.ConnectionError):  # read timed out
            for chunk in response.iter_content(8192):
                received += chunk
        assert 40_000 < len(received) <= 50_000
        assert bytes(received) == BODY.read_range(0, len(received))
    finally:
        started = time.monotonic()
        fake.stop()
        assert time.monotonic() - started < 2


# --------------------------------------------------------------------------- the log


def test_the_log_and_the_hook_see_both_servers_in_order(
    fake: FakeTelnyx, api: requests.Session
) -> None:
    seen: list[TelnyxRequest] = []

    def hook(request: TelnyxRequest) -> None:
        seen.append(request)
        if request.method == "DELETE":
            raise AssertionError("kept, not raised in the client")

    fake.on_request = hook
    fake.add_recording(SID, body=b"abc")
    link = metadata(fake, api, SID)["media_url"]
    get(link)
    api.get(fake.recordings_list_url, timeout=5)
    api.delete(fake.recording_json_url(SID), timeout=5)
    expected = [
        ("api", "metadata", "GET"),
        ("storage", "media", "GET"),
        ("api", "list", "GET"),
        ("api", "delete", "DELETE"),
    ]
    assert [(r.server, r.kind, r.method, r.status) for r in seen] == [(*e, 0) for e in expected]
    log = fake.requests
    assert [(r.server, r.kind, r.method) for r in log] == expected
    assert [r.status for r in log] == [200, 200, 200, 204]
    assert len(fake.hook_errors) == 1
    log[0].status = 999  # a copy: the fake's own record is untouched
    assert fake.requests[0].status == 200
    fake.clear_requests()
    assert fake.requests == []


def test_call_control_ids_look_like_telnyx_ones() -> None:
    ids = {call_control_id(n) for n in range(50)}
    assert len(ids) == 50
    assert call_control_id(7) == call_control_id(7)
    assert all(re.fullmatch(r"v3:[A-Za-z0-9_-]{54}", i) for i in ids)
