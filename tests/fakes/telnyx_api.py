"""A fake of Telnyx's TeXML recordings API and of its media storage: two real HTTP servers.

Telnyx keeps the API (``https://api.telnyx.com``) and the media apart: a recording's
``media_url`` is a short-lived presigned S3 link on another host, which must be
fetched *without* the API key. A fake on one port could not catch a worker that
sends its key to the storage host, or keeps a link past its expiry, so this one
runs two servers on 127.0.0.1 (different ports), started and stopped together::

    API      GET    /v2/texml/Accounts/{A}/Recordings/{R}.json   metadata, with a fresh media_url
             DELETE /v2/texml/Accounts/{A}/Recordings/{R}.json   204
             GET    /v2/texml/Accounts/{A}/Recordings.json       a page, newest first
             GET    /v2/texml/Accounts/{A}/Calls/{C}             a call added with ``add_call``; else 404
    storage  GET    /telephony-recorder-prod/{A}/{R}.mp3|wav?X-Amz-...   the media

The API wants ``Authorization: Bearer <api_key>`` (else 401, Telnyx's JSON errors).
The storage host wants a link this fake signed (HMAC-SHA256 over path, date and
expiry, with a secret only the fake knows) that has not expired by the fake's
clock, and refuses any request carrying an ``Authorization`` header with 400, as
S3 does; such requests are also kept in :attr:`FakeTelnyx.credential_leaks`.

The HTTP machinery (threaded server, keep-alive, chunked streaming of a
:class:`~tests.fakes.compat_api.Body`, stalls and breaks, a ``stop()`` that does
not wait for stalled responses) is compat_api's: each server is a
:class:`~tests.fakes.compat_api.FakeCompatApi` whose request handling is
replaced by this fake's. The request log, ``on_request`` and ``hook_errors``
behave as there, with one log for both servers in arrival order.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import email.utils
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit
from xml.sax.saxutils import escape

from tests.fakes.compat_api import (
    Body,
    FakeCall,
    FakeCompatApi,
    Payload,
    RecordedRequest,
    _Answer,
    _drain_request_body,
    _Fault,
    broken_page,
)
from tests.fakes.server import Handler, Served

API_PREFIX = "/v2/texml"
BUCKET = "telephony-recorder-prod"
LINK_EXPIRES = 600  # seconds, what Telnyx's links carry
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 1000

_RECORDING_ROUTE = re.compile(
    rf"^{API_PREFIX}/Accounts/(?P<account>[^/]+)/Recordings/(?P<sid>[^/.]+)\.json$"
)
_LIST_ROUTE = re.compile(rf"^{API_PREFIX}/Accounts/(?P<account>[^/]+)/Recordings\.json$")
_MEDIA_ROUTE = re.compile(rf"^/{BUCKET}/(?P<account>[^/]+)/(?P<sid>[^/.]+)\.(?P<ext>mp3|wav)$")

_CALL_ROUTE = re.compile(rf"^{API_PREFIX}/Accounts/(?P<account>[^/]+)/Calls/(?P<sid>[^/]+)$")

_MEDIA_TYPES = {"mp3": "audio/mpeg", "wav": "audio/x-wav"}
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def call_control_id(n: int) -> str:
    """A deterministic CallSid shaped like Telnyx's: ``v3:`` and 54 url-safe base64 characters."""
    digest = hashlib.sha512(f"fake-telnyx-call:{n}".encode()).digest()
    return "v3:" + base64.urlsafe_b64encode(digest).decode()[:54]


def rfc2822(moment: dt.datetime) -> str:
    """How the TeXML API writes dates: ``Fri, 11 Aug 2023 19:12:11 +0000``."""
    return email.utils.format_datetime(moment.astimezone(dt.UTC))


# --------------------------------------------------------------------------- records


@dataclass
class TelnyxRequest(RecordedRequest):
    """A :class:`RecordedRequest` that also says which server saw it.

    ``server`` is ``"api"`` or ``"storage"``. ``kind`` is ``"metadata"``,
    ``"delete"`` or ``"list"`` on the API, ``"media"`` on the storage host, else
    ``"other"``. ``auth_ok`` means a good Bearer key on the API, and a link with a
    valid signature that had not expired on the storage host.
    """

    server: str = "api"

    def snapshot(self) -> TelnyxRequest:
        return dataclasses.replace(self, query=dict(self.query), headers=dict(self.headers))


