"""A fake Twilio-style REST API for recordings: a real HTTP/1.1 server on 127.0.0.1.

It speaks for any provider that copies Twilio's recordings API (Twilio itself,
SignalWire's Compatibility API under ``/api/laml``): ``path_prefix`` is where
the API lives on the server. Only the part the archive worker touches is served::

    GET    /2010-04-01/Accounts/{AC}/Recordings/{RE}.mp3   (or .wav, or no extension = WAV)
           optional ?RequestedChannels=1|2
    GET    /2010-04-01/Accounts/{AC}/Recordings/{RE}.json  (a small metadata document)
    DELETE /2010-04-01/Accounts/{AC}/Recordings/{RE}.json  (or no extension)
    GET    /2010-04-01/Accounts/{AC}/Recordings.json       (the listing, of any account held)
    GET    /2010-04-01/Accounts.json                       (the main account and its subaccounts)
    GET    /2010-04-01/Accounts/{AC}.json                  (one account: owner, auth token, status)

Subaccounts (``add_subaccount``) are served as Twilio serves them: the main
account's credentials reach every subaccount's paths; a subaccount's own reach
only its own. ``rotate_token`` gives one a new auth token; ``account_lookups``
counts the ``Accounts/{AC}.json`` requests per SID.
    GET    /2010-04-01/Accounts/{AC}/Calls/{CA}.json       (a call added with ``add_call``; else 404)

Every request needs HTTP Basic auth (account SID / auth token), as Twilio does;
otherwise 401. Bodies are streamed in chunks, so a :class:`Body` can be hundreds
of megabytes without ever being held in memory. Faults (not-ready 404s, error
statuses, a stall or a broken connection mid-body) are scripted per recording
with :meth:`FakeTwilioApi.add_recording`; a broken listing page (cut-off JSON, an
entry without ``sid``) with ``list_faults``.

Every request is recorded as a :class:`RecordedRequest`. The record is appended
when the request arrives; its ``status`` is filled in *before* the first byte of
the response is written (so a client that has seen the response always finds
the status in the log) and ``bytes_sent`` grows while the body streams.

``on_request`` (if set) is called for every request, in the server thread,
*before* the request is answered, with a snapshot whose ``status`` is ``0``
(not decided yet). The response waits for the callback, so a test can look at
the world at the exact moment, e.g. a DELETE arrives. An exception raised by the
callback does not stop the response; it is kept in ``hook_errors``.

Range requests are not supported (the full body is always served, with 200).
A 204 response carries no Content-Length (RFC 9110 forbids it there); every
other response, errors included, has a correct Content-Length, and connections
are kept alive unless a fault closes them.
"""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import dataclasses
import datetime as dt
import email.utils
import functools
import hashlib
import hmac
import json
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.server import Handler, Served, ThreadedHTTPServer

API_VERSION = "2010-04-01"
BLOCK_SIZE = 64 * 1024
DEFAULT_CHUNK = 64 * 1024


def _route(path_prefix: str) -> re.Pattern[str]:
    return re.compile(
        rf"^{re.escape(path_prefix)}/{API_VERSION}/Accounts/(?P<account>[^/]+)/Recordings/"
        r"(?P<sid>[^/.]+)(?:\.(?P<ext>[A-Za-z0-9]+))?$"
    )


def _accounts_route(path_prefix: str) -> re.Pattern[str]:
    return re.compile(
        rf"^{re.escape(path_prefix)}/{API_VERSION}/Accounts(?:/(?P<account>[^/.]+))?\.json$"
    )


def _list_route(path_prefix: str) -> re.Pattern[str]:
    return re.compile(
        rf"^{re.escape(path_prefix)}/{API_VERSION}/Accounts/(?P<account>[^/]+)/Recordings\.json$"
    )


def _call_route(path_prefix: str) -> re.Pattern[str]:
    return re.compile(
        rf"^{re.escape(path_prefix)}/{API_VERSION}/Accounts/(?P<account>[^/]+)/Calls/"
        r"(?P<sid>[^/.]+)\.json$"
    )


@dataclass
class FakeCall:
    """A call resource: ``delay`` seconds before it answers (a slow look-up);
    ``status`` other than 200 answers that error instead."""

    sid: str
    from_: str
    to: str
    direction: str = "inbound"
    caller_name: str | None = None
    parent_call_sid: str | None = None
    delay: float = 0.0
    status: int = 200

    def resource(self, account_sid: str, path: str) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "account_sid": account_sid,
            "from": self.from_,
            "to": self.to,
            "direction": self.direction,
            "caller_name": self.caller_name,
            "parent_call_sid": self.parent_call_sid,
            "status": "completed",
            "start_time": "Tue, 01 Dec 2026 10:00:00 +0000",
            "duration": "42",
            "uri": path,
        }