@dataclass
class _Recording:
    sid: str
    body: Payload
    channels: int
    fmt: str
    call_sid: str
    date_created: dt.datetime
    status: str
    duration: int
    not_ready: int
    fail_statuses: list[int]
    retry_after: str | None
    stall_after: int | None
    stall_seconds: float
    break_after: int | None
    faults_left: int
    delete_statuses: list[int]
    deleted: bool = False

    def order_key(self) -> tuple[dt.datetime, str]:
        """Listings are newest first; the SID breaks ties so the order is total."""
        return (self.date_created, self.sid)


# --------------------------------------------------------------------------- errors

# Telnyx's error codes for the statuses this fake answers; a client should go by
# the HTTP status, these only make the bodies look like the real ones.
_TELNYX_ERRORS: dict[int, tuple[str, str]] = {
    400: ("10015", "Bad Request"),
    401: ("10009", "Authentication failed"),
    404: ("10005", "Resource not found"),
    405: ("10006", "Method not allowed"),
    429: ("10011", "Too many requests"),
    500: ("10007", "Unexpected error"),
    503: ("10008", "Service unavailable"),
}

_S3_CODES: dict[int, str] = {
    400: "InvalidRequest",
    403: "AccessDenied",
    404: "NoSuchKey",
    429: "TooManyRequests",
    500: "InternalError",
    503: "SlowDown",
}


def telnyx_error(status: int, detail: str | None = None) -> _Answer:
    """An error answer with a JSON body shaped like Telnyx's v2 errors."""
    code, title = _TELNYX_ERRORS.get(status, (str(status), "Error"))
    error = {"code": code, "title": title, "detail": detail or title}
    return _Answer(status=status, json_body={"errors": [error]})


def s3_error(status: int, code: str | None = None, message: str = "", **extra: str) -> _Answer:
    """An error answer with an XML body shaped like S3's (which Telnyx's storage is)."""
    code = code or _S3_CODES.get(status, "InternalError")
    request_id = secrets.token_hex(8).upper()
    parts = [f"<Code>{escape(code)}</Code>", f"<Message>{escape(message or code)}</Message>"]
    parts += [f"<{name}>{escape(value)}</{name}>" for name, value in extra.items()]
    parts.append(f"<RequestId>{request_id}</RequestId>")
    xml = '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>"
    return _Answer(
        status=status,
        payload=xml.encode(),
        content_type="application/xml",
        headers={"x-amz-request-id": request_id},
    )


# --------------------------------------------------------------------------- the servers


class _Side(FakeCompatApi):
    """One of the two servers: compat_api's server and streaming, with this fake's routing.

    It shares the owner's lock, so the one log and every ``bytes_sent`` (which
    compat_api updates under ``self._lock`` while streaming) are guarded alike.
    """

    def __init__(self, owner: FakeTelnyx, role: str, port: int) -> None:
        super().__init__(owner.account_sid, "", port=port)
        self.owner = owner
        self.role = role
        self._lock = owner._lock

    def _handle(self, handler: Handler) -> None:
        self.owner._handle(self, handler)


class FakeTelnyx(Served):
    """Telnyx's TeXML recordings API and its media storage, served for real on 127.0.0.1.

    Use as a context manager, or call :meth:`start` / :meth:`stop`. The links'
    expiry is judged by the fake's own clock (real time plus an offset the test
    moves with :meth:`advance_clock` or :meth:`expire_links`), so a test can
    expire links without waiting ten minutes.
    """

    def __init__(
        self, account_sid: str, api_key: str, port: int = 0, storage_port: int = 0
    ) -> None:
        self.account_sid = account_sid
        self.api_key = api_key
        self.on_request: Callable[[TelnyxRequest], None] | None = None
        # Faults for the next listing pages, one each (see ``compat_api.broken_page``).
        self.list_faults: list[str] = []
        self.hook_errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._secret = secrets.token_bytes(32)
        self._clock_offset = 0.0
        self._recordings: dict[str, _Recording] = {}
        self._calls: dict[str, FakeCall] = {}
        self._added = 0
        self._log: list[TelnyxRequest] = []
        self._leaks: list[TelnyxRequest] = []
        self._api = _Side(self, "api", port)
        self._storage = _Side(self, "storage", storage_port)

    # -- lifecycle

    def start(self) -> FakeTelnyx:
        self._api.start()
        try:
            self._storage.start()
        except BaseException:
            self._api.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop both servers; returns quickly even while a response is stalled or streaming."""
        self._storage.stop()
        self._api.stop()

    @property
    def api_base_url(self) -> str:
        """What stands for ``https://api.telnyx.com`` (no ``/v2``: paths carry it, as in URIs)."""
        return self._api.origin

    @property
    def storage_origin(self) -> str:
        """The media host's origin; only presigned links under it serve anything."""
        return self._storage.origin

    def recording_json_url(self, recording_sid: str) -> str:
        """The recording's metadata (GET) and deletion (DELETE) URL on the API."""
        return f"{self.api_base_url}{self._recording_uri(recording_sid)}"

    @property
    def recordings_list_url(self) -> str:
        return f"{self.api_base_url}{API_PREFIX}/Accounts/{self.account_sid}/Recordings.json"

    # -- the clock

    def now(self) -> dt.datetime:
        """The fake's clock: links are dated and judged by it."""
        with self._lock:
            offset = self._clock_offset
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset)

    def advance_clock(self, seconds: float) -> None:
        with self._lock:
            self._clock_offset += seconds

    def expire_links(self) -> None:
        """Every link issued so far is expired from now on; links issued later work.

        Done by moving the clock past the links' lifetime, which is what happens
        to a worker that holds a ``RecordingUrl`` for more than ten minutes.
        """
        self.advance_clock(LINK_EXPIRES + 1)

    # -- scripting

    def add_recording(
        self,
        recording_sid: str,
        *,
        body: Payload,
        channels: int = 2,
        fmt: str = "mp3",
        call_sid: str | None = None,
        date_created: dt.datetime | None = None,
        status: str = "completed",
        duration: int = 12,
        not_ready: int = 0,
        fail_statuses: Sequence[int] = (),
        retry_after: str | None = None,
        stall_after: int | None = None,
        stall_seconds: float = 30,
        break_after: int | None = None,
        faults_times: int = 1,
        delete_statuses: Sequence[int] = (),
    ) -> None:
        """Hold a recording (replacing any with the same SID).

        ``fmt`` (``"mp3"`` or ``"wav"``) is the one file the storage serves;
        ``channels`` is metadata only. ``date_created`` (UTC if naive, to the
        second) defaults to the fake's clock; ``call_sid`` to a
        :func:`call_control_id`. ``status`` is metadata only: the media is served
        whatever it says.

        Media GETs with a good link answer, in this order: ``not_ready`` 404s,
        then one answer per ``fail_statuses`` entry (429s carry
        ``Retry-After: retry_after`` if given), then the media. The first
        ``faults_times`` GETs that would succeed stall after ``stall_after`` bytes
        for ``stall_seconds`` and then close, or close after ``break_after``
        bytes; the Content-Length is always the full size. DELETEs answer
        ``delete_statuses`` in order, then 204; after that the API and the
        storage answer 404 for this recording, old links included.
        """
        if fmt not in _MEDIA_TYPES:
            raise ValueError(f"fmt must be one of {sorted(_MEDIA_TYPES)}")
        if channels not in (1, 2):
            raise ValueError("channels must be 1 or 2")
        created = date_created or self.now()
        if created.tzinfo is None:
            created = created.replace(tzinfo=dt.UTC)
        with self._lock:
            self._added += 1
            number = self._added
        recording = _Recording(
            sid=recording_sid,
            body=body,
            channels=channels,
            fmt=fmt,
            call_sid=call_sid or call_control_id(number),
            date_created=created.astimezone(dt.UTC).replace(microsecond=0),
            status=status,
            duration=duration,
            not_ready=not_ready,
            fail_statuses=list(fail_statuses),
            retry_after=retry_after,
            stall_after=stall_after,
            stall_seconds=stall_seconds,
            break_after=break_after,
            faults_left=faults_times if stall_after is not None or break_after is not None else 0,
            delete_statuses=list(delete_statuses),
        )
        with self._lock:
            self._recordings[recording_sid] = recording

    def add_call(
        self,
        call_sid: str,
        from_: str = "+14155550100",
        to: str = "+14155550199",
        **extra: Any,
    ) -> FakeCall:
        """Serve the TeXML call resource ``call_sid`` (see ``FakeCall`` for ``extra``)."""
        call = FakeCall(call_sid, from_, to, **extra)
        with self._lock:
            self._calls[call_sid] = call
        return call

    def call_gets(self, call_sid: str) -> list[TelnyxRequest]:
        with self._lock:
            return [
                r.snapshot()
                for r in self._log
                if r.kind == "call" and r.path.endswith(f"/Calls/{call_sid}")
            ]

    def media_url(self, recording_sid: str) -> str:
        """A fresh presigned link to the recording's media: what a callback's ``RecordingUrl`` is."""
        now = self.now()
        with self._lock:
            recording = self._recordings[recording_sid]
        return self._presign(recording, now)

    # -- inspection

    @property
    def requests(self) -> list[TelnyxRequest]:
        """A copy of every request to either server so far, in arrival order."""
        with self._lock:
            return [r.snapshot() for r in self._log]

    @property
    def credential_leaks(self) -> list[TelnyxRequest]:
        """Storage requests that carried an ``Authorization`` header.

        Not emptied by :meth:`clear_requests`, so a test can assert at the end
        that the API key (or anything else) never went to the media host.
        """
        with self._lock:
            return [r.snapshot() for r in self._leaks]

    def _select(self, server: str, method: str, kind: str, sid: str) -> list[TelnyxRequest]:
        return [
            r
            for r in self.requests
            if (r.server, r.method, r.kind, r.recording_sid) == (server, method, kind, sid)
        ]

    def media_gets(self, recording_sid: str) -> list[TelnyxRequest]:
        """Every GET of this recording's media on the storage host, whatever it was answered."""
        return self._select("storage", "GET", "media", recording_sid)

    def metadata_gets(self, recording_sid: str) -> list[TelnyxRequest]:
        """Every GET of this recording's ``.json`` on the API, whatever it was answered."""
        return self._select("api", "GET", "metadata", recording_sid)

    def deletes(self, recording_sid: str) -> list[TelnyxRequest]:
        """The DELETEs of this recording that were answered 204."""
        return [
            r for r in self._select("api", "DELETE", "delete", recording_sid) if r.status == 204
        ]

    def lists(self) -> list[TelnyxRequest]:
        """Every request for a page of the recordings listing."""
        return [r for r in self.requests if r.kind == "list"]

    def is_deleted(self, recording_sid: str) -> bool:
        with self._lock:
            recording = self._recordings.get(recording_sid)
            return recording is not None and recording.deleted

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    # -- links

    def _sign(self, path: str, amz_date: str, expires: str) -> str:
        message = f"{path}\n{amz_date}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def _presign(self, recording: _Recording, now: dt.datetime) -> str:
        """A link dated ``now`` (taken before the lock: :meth:`now` takes it too)."""
        path = f"/{BUCKET}/{self.account_sid}/{recording.sid}.{recording.fmt}"
        amz_date = now.strftime(_AMZ_DATE)
        expires = str(LINK_EXPIRES)
        query = urlencode(
            [
                ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                ("X-Amz-Date", amz_date),
                ("X-Amz-Expires", expires),
                ("X-Amz-SignedHeaders", "host"),
                ("X-Amz-Signature", self._sign(path, amz_date, expires)),
            ]
        )
        return f"{self.storage_origin}{path}?{query}"

    # -- internals (called from handler threads)

    def _handle(self, side: _Side, handler: Handler) -> None:
        arrived = time.monotonic()
        split = urlsplit(handler.path)
        pairs = parse_qsl(split.query, keep_blank_values=True)
        _drain_request_body(handler)
        method = handler.command
        kind, sid = "other", None
        if side.role == "api":
            auth_ok = self._bearer_ok(handler.headers.get("Authorization"))
            if match := _RECORDING_ROUTE.match(split.path):
                sid = match["sid"]
                kind = {"GET": "metadata", "HEAD": "metadata", "DELETE": "delete"}.get(
                    method, "other"
                )
            elif _LIST_ROUTE.match(split.path) and method in ("GET", "HEAD"):
                kind = "list"
            elif _CALL_ROUTE.match(split.path) and method == "GET":
                kind = "call"
        else:
            auth_ok = False  # settled once the link is checked
            if match := _MEDIA_ROUTE.match(split.path):
                sid = match["sid"]
                kind = "media" if method in ("GET", "HEAD") else "other"
        record = TelnyxRequest(
            method=method,
            path=split.path,
            query=dict(pairs),
            recording_sid=sid,
            status=0,
            auth_ok=auth_ok,
            time=arrived,
            kind=kind,
            headers={k: v for k, v in handler.headers.items()},
            server=side.role,
        )
        with self._lock:
            self._log.append(record)
            if side.role == "storage" and "Authorization" in handler.headers:
                self._leaks.append(record)
            snapshot = record.snapshot()
        hook = self.on_request
        if hook is not None:
            try:
                hook(snapshot)
            except BaseException as exc:  # noqa: BLE001 - kept for the test to look at
                self.hook_errors.append(exc)

        if side.role == "api":
            answer = self._decide_api(record, split.path, pairs)
        else:
            answer = self._decide_storage(record, handler, split.path)
        with self._lock:
            record.status = answer.status
        if answer.payload is None:
            side._send_simple(handler, record, answer)
        elif answer.status == 200:
            side._send_media(handler, record, answer)
        else:
            self._send_fixed(handler, record, answer)

    def _bearer_ok(self, header: str | None) -> bool:
        scheme, _, value = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), self.api_key.encode()
        )

    # -- the API

    def _recording_uri(self, sid: str) -> str:
        return f"{API_PREFIX}/Accounts/{self.account_sid}/Recordings/{sid}.json"

    def _decide_api(
        self, record: TelnyxRequest, path: str, pairs: list[tuple[str, str]]
    ) -> _Answer:
        if not record.auth_ok:
            answer = telnyx_error(
                401, "The API key in the Authorization header (Bearer) is missing or not valid."
            )
            answer.headers["WWW-Authenticate"] = 'Bearer realm="Telnyx API"'
            return answer
        not_found = telnyx_error(404, f"The requested resource {path} was not found.")
        if record.kind == "call":
            return self._answer_call(path, not_found)
        match = _RECORDING_ROUTE.match(path) or _LIST_ROUTE.match(path)
        if match is None:
            return not_found
        if record.kind == "other":
            return telnyx_error(405, f"Method {record.method} is not allowed on {path}.")
        if match["account"] != self.account_sid:
            return not_found
        now = self.now()
        if record.kind == "list":
            answer = self._list_page(pairs, now)
            with self._lock:
                fault = self.list_faults.pop(0) if self.list_faults else None
            return broken_page(answer, fault) if fault else answer
        with self._lock:
            recording = self._recordings.get(match["sid"])
            if recording is None or recording.deleted:
                return not_found
            if record.kind == "delete":
                if recording.delete_statuses:
                    return telnyx_error(recording.delete_statuses.pop(0))
                recording.deleted = True
                return _Answer(status=204)
        return _Answer(status=200, json_body=self._metadata(recording, now))

    def _answer_call(self, path: str, not_found: _Answer) -> _Answer:
        match = _CALL_ROUTE.match(path)
        assert match is not None
        with self._lock:
            call = self._calls.get(unquote(match["sid"]))
        if call is None or match["account"] != self.account_sid:
            return not_found
        if call.delay:
            self._api._stopping.wait(call.delay)
        if call.status != 200:
            return telnyx_error(call.status)
        body = call.resource(self.account_sid, path)
        body.update(from_formatted=call.from_, to_formatted=call.to)
        return _Answer(status=200, json_body=body)

    def _metadata(self, recording: _Recording, now: dt.datetime) -> dict[str, Any]:
        created = recording.date_created
        uri = self._recording_uri(recording.sid)
        return {
            "account_sid": self.account_sid,
            "call_sid": recording.call_sid,
            "conference_sid": None,
            "channels": recording.channels,
            "date_created": rfc2822(created),
            "date_updated": rfc2822(created + dt.timedelta(seconds=recording.duration)),
            "start_time": rfc2822(created),
            "duration": str(recording.duration),
            "error_code": None,
            "media_url": self._presign(recording, now),
            "sid": recording.sid,
            "source": "DialVerb",
            "status": recording.status,
            "uri": uri,
            "subresources_uris": {
                "transcriptions": uri.removesuffix(".json") + "/Transcriptions.json"
            },
        }

    def _list_page(self, pairs: list[tuple[str, str]], now: dt.datetime) -> _Answer:
        """One page of the listing, newest first, paged by a cursor.

        ``PageToken`` names the recording the page starts after (``PA``) or ends
        before (``PB``), as Twilio's do, so deleting recordings between pages
        (what an archiver does) neither skips nor repeats any. ``Page`` only
        numbers the page; a ``Page`` above 0 without a token is refused, so a
        client cannot get away with building page URLs itself.
        """
        params = dict(pairs)
        try:
            page_size = int(params.get("PageSize", DEFAULT_PAGE_SIZE))
            page = int(params.get("Page", 0))
            if not 1 <= page_size <= MAX_PAGE_SIZE or page < 0:
                raise ValueError
        except ValueError:
            return telnyx_error(400, f"PageSize must be 1..{MAX_PAGE_SIZE} and Page >= 0.")
        filters = [(k, v) for k, v in pairs if k.startswith("DateCreated")]
        try:
            tests = [_date_test(k, v) for k, v in filters]
        except ValueError as exc:
            return telnyx_error(400, str(exc))
        token = params.get("PageToken")
        if page > 0 and not token:
            return telnyx_error(400, "PageToken is required for a page other than the first.")

        with self._lock:
            every = sorted(self._recordings.values(), key=_Recording.order_key, reverse=True)
            matching = [
                r for r in every if not r.deleted and all(test(r.date_created) for test in tests)
            ]
            if token:
                cursor = self._recordings.get(token[2:])
                if token[:2] not in ("PA", "PB") or cursor is None:
                    return telnyx_error(400, f"Invalid PageToken: {token}")
                key = cursor.order_key()
                if token.startswith("PA"):
                    items = [r for r in matching if r.order_key() < key][:page_size]
                else:
                    items = [r for r in matching if r.order_key() > key][-page_size:]
            else:
                items = matching[:page_size]
            more = bool(items) and any(r.order_key() < items[-1].order_key() for r in matching)
            entries = [self._metadata(r, now) for r in items]

        base = f"{API_PREFIX}/Accounts/{self.account_sid}/Recordings.json"

        def uri(number: int, page_token: str | None) -> str:
            query = [("PageSize", str(page_size)), *filters, ("Page", str(number))]
            if page_token:
                query.append(("PageToken", page_token))
            return f"{base}?{urlencode(query)}"

        start = page * page_size
        body = {
            "recordings": entries,
            "page": page,
            "page_size": page_size,
            "start": start,
            "end": start + max(len(items), 1) - 1,
            "uri": uri(page, token),
            "first_page_uri": uri(0, None),
            "previous_page_uri": uri(page - 1, "PB" + items[0].sid) if page and items else None,
            "next_page_uri": uri(page + 1, "PA" + items[-1].sid) if more else None,
        }
        return _Answer(status=200, json_body=body)

    # -- the storage

    def _decide_storage(self, record: TelnyxRequest, handler: Handler, path: str) -> _Answer:
        """What S3 answers a presigned GET, checked in S3's order."""
        if "Authorization" in handler.headers:
            return s3_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be "
                "specified",
                ArgumentName="Authorization",  # S3 echoes the value too; a leak is not repeated
            )
        query = record.query
        if "X-Amz-Signature" not in query:
            return s3_error(403, "AccessDenied", "Access Denied")
        amz_date, expires = query.get("X-Amz-Date", ""), query.get("X-Amz-Expires", "")
        try:
            issued = dt.datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=dt.UTC)
            lifetime = int(expires)
        except ValueError:
            return s3_error(
                400,
                "AuthorizationQueryParametersError",
                "X-Amz-Date must be in the ISO8601 Long Format and X-Amz-Expires a number",
            )
        signature = self._sign(path, amz_date, expires)
        if record.method not in ("GET", "HEAD") or not hmac.compare_digest(
            signature, query["X-Amz-Signature"]
        ):
            return s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you "
                "provided. Check your key and signing method.",
            )
        now = self.now()
        if now > issued + dt.timedelta(seconds=lifetime):
            return s3_error(
                403,
                "AccessDenied",
                "Request has expired",
                **{
                    "X-Amz-Expires": expires,
                    "Expires": (issued + dt.timedelta(seconds=lifetime)).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    ),
                    "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            )
        with self._lock:
            record.auth_ok = True
        no_such_key = s3_error(404, "NoSuchKey", "The specified key does not exist.", Key=path[1:])
        match = _MEDIA_ROUTE.match(path)
        if match is None or match["account"] != self.account_sid:
            return no_such_key
        with self._lock:
            recording = self._recordings.get(match["sid"])
            if recording is None or recording.deleted or recording.fmt != match["ext"]:
                return no_such_key
            if recording.not_ready > 0:
                recording.not_ready -= 1
                return no_such_key
            if recording.fail_statuses:
                status = recording.fail_statuses.pop(0)
                answer = s3_error(status, message=f"Scripted failure ({status})")
                if status == 429 and recording.retry_after is not None:
                    answer.headers["Retry-After"] = recording.retry_after
                return answer
            fault: _Fault | None = None
            if record.method == "GET" and recording.faults_left > 0:
                recording.faults_left -= 1
                if recording.stall_after is not None:
                    fault = _Fault("stall", recording.stall_after, recording.stall_seconds)
                elif recording.break_after is not None:
                    fault = _Fault("break", recording.break_after)
            return _Answer(
                status=200,
                payload=recording.body,
                content_type=_MEDIA_TYPES[recording.fmt],
                fault=fault,
            )

    def _send_fixed(self, handler: Handler, record: TelnyxRequest, answer: _Answer) -> None:
        """A small non-JSON error body (S3's XML), with its Content-Length."""
        assert isinstance(answer.payload, bytes) and answer.content_type is not None
        try:
            handler.send_response(answer.status)
            handler.send_header("Content-Type", answer.content_type)
            handler.send_header("Content-Length", str(len(answer.payload)))
            for name, value in answer.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(answer.payload)
                with self._lock:
                    record.bytes_sent = len(answer.payload)
            handler.wfile.flush()
        except OSError:
            handler.close_connection = True


def _date_test(key: str, value: str) -> Callable[[dt.datetime], bool]:
    """The test a ``DateCreated`` filter puts on a recording's creation time.

    Query strings are parsed the ordinary way, so the documented spelling
    ``DateCreated>=2023-05-22`` reaches a server as the key ``DateCreated>``;
    like Twilio, ``>`` and ``>=`` therefore both mean "on or after", ``<`` and
    ``<=`` "on or before". A bare date covers that whole UTC day.
    """
    operator = key.removeprefix("DateCreated")
    if operator not in ("", ">", ">=", "<", "<="):
        raise ValueError(f"Unknown filter: {key}")
    if _DATE_ONLY.match(value):
        day = dt.date.fromisoformat(value)
        low = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        high = low + dt.timedelta(days=1)  # exclusive
    else:
        try:
            low = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"{key} must be an ISO 8601 date or date-time, not {value!r}"
            ) from None
        if low.tzinfo is None:
            low = low.replace(tzinfo=dt.UTC)
        high = low + dt.timedelta(seconds=1)  # dates are kept to the second
    if operator.startswith(">"):
        return lambda created: created >= low
    if operator.startswith("<"):
        return lambda created: created < high
    return lambda created: low <= created < high


def main(argv: Sequence[str] | None = None) -> None:
    """Serve a fake Telnyx TeXML API and media storage holding a few recordings, until Ctrl-C.

    ``python -m tests.fakes.telnyx_api --port 8098 --storage-port 8097
    --account-sid UUID --api-key KEY --recording UUID``
    """
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8098)
    parser.add_argument("--storage-port", type=int, default=8097)
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--recording", action="append", required=True, help="a recording SID")
    parser.add_argument("--size", type=int, default=256 * 1024, help="bytes per recording")
    args = parser.parse_args(argv)
    with FakeTelnyx(args.account_sid, args.api_key, args.port, args.storage_port) as fake:
        for seed, sid in enumerate(args.recording, 1):
            fake.add_recording(sid, body=Body(args.size, seed))
            print(f"serving {fake.recording_json_url(sid)}", flush=True)
        shown = 0
        with contextlib.suppress(KeyboardInterrupt):
            while True:  # say what the worker asks, as it is answered
                log = fake.requests
                while shown < len(log) and log[shown].status:
                    request = log[shown]
                    print(
                        f"{request.server}: {request.method} {request.path} -> {request.status}",
                        flush=True,
                    )
                    shown += 1
                time.sleep(0.2)


if __name__ == "__main__":
    main()