_MEDIA_TYPES: dict[str | None, str] = {
    "mp3": "audio/mpeg",
    "wav": "audio/x-wav",
    None: "audio/x-wav",  # Twilio serves WAV when the URL has no extension
}


# --------------------------------------------------------------------------- bodies


@functools.lru_cache(maxsize=64)
def _base_block(seed: int) -> bytes:
    return random.Random(seed).randbytes(BLOCK_SIZE)


@dataclass(frozen=True)
class Body:
    """``size`` deterministic pseudo-random bytes derived from ``seed``, never all in memory.

    The bytes are a 64 KiB block drawn from ``random.Random(seed)``, repeated, with
    the block index XOR-ed into the first 8 bytes of each block, so no two blocks
    are equal and a shifted or repeated block changes the digest.
    """

    size: int
    seed: int

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError("size must be >= 0")

    def block(self, index: int) -> bytes:
        """The full 64 KiB block number ``index`` (ignoring ``size``)."""
        base = _base_block(self.seed)
        head = int.from_bytes(base[:8], "little") ^ index
        return head.to_bytes(8, "little") + base[8:]

    def read_range(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``, clipped to the body."""
        start, end = max(0, start), min(end, self.size)
        parts: list[bytes] = []
        while start < end:
            index, offset = divmod(start, BLOCK_SIZE)
            take = min(BLOCK_SIZE - offset, end - start)
            block = self.block(index)
            parts.append(block if take == BLOCK_SIZE else block[offset : offset + take])
            start += take
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def iter_chunks(self, chunk_size: int = DEFAULT_CHUNK) -> Iterator[bytes]:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be > 0")
        for start in range(0, self.size, chunk_size):
            yield self.read_range(start, start + chunk_size)

    def read_all(self) -> bytes:
        """All the bytes at once: for small bodies."""
        return self.read_range(0, self.size)

    def sha256(self) -> str:
        """Hex SHA-256 of the body, computed by streaming (and cached)."""
        return _digest(self.size, self.seed, "sha256")

    def md5(self) -> str:
        """Hex MD5 of the body (what S3 reports as the ETag of a single-part upload)."""
        return _digest(self.size, self.seed, "md5")


@functools.lru_cache(maxsize=256)
def _digest(size: int, seed: int, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    for chunk in Body(size, seed).iter_chunks(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


Payload = Body | bytes


def payload_size(payload: Payload) -> int:
    return payload.size if isinstance(payload, Body) else len(payload)


def iter_payload(
    payload: Payload, chunk_size: int = DEFAULT_CHUNK, limit: int | None = None
) -> Iterator[bytes]:
    """The payload's bytes in chunks, stopping after ``limit`` bytes if given."""
    end = payload_size(payload) if limit is None else min(limit, payload_size(payload))
    for start in range(0, end, chunk_size):
        stop = min(start + chunk_size, end)
        if isinstance(payload, Body):
            yield payload.read_range(start, stop)
        else:
            yield payload[start:stop]


# --------------------------------------------------------------------------- records


@dataclass
class RecordedRequest:
    """One request as the fake saw it.

    ``status`` is 0 until the answer is decided (that is what ``on_request`` sees).
    ``bytes_sent`` counts body bytes only (not headers). ``kind`` is ``"media"``,
    ``"metadata"``, ``"delete"`` or ``"other"``.
    """

    method: str
    path: str
    query: dict[str, str]
    recording_sid: str | None
    status: int
    auth_ok: bool
    time: float
    bytes_sent: int = 0
    kind: str = "other"
    headers: dict[str, str] = field(default_factory=dict)

    def snapshot(self) -> RecordedRequest:
        return dataclasses.replace(self, query=dict(self.query), headers=dict(self.headers))


@dataclass
class _Recording:
    sid: str
    mono: Payload
    dual: Payload | None
    dual_unsupported: bool
    not_ready: int
    fail_statuses: list[int]
    retry_after: str | None
    stall_after: int | None
    stall_seconds: float
    break_after: int | None
    faults_left: int
    delete_statuses: list[int]
    deleted: bool = False
    pause_after: int | None = None  # pause stall_seconds after this many bytes, then go on
    # What the listing says about it.
    status: str = "completed"
    account_sid: str = ""  # whose recording: the main account when empty
    date_created: dt.datetime | None = None
    call_sid: str | None = None
    duration: int = 42
    # Bodies by extension ("mp3", "wav"; None: no extension), whatever the channels:
    # real audio for "Try it locally", where a person listens to the archive.
    formats: dict[str | None, Payload] = field(default_factory=dict)
    # Voice Recording Encryption: what the resource's ``encryption_details`` says
    # (an .mp3 of it is then refused, as Twilio does: error 16109).
    encryption_details: Any = None


@dataclass
class FakeAccount:
    """A subaccount (or a foreign account, with another ``owner_account_sid``)."""

    sid: str
    auth_token: str
    owner_account_sid: str
    friendly_name: str
    status: str = "active"  # "active", "suspended" or "closed"


@dataclass
class _Fault:
    kind: str  # "stall" | "break"
    after: int
    seconds: float = 0.0


@dataclass
class _Answer:
    status: int
    json_body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    payload: Payload | None = None
    content_type: str | None = None
    fault: _Fault | None = None
    raw_body: bytes | None = None  # sent as is instead of ``json_body`` (a broken answer)


# What a listing page can go wrong with (``list_faults``), one per page asked for.
LIST_FAULTS = ("cut-off", "no-sid", "not-an-object")


def broken_page(answer: _Answer, fault: str) -> _Answer:
    """A good listing page, broken as ``fault`` says: ``cut-off`` (the JSON ends half
    way, with a Content-Length that matches, as from a proxy that gave up),
    ``no-sid`` (its first entry lacks ``sid``), ``not-an-object`` (a JSON array)."""
    if answer.status != 200 or answer.json_body is None:
        return answer
    if fault == "cut-off":
        text = json.dumps(answer.json_body).encode()
        return dataclasses.replace(answer, json_body=None, raw_body=text[: len(text) // 2])
    if fault == "no-sid":
        entries = answer.json_body.get("recordings") or []
        if entries:
            entries[0].pop("sid", None)
        return answer
    if fault == "not-an-object":
        return dataclasses.replace(answer, json_body=None, raw_body=b"[]")
    raise ValueError(f"unknown list fault {fault!r}; known: {', '.join(LIST_FAULTS)}")


_ERROR_CODES = {400: 20001, 401: 20003, 404: 20404, 405: 20004, 429: 20429, 500: 20500, 503: 20503}
_REASONS = {
    400: "Bad Request",
    401: "Authenticate",
    404: "The requested resource was not found",
    405: "Method not allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def twilio_error(status: int, message: str | None = None, code: int | None = None) -> _Answer:
    """An error answer with a JSON body shaped like Twilio's."""
    code = code if code is not None else _ERROR_CODES.get(status, 20000 + status)
    body = {
        "code": code,
        "message": message or _REASONS.get(status, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return _Answer(status=status, json_body=body)


# --------------------------------------------------------------------------- the server


class FakeCompatApi(Served):
    """The recordings part of a Twilio-style REST API, served for real on 127.0.0.1.

    Use as a context manager, or call :meth:`start` / :meth:`stop`. Why not
    pytest-httpserver: it answers with canned responses, and this fake must
    stream bodies of hundreds of megabytes, stall or cut them mid-way, and
    script faults per recording, which its handlers could only do by holding
    this same code.
    """

    def __init__(
        self, account_sid: str, auth_token: str, path_prefix: str = "", port: int = 0
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.path_prefix = path_prefix.rstrip("/")
        self._route = _route(self.path_prefix)
        self._list_route = _list_route(self.path_prefix)
        self._accounts_route = _accounts_route(self.path_prefix)
        # Subaccounts (and foreign accounts) by SID; see ``add_subaccount``.
        self.accounts: dict[str, FakeAccount] = {}
        # ``GET Accounts/{Sid}.json`` requests, by SID.
        self.account_lookups: collections.Counter[str] = collections.Counter()
        # Statuses ``Accounts/{Sid}.json`` answers with first, one each (an API outage).
        self.account_faults: list[int] = []
        self._call_route = _call_route(self.path_prefix)
        self._calls: dict[str, FakeCall] = {}
        self._list_path = f"{self.path_prefix}/{API_VERSION}/Accounts/{account_sid}/Recordings.json"
        # Seconds each listing page takes to answer (a provider far away).
        self.list_delay = 0.0
        # The most entries a page holds, whatever PageSize asks (providers cap it).
        self.max_page_size = 1000
        # Faults for the next listing pages, one each (see ``broken_page``).
        self.list_faults: list[str] = []
        self.on_request: Callable[[RecordedRequest], None] | None = None
        self.hook_errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._recordings: dict[str, _Recording] = {}
        self._log: list[RecordedRequest] = []
        self._http = ThreadedHTTPServer(self._handle, port=port, name="fake-twilio")
        # Set while stopping: a response streaming or stalled ends.
        self._stopping = self._http.stopping

    # -- lifecycle

    def start(self) -> FakeCompatApi:
        self._http.start()
        return self

    def stop(self) -> None:
        """Stop serving; returns quickly even while a response is stalled or streaming."""
        self._http.stop()

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def origin(self) -> str:
        return self._http.origin

    @property
    def base_url(self) -> str:
        """Where the API lives: what ``TWILIO_API_BASE_URL`` (or the like) points at."""
        return f"{self.origin}{self.path_prefix}"

    def recording_url(self, recording_sid: str, account_sid: str | None = None) -> str:
        """What the provider sends as ``RecordingUrl``: no extension."""
        account = account_sid or self.account_sid
        return f"{self.base_url}/{API_VERSION}/Accounts/{account}/Recordings/{recording_sid}"

    def add_subaccount(
        self,
        sid: str,
        friendly_name: str,
        *,
        status: str = "active",
        owner_account_sid: str | None = None,
    ) -> str:
        """A subaccount of the main account (or of ``owner_account_sid``: a foreign
        account the main credentials can see, which real Twilio never shows);
        returns its auth token."""
        token = "sub-token-" + hashlib.sha256(f"{sid}{time.time_ns()}".encode()).hexdigest()[:24]
        with self._lock:
            self.accounts[sid] = FakeAccount(
                sid, token, owner_account_sid or self.account_sid, friendly_name, status
            )
        return token

    def rotate_token(self, sid: str) -> str:
        """Give the subaccount a new auth token (the old one stops working); returns it."""
        token = "rotated-" + hashlib.sha256(f"{sid}{time.time_ns()}".encode()).hexdigest()[:24]
        with self._lock:
            self.accounts[sid].auth_token = token
        return token

    # -- scripting

    def add_call(
        self,
        call_sid: str,
        from_: str = "+14155550100",
        to: str = "+14155550199",
        **extra: Any,
    ) -> FakeCall:
        """Serve the call resource ``call_sid`` (see ``FakeCall`` for ``extra``)."""
        call = FakeCall(call_sid, from_, to, **extra)
        with self._lock:
            self._calls[call_sid] = call
        return call

    def call_gets(self, call_sid: str) -> list[RecordedRequest]:
        with self._lock:
            return [
                r.snapshot()
                for r in self._log
                if r.kind == "call" and r.path.endswith(f"/Calls/{call_sid}.json")
            ]

    def add_recording(
        self,
        recording_sid: str,
        *,
        mono: Payload,
        dual: Payload | None = None,
        dual_unsupported: bool = False,
        not_ready: int = 0,
        fail_statuses: Sequence[int] = (),
        retry_after: str | None = None,
        stall_after: int | None = None,
        stall_seconds: float = 30,
        break_after: int | None = None,
        faults_times: int = 1,
        delete_statuses: Sequence[int] = (),
        pause_after: int | None = None,
        status: str = "completed",
        date_created: dt.datetime | None = None,
        call_sid: str | None = None,
        duration: int = 42,
        formats: dict[str | None, Payload] | None = None,
        encryption_details: Any = None,
        account_sid: str | None = None,
    ) -> None:
        """Serve a recording (replacing any with the same SID).

        ``encryption_details`` (as the resource gives them, normally a dict from
        ``tests.fakes.voice_encryption``) makes it an encrypted recording: its
        media is served only as WAV, an ``.mp3`` answers 400 (Twilio's 16109).

        ``formats`` (by extension: ``"mp3"``, ``"wav"``, ``None``) replaces ``mono`` and
        ``dual`` for the media URLs it names, whatever ``RequestedChannels`` asks.

        ``status``, ``date_created`` (default: now), ``call_sid`` and ``duration``
        are what the listing (``GET .../Recordings.json``) says about it.

        Media GETs answer, in this order: ``not_ready`` 404s, then one answer per
        ``fail_statuses`` entry (429s carry ``Retry-After: retry_after`` if given),
        then the media. ``RequestedChannels=2`` gets ``dual``, or a 400 if
        ``dual_unsupported`` or there is no ``dual``; ``=1`` or none gets ``mono``.
        The first ``faults_times`` media GETs that would succeed stall after
        ``stall_after`` bytes for ``stall_seconds`` and then close, or pause after
        ``pause_after`` bytes for ``stall_seconds`` and then send the rest, or close after
        ``break_after`` bytes; the Content-Length is always the full size.
        DELETEs answer ``delete_statuses`` in order, then 204 (then 404, as
        everything for a deleted recording does).
        """
        recording = _Recording(
            sid=recording_sid,
            mono=mono,
            dual=dual,
            dual_unsupported=dual_unsupported,
            not_ready=not_ready,
            fail_statuses=list(fail_statuses),
            retry_after=retry_after,
            stall_after=stall_after,
            stall_seconds=stall_seconds,
            break_after=break_after,
            faults_left=faults_times
            if stall_after is not None or break_after is not None or pause_after is not None
            else 0,
            delete_statuses=list(delete_statuses),
            pause_after=pause_after,
            status=status,
            account_sid=account_sid or self.account_sid,
            date_created=(date_created or dt.datetime.now(dt.UTC)).astimezone(dt.UTC),
            call_sid=call_sid,
            duration=duration,
            formats=dict(formats or {}),
            encryption_details=encryption_details,
        )
        with self._lock:
            self._recordings[recording_sid] = recording

    # -- inspection

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request so far, in arrival order."""
        with self._lock:
            return [r.snapshot() for r in self._log]

    def deletes(self, recording_sid: str) -> list[RecordedRequest]:
        """The DELETEs of this recording that were answered 204."""
        return [
            r
            for r in self.requests
            if r.method == "DELETE" and r.recording_sid == recording_sid and r.status == 204
        ]

    def media_gets(self, recording_sid: str) -> list[RecordedRequest]:
        """Every GET of this recording's media, whatever it was answered."""
        return [
            r
            for r in self.requests
            if r.method == "GET" and r.kind == "media" and r.recording_sid == recording_sid
        ]

    def is_deleted(self, recording_sid: str) -> bool:
        with self._lock:
            recording = self._recordings.get(recording_sid)
            return recording is not None and recording.deleted

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    # -- internals (called from handler threads)

    def _authenticated(self, header: str | None) -> str | None:
        """The account whose SID and auth token the Basic header gives, or None."""
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        user, sep, password = decoded.partition(":")
        if sep != ":":
            return None
        with self._lock:
            tokens = {self.account_sid: self.auth_token}
            tokens.update((a.sid, a.auth_token) for a in self.accounts.values())
        token = tokens.get(user)
        if token is None or not hmac.compare_digest(password.encode(), token.encode()):
            return None
        return user

    def _auth_ok(self, header: str | None, account: str | None) -> bool:
        """The main account's credentials reach every path; a subaccount's its own only."""
        user = self._authenticated(header)
        return user is not None and (user == self.account_sid or user == account)

    def _handle(self, handler: Handler) -> None:
        arrived = time.monotonic()
        split = urlsplit(handler.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        _drain_request_body(handler)
        match = self._route.match(split.path)
        method = handler.command
        kind = "other"
        listing = self._list_route.match(split.path)
        accounts = self._accounts_route.match(split.path)
        found = match or listing or accounts
        account = found["account"] if found else None  # whose path this is
        if listing and method == "GET":
            kind = "list"
        elif accounts and method == "GET":
            kind = "account" if accounts["account"] else "accounts"
            if accounts["account"]:
                with self._lock:
                    self.account_lookups[accounts["account"]] += 1
        call_match = self._call_route.match(split.path)
        if call_match and method == "GET":
            kind = "call"
            account = call_match["account"]
        if match:
            ext = match["ext"]
            if method in ("GET", "HEAD") and ext in _MEDIA_TYPES:
                kind = "media"
            elif method in ("GET", "HEAD") and ext == "json":
                kind = "metadata"
            elif method == "DELETE" and ext in (None, "json"):
                kind = "delete"
        record = RecordedRequest(
            method=method,
            path=split.path,
            query=query,
            recording_sid=match["sid"] if match else None,
            status=0,
            auth_ok=self._auth_ok(handler.headers.get("Authorization"), account),
            time=arrived,
            kind=kind,
            headers={k: v for k, v in handler.headers.items()},
        )
        with self._lock:
            self._log.append(record)
            snapshot = record.snapshot()
        hook = self.on_request
        if hook is not None:
            try:
                hook(snapshot)
            except BaseException as exc:  # noqa: BLE001 - kept for the test to look at
                self.hook_errors.append(exc)

        answer = self._decide(record, match, account)
        with self._lock:
            record.status = answer.status
        if answer.payload is not None:
            self._send_media(handler, record, answer)
        else:
            self._send_simple(handler, record, answer)

    def _answer_call(self, record: RecordedRequest) -> _Answer:
        if not record.auth_ok:
            return twilio_error(401, "Authenticate")
        match = self._call_route.match(record.path)
        assert match is not None
        with self._lock:
            call = self._calls.get(match["sid"])
        if call is None or (
            match["account"] != self.account_sid and match["account"] not in self.accounts
        ):
            return twilio_error(404, f"The requested resource {record.path} was not found")
        if call.delay:
            self._stopping.wait(call.delay)
        if call.status != 200:
            return twilio_error(call.status)
        return _Answer(status=200, json_body=call.resource(match["account"], record.path))

    def _decide(
        self, record: RecordedRequest, match: re.Match[str] | None, account: str | None
    ) -> _Answer:
        if record.kind in ("account", "accounts"):
            return self._account_answer(record, account)
        if record.kind == "call":
            return self._answer_call(record)
        if record.kind == "list":
            if not record.auth_ok:
                return twilio_error(401, "Authenticate")
            if self.list_delay:
                time.sleep(self.list_delay)
            answer = self._list_page(record.query, account or self.account_sid)
            with self._lock:
                fault = self.list_faults.pop(0) if self.list_faults else None
            return broken_page(answer, fault) if fault else answer
        if match is None:
            return twilio_error(404, f"The requested resource {record.path} was not found")
        if not record.auth_ok:
            answer = twilio_error(401, "Authenticate")
            answer.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            return answer
        not_found = twilio_error(404, f"The requested resource {record.path} was not found")
        if record.kind == "other":
            if record.method in ("GET", "HEAD"):
                return not_found
            return twilio_error(405, f"Method {record.method} not allowed on {record.path}")
        with self._lock:
            recording = self._recordings.get(match["sid"])
            if recording is None or recording.deleted or recording.account_sid != account:
                return not_found
            if record.kind == "delete":
                if recording.delete_statuses:
                    return twilio_error(recording.delete_statuses.pop(0))
                recording.deleted = True
                return _Answer(status=204)
            if record.kind == "metadata":
                return _Answer(status=200, json_body=self._metadata(recording))
            # media
            if recording.not_ready > 0:
                recording.not_ready -= 1
                return not_found
            if recording.fail_statuses:
                status = recording.fail_statuses.pop(0)
                answer = twilio_error(status)
                if status == 429 and recording.retry_after is not None:
                    answer.headers["Retry-After"] = recording.retry_after
                return answer
            if recording.encryption_details is not None and match["ext"] == "mp3":
                return twilio_error(
                    400,
                    "Recording cannot be retrieved in .mp3 format when call recording "
                    "encryption feature is enabled on the account",
                    code=16109,
                )
            channels = record.query.get("RequestedChannels")
            if channels in (None, "1"):
                payload = recording.mono
            elif channels == "2":
                if recording.dual_unsupported or recording.dual is None:
                    return twilio_error(
                        400,
                        "RequestedChannels=2 is not supported: this recording has one channel",
                    )
                payload = recording.dual
            else:
                return twilio_error(400, f"Invalid RequestedChannels: {channels}")
            fault: _Fault | None = None
            if record.method == "GET" and recording.faults_left > 0:
                recording.faults_left -= 1
                if recording.pause_after is not None:
                    fault = _Fault("pause", recording.pause_after, recording.stall_seconds)
                elif recording.stall_after is not None:
                    fault = _Fault("stall", recording.stall_after, recording.stall_seconds)
                elif recording.break_after is not None:
                    fault = _Fault("break", recording.break_after)
            ext = match["ext"]
            payload = recording.formats.get(ext, payload)
            return _Answer(status=200, payload=payload, content_type=_MEDIA_TYPES[ext], fault=fault)

    def _account_document(self, account: FakeAccount) -> dict[str, Any]:
        path = f"{self.path_prefix}/{API_VERSION}/Accounts/{account.sid}"
        return {
            "sid": account.sid,
            "owner_account_sid": account.owner_account_sid,
            "auth_token": account.auth_token,
            "friendly_name": account.friendly_name,
            "status": account.status,
            "type": "Full",
            "uri": f"{path}.json",
        }

    def _account_answer(self, record: RecordedRequest, account: str | None) -> _Answer:
        """``Accounts/{Sid}.json`` (the main account's credentials, or the account's
        own) and ``Accounts.json`` (the main account first, then its subaccounts,
        paged by ``Page``/``PageSize``)."""
        if not record.auth_ok:
            return twilio_error(401, "Authenticate")
        main = FakeAccount(self.account_sid, self.auth_token, self.account_sid, "Main", "active")
        with self._lock:
            if record.kind == "account" and self.account_faults:
                return twilio_error(self.account_faults.pop(0))
            subaccounts = [
                a for a in self.accounts.values() if a.owner_account_sid == self.account_sid
            ]
            found = self.accounts.get(account or "")
            if record.kind == "account":
                if account == self.account_sid:
                    found = main
                if found is None:
                    return twilio_error(404, f"The requested resource {record.path} was not found")
                return _Answer(status=200, json_body=self._account_document(found))
            everyone = [self._account_document(a) for a in (main, *subaccounts)]
        size = max(1, int(record.query.get("PageSize", "50")))
        number = int(record.query.get("Page", "0"))
        page = everyone[number * size : (number + 1) * size]
        base = f"{self.path_prefix}/{API_VERSION}/Accounts.json"
        more = (number + 1) * size < len(everyone)
        return _Answer(
            status=200,
            json_body={
                "accounts": page,
                "page": number,
                "page_size": size,
                "next_page_uri": f"{base}?PageSize={size}&Page={number + 1}" if more else None,
            },
        )

    def _metadata(self, recording: _Recording) -> dict[str, Any]:
        account = recording.account_sid or self.account_sid
        path = f"{self.path_prefix}/{API_VERSION}/Accounts/{account}/Recordings/{recording.sid}"
        dual = recording.dual is not None and not recording.dual_unsupported
        created = recording.date_created or dt.datetime.now(dt.UTC)
        return {
            "sid": recording.sid,
            "account_sid": account,
            "call_sid": recording.call_sid,
            "conference_sid": None,
            "status": recording.status,
            "channels": 2 if dual else 1,
            "duration": str(recording.duration),
            "date_created": email.utils.format_datetime(created),
            "start_time": email.utils.format_datetime(created),
            "source": "DialVerb",
            "error_code": None,
            "uri": f"{path}.json",
            "media_url": f"{self.origin}{path}",
            "encryption_details": recording.encryption_details,
        }

    def _list_page(self, query: dict[str, str], account: str) -> _Answer:
        """Newest first; ``DateCreated>``/``<`` (on or after / on or before a day, as
        Twilio reads them), ``PageSize``, and a ``PageToken`` cursor (the last SID)."""
        try:
            size = min(self.max_page_size, max(1, int(query.get("PageSize", "50"))))
            after = (
                dt.date.fromisoformat(query["DateCreated>"]) if "DateCreated>" in query else None
            )
            before = (
                dt.date.fromisoformat(query["DateCreated<"]) if "DateCreated<" in query else None
            )
        except ValueError:
            return twilio_error(400, "Invalid PageSize or DateCreated")
        with self._lock:
            rows = [
                r for r in self._recordings.values() if not r.deleted and r.account_sid == account
            ]
        rows.sort(
            key=lambda r: (r.date_created or dt.datetime.min.replace(tzinfo=dt.UTC), r.sid),
            reverse=True,
        )
        rows = [
            r
            for r in rows
            if r.date_created is not None
            and (after is None or r.date_created.date() >= after)
            and (before is None or r.date_created.date() <= before)
        ]
        token = query.get("PageToken")
        if token:
            sids = [r.sid for r in rows]
            start = sids.index(token[2:]) + 1 if token[2:] in sids else len(rows)
        else:
            start = 0
        page = rows[start : start + size]
        more = start + size < len(rows)
        base = f"{self.path_prefix}/{API_VERSION}/Accounts/{account}/Recordings.json"
        common = f"PageSize={size}" + "".join(
            f"&{k}={v}" for k, v in query.items() if k.startswith("DateCreated")
        )
        number = int(query.get("Page", "0"))
        return _Answer(
            status=200,
            json_body={
                "recordings": [self._metadata(r) for r in page],
                "page": number,
                "page_size": size,
                "uri": f"{base}?{common}",
                "first_page_uri": f"{base}?{common}&Page=0",
                "next_page_uri": (
                    f"{base}?{common}&Page={number + 1}&PageToken=PA{page[-1].sid}"
                    if more and page
                    else None
                ),
                "previous_page_uri": None,
            },
        )

    def _send_simple(self, handler: Handler, record: RecordedRequest, answer: _Answer) -> None:
        body = b"" if answer.raw_body is None else answer.raw_body
        if answer.json_body is not None:
            body = json.dumps(answer.json_body).encode()
        try:
            handler.send_response(answer.status)
            if answer.status != 204:
                handler.send_header("Content-Type", "application/json; charset=utf-8")
                handler.send_header("Content-Length", str(len(body)))
            for name, value in answer.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            if body and handler.command != "HEAD":
                handler.wfile.write(body)
                with self._lock:
                    record.bytes_sent = len(body)
            handler.wfile.flush()
        except OSError:
            handler.close_connection = True

    def _send_media(self, handler: Handler, record: RecordedRequest, answer: _Answer) -> None:
        assert answer.payload is not None and answer.content_type is not None
        size = payload_size(answer.payload)
        fault = answer.fault
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", answer.content_type)
            handler.send_header("Content-Length", str(size))
            handler.end_headers()
            if handler.command == "HEAD":
                handler.wfile.flush()
                return
            limit = fault.after if fault is not None else None
            for chunk in iter_payload(answer.payload, DEFAULT_CHUNK, limit):
                if self._stopping.is_set():
                    raise ConnectionAbortedError("server stopping")
                # Counted before writing: a client that has read every byte always
                # finds them counted (a write that fails counts its chunk anyway).
                with self._lock:
                    record.bytes_sent += len(chunk)
                handler.wfile.write(chunk)
            handler.wfile.flush()
        except OSError:
            _close(handler)
            return
        if fault is None:
            return
        if fault.kind in ("stall", "pause"):
            deadline = time.monotonic() + fault.seconds
            while not self._stopping.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._stopping.wait(min(0.1, left))
        if fault.kind == "pause" and not self._stopping.is_set():
            # A slow provider: the rest of the body follows the pause.
            try:
                for part in _skip(iter_payload(answer.payload, DEFAULT_CHUNK, None), fault.after):
                    with self._lock:
                        record.bytes_sent += len(part)
                    handler.wfile.write(part)
                handler.wfile.flush()
                return
            except OSError:
                pass
        _close(handler)


def _skip(chunks: Iterator[bytes], count: int) -> Iterator[bytes]:
    """``chunks`` without their first ``count`` bytes."""
    for chunk in chunks:
        if count >= len(chunk):
            count -= len(chunk)
            continue
        yield chunk[count:]
        count = 0


def _close(handler: Handler) -> None:
    """Drop the connection now, without sending anything more."""
    handler.close_connection = True
    with contextlib.suppress(OSError):
        handler.connection.shutdown(socket.SHUT_RDWR)


def _drain_request_body(handler: Handler) -> None:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        handler.close_connection = True  # not worth parsing: just don't reuse the connection
        return
    try:
        length = int(handler.headers.get("Content-Length") or 0)
    except ValueError:
        handler.close_connection = True
        return
    while length > 0:
        data = handler.rfile.read(min(length, 1 << 16))
        if not data:
            break
        length -= len(data)


# Twilio's API at its root; SignalWire's is the same under ``/api/laml``.
FakeTwilioApi = FakeCompatApi


def main(argv: Sequence[str] | None = None) -> None:
    """Serve a fake Twilio-style API holding a few recordings, until Ctrl-C.

    ``python -m tests.fakes.compat_api --port 8099 --account-sid AC... --auth-token T
    --recording RE...``: what the README's "Try it locally" runs.
    """
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--path-prefix", default="", help="/api/laml for SignalWire")
    parser.add_argument("--recording", action="append", required=True, help="a RecordingSid")
    parser.add_argument(
        "--size", type=int, help="serve this many random bytes per recording, not a tone"
    )
    parser.add_argument(
        "--listed-as",
        default="processing",
        help="the status the listing gives each recording (default: processing, as a "
        "recording is until its completed callback is sent, so the worker's first "
        "reconciliation leaves it to the callback)",
    )
    args = parser.parse_args(argv)
    # A person listens to these in the console: a real tone, made once at start.
    formats: dict[str | None, Payload] = {}
    if args.size is None:
        from tests.fakes.audio import mp3_tone, wav_tone

        wav = wav_tone()
        formats = {"mp3": mp3_tone(), "wav": wav, None: wav}
    with FakeCompatApi(args.account_sid, args.auth_token, args.path_prefix, args.port) as api:
        for seed, sid in enumerate(args.recording, 1):
            size = args.size or 0
            api.add_recording(
                sid,
                mono=Body(size, seed),
                dual=Body(size, seed + 1000),
                formats=formats,
                status=args.listed_as,
            )
            print(f"serving {api.recording_url(sid)}", flush=True)
        shown: set[int] = set()
        with contextlib.suppress(KeyboardInterrupt):
            while True:  # say what the worker asks, as it is answered
                for index, request in enumerate(api.requests):
                    if request.status and index not in shown:
                        shown.add(index)
                        print(f"{request.method} {request.path} -> {request.status}", flush=True)
                time.sleep(0.2)


if __name__ == "__main__":
    main()
