"""Twilio's recording API and callback format, which SignalWire copies.

Providers that speak it (Twilio, SignalWire) differ in their ID formats,
their API origin and how their callbacks are signed; the parsing of a
recording-status callback, the media and delete requests and the listing
are the same, and live here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from app.config import Env, Section, Settings
from app.providers.base import IncomingCallback, MediaRef, RecordingReport, RecordingStatus
from app.providers.errors import CallbackError, ProviderError
from app.providers.http import (
    ResponseStream,
    delete_resource,
    entry_text,
    listed_entries,
    new_session,
    origin_of,
    raise_for_status,
    request_failed,
    url_origin,
    walk_pages,
)
from app.providers.signature import compute as compute_signature
from app.providers.signature import is_valid as signature_matches

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"


@dataclass(frozen=True)
class IdFormats:
    """A provider's identifiers, as patterns, with how to describe them in a refusal."""

    account: re.Pattern[str]
    call: re.Pattern[str]
    recording: re.Pattern[str]
    conference: re.Pattern[str]
    description: dict[str, str]  # field name -> "AC followed by 32 hex digits"
    call_example: Callable[[str], str]  # a well-formed call id, derived from a seed

    def example_call_sid(self, seed: str) -> str:
        return self.call_example(seed)


UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def uuid_from(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


# Short identifiers (statuses, sources, tracks, error codes): fit their columns.
_TOKEN = re.compile(r"[A-Za-z0-9_.:-]{1,32}")
_DIGITS = re.compile(r"[0-9]+")
# The integer columns are 32-bit on PostgreSQL; SQLite would take more, and
# both databases must behave the same.
INT_MAX = 2**31 - 1
# RFC 2822 as providers send it: "Mon, 16 Nov 2026 10:15:30 +0000", the weekday
# and the seconds optional. The year must have four digits (email.utils would
# read "0001" as 2001).
_RFC2822 = re.compile(
    r"(?:[A-Z][a-z]{2}, )?(?P<day>\d{1,2}) (?P<month>[A-Z][a-z]{2}) (?P<year>\d{4}) "
    r"(?P<time>\d{2}:\d{2}(?::\d{2})?) (?P<zone>[+-]\d{4}|GMT|UT|UTC|Z)"
)
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _optional(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _required(params: Mapping[str, str], name: str) -> str:
    value = _optional(params, name)
    if value is None:
        raise CallbackError(f"{name} is missing")
    return value


def _id(value: str | None, name: str, pattern: re.Pattern[str], described: str) -> str | None:
    if value is not None and not pattern.fullmatch(value):
        raise CallbackError(f"{name} is malformed: expected {described}")
    return value


# Channel counts as some providers spell them (Telnyx's TeXML verbs say
# single/dual, SignalWire's requests mono/dual; their callbacks send 1 or 2).
_CHANNEL_WORDS = {"mono": "1", "single": "1", "dual": "2"}


def _integer(
    params: Mapping[str, str], name: str, allowed: tuple[int, ...] | None = None
) -> int | None:
    value = _optional(params, name)
    if value is None:
        return None
    if name == "RecordingChannels":
        value = _CHANNEL_WORDS.get(value.lower(), value)
    if not _DIGITS.fullmatch(value):
        raise CallbackError(f"{name} is malformed: expected a whole number of seconds or units")
    if len(value) > 10 or int(value) > INT_MAX:
        raise CallbackError(f"{name} is out of range: at most {INT_MAX}")
    number = int(value)
    if allowed is not None and number not in allowed:
        raise CallbackError(f"{name} is malformed: expected one of {', '.join(map(str, allowed))}")
    return number


def parse_rfc2822(value: str) -> dt.datetime:
    """An RFC 2822 date, strictly (four-digit year), in UTC; ValueError otherwise."""
    match = _RFC2822.fullmatch(value)
    if match is None or match["month"] not in _MONTHS:
        raise ValueError("not an RFC 2822 date")
    zone = match["zone"]
    offset = "+0000" if zone in ("GMT", "UT", "UTC", "Z") else zone
    time = match["time"] if match["time"].count(":") == 2 else match["time"] + ":00"
    text = f"{match['year']}-{_MONTHS.index(match['month']) + 1:02d}-{int(match['day']):02d}"
    try:
        parsed = dt.datetime.strptime(f"{text} {time} {offset}", "%Y-%m-%d %H:%M:%S %z")
        return parsed.astimezone(dt.UTC)
    except OverflowError as exc:  # a valid local time that is outside years 1-9999 in UTC
        raise ValueError(str(exc)) from None


def _rfc2822(params: Mapping[str, str], name: str) -> dt.datetime | None:
    value = _optional(params, name)
    if value is None:
        return None
    try:
        return parse_rfc2822(value)
    except ValueError:
        raise CallbackError(
            f"{name} is malformed: expected an RFC 2822 date with a four-digit year "
            "that stays within years 1 to 9999 in UTC"
        ) from None


def _token(params: Mapping[str, str], name: str) -> str | None:
    value = _optional(params, name)
    if value is not None and not _TOKEN.fullmatch(value):
        raise CallbackError(f"{name} is malformed: expected up to 32 letters, digits or -_.:")
    return value


def _absolute_url(params: Mapping[str, str], name: str, required: bool) -> str | None:
    value = _required(params, name) if required else _optional(params, name)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackError(f"{name} is malformed: expected an absolute http(s) URL")
    return value


def parse_callback(provider: str, ids: IdFormats, params: Mapping[str, str]) -> RecordingReport:
    """Validate a Twilio-format recording-status callback.

    Raises ``CallbackError`` (400) naming the first bad field. The media URL is
    only required once the recording is ``completed``; whether it points where
    it may is decided by the worker, against the settings in force then.
    """
    described = ids.description
    account_sid = _id(
        _required(params, "AccountSid"), "AccountSid", ids.account, described["AccountSid"]
    )
    recording_sid = _id(
        _required(params, "RecordingSid"), "RecordingSid", ids.recording, described["RecordingSid"]
    )
    status = _required(params, "RecordingStatus")
    if not _TOKEN.fullmatch(status):
        raise CallbackError("RecordingStatus is malformed: expected a word such as completed")
    assert account_sid is not None and recording_sid is not None
    return RecordingReport(
        provider=provider,
        account_sid=account_sid,
        recording_sid=recording_sid,
        status=status,
        call_sid=_id(_optional(params, "CallSid"), "CallSid", ids.call, described["CallSid"]),
        conference_sid=_id(
            _optional(params, "ConferenceSid"),
            "ConferenceSid",
            ids.conference,
            described["ConferenceSid"],
        ),
        media_url=_absolute_url(
            params, "RecordingUrl", required=status == RecordingStatus.COMPLETED
        ),
        channels=_integer(params, "RecordingChannels", allowed=(1, 2)),
        duration_seconds=_integer(params, "RecordingDuration"),
        started_at=_rfc2822(params, "RecordingStartTime"),
        source=_token(params, "RecordingSource"),
        track=_token(params, "RecordingTrack"),
        error_code=_token(params, "ErrorCode"),
    )


def signature_is_valid(
    url: str, form: Mapping[str, Any], body: bytes, signature: str, key: str
) -> bool:
    """A Twilio-style signature: base64 HMAC-SHA1 of the URL and the sorted POST
    parameters, keyed with the account's token (Twilio) or signing key (SignalWire).

    See ``app.providers.signature``: both port variants of the URL are tried
    (the URL as it came first, so a genuine callback costs one HMAC), and a
    JSON body is signed through the exact query key ``bodySHA256``.
    """
    return signature_matches(url, form, body, signature, key)


def sign(url: str, params: Mapping[str, str], key: str) -> str:
    """The signature a Twilio-style provider sends with ``params`` posted to ``url``."""
    return compute_signature(url, params, key)


def example_callback(
    api_base_url: str, account_sid: str, call_sid: str, recording_sid: str, status: str
) -> dict[str, str]:
    """A recording-status callback as a Twilio-style provider sends it.

    The same recording gets the same parameters all day (it "started" at midnight
    UTC), so sending it again is a repeat, as a provider's retry is, and stored once.
    """
    midnight = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    params = {
        "AccountSid": account_sid,
        "CallSid": call_sid,
        "RecordingSid": recording_sid,
        "RecordingStatus": status,
        "RecordingChannels": "2",
        "RecordingSource": "DialVerb",
        "RecordingStartTime": midnight.strftime("%a, %d %b %Y %H:%M:%S +0000"),
    }
    if status == RecordingStatus.COMPLETED:
        params["RecordingDuration"] = "42"
        params["RecordingUrl"] = (
            f"{api_base_url}/{API_VERSION}/Accounts/{account_sid}/Recordings/{recording_sid}"
        )
    return params


class CompatApi:
    """One account's recordings on a Twilio-style REST API (HTTP Basic auth).

    Requests only ever go to the configured API origin (or an ``extra_origin``
    the provider vouches for, such as Twilio's regional hosts), for the
    recording the callback named: a media URL elsewhere is refused before any
    request is made, so a leaked signing key or a bad callback cannot turn
    the worker against internal addresses or another recording.
    """

    def __init__(
        self,
        *,
        name: str,
        api_base_url: str,
        account_sid: str,
        auth_token: str,
        extra_origin: re.Pattern[str] | None = None,
        timeouts: tuple[float, float] = (10.0, 30.0),
        requested_channels: bool = True,
    ) -> None:
        self.name = name
        self.api_base_url = api_base_url.rstrip("/")
        self.account_sid = account_sid
        self._auth = (account_sid, auth_token)
        self._extra_origin = extra_origin
        self._requested_channels = requested_channels
        self.timeouts = timeouts
        self.session = new_session()

    def __repr__(self) -> str:  # never show the token
        return f"<CompatApi {self.name} {self.api_base_url} {self.account_sid}>"

    def handles(self, account_sid: str) -> bool:
        return account_sid == self.account_sid

    def checked_recording_url(self, url: str, account_sid: str, recording_sid: str) -> str:
        """``url`` without extension, if it is this provider's URL for exactly this
        recording; otherwise a permanent ProviderError, without any request made."""
        parts = urlsplit(url)
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ProviderError(
                "RecordingUrl refused: it carries credentials, a query or a fragment",
                retryable=False,
            )
        origin = origin_of(url)
        on_api_origin = origin == origin_of(self.api_base_url)
        allowed = on_api_origin or (
            self._extra_origin is not None
            and origin[0] == "https"
            and origin[2] == 443
            and bool(self._extra_origin.fullmatch(origin[1]))
        )
        if not allowed:
            raise ProviderError(
                f"RecordingUrl refused: {origin[0]}://{origin[1]}:{origin[2]} is not "
                f"the {self.name} API origin",
                retryable=False,
            )
        base_path = urlsplit(self.api_base_url).path.rstrip("/") if on_api_origin else ""
        path = re.sub(r"\.(mp3|wav|json)$", "", parts.path)
        if path != f"{base_path}/{API_VERSION}/Accounts/{account_sid}/Recordings/{recording_sid}":
            raise ProviderError(
                "RecordingUrl refused: its path does not name this callback's "
                "AccountSid and RecordingSid",
                retryable=False,
            )
        return f"{parts.scheme}://{parts.netloc}{path}"

    def _recording_url(self, recording: MediaRef) -> str:
        if not recording.media_url:
            raise ProviderError("the callback gave no RecordingUrl", retryable=False)
        return self.checked_recording_url(
            recording.media_url, recording.account_sid, recording.recording_sid
        )

    def open_media(self, recording: MediaRef, fmt: str) -> ResponseStream:
        """Start streaming the media, two channels first for a two-channel recording.

        A 400 to ``RequestedChannels=2`` (a recording the provider cannot
        split) falls back to ``RequestedChannels=1``.
        """
        url = f"{self._recording_url(recording)}.{fmt}"
        asks: list[int | None] = [None]
        if self._requested_channels and recording.channels == 2:
            asks = [2, 1]
        for index, channels in enumerate(asks):
            params = {"RequestedChannels": str(channels)} if channels else None
            try:
                response = self.session.get(
                    url, params=params, auth=self._auth, stream=True, timeout=self.timeouts
                )
            except requests.RequestException as exc:
                raise request_failed("download", exc) from exc
            if response.status_code == 400 and channels == 2 and index + 1 < len(asks):
                response.close()
                log.info(
                    "%s answered 400 to RequestedChannels=2; asking for one channel", self.name
                )
                continue
            if response.status_code >= 400:
                response.close()
            raise_for_status(response, f"download of {url}")
            return ResponseStream(response, channels or recording.channels or 1, fmt)
        raise AssertionError("unreachable: the last request returns or raises")

    def delete_original(self, recording: MediaRef) -> bool:
        """``DELETE {RecordingUrl}.json``; True if deleted now, False if already gone."""
        url = f"{self._recording_url(recording)}.json"
        return delete_resource(self.session, url, auth=self._auth, timeout=self.timeouts)

    def list_recordings(
        self, since: dt.datetime, until: dt.datetime | None, page_size: int
    ) -> Iterator[list[RecordingReport]]:
        """``GET .../Recordings.json`` by creation date, following ``next_page_uri``.

        Twilio reads ``DateCreated>`` and ``DateCreated<`` as "on or after" and
        "on or before" a day (GMT), so ``until`` (exclusive) asks for the day
        before it. (twilio-python ``rest/api/v2010/account/recording``.)
        """
        url = f"{self.api_base_url}/{API_VERSION}/Accounts/{self.account_sid}/Recordings.json"
        first = {"DateCreated>": since.date().isoformat(), "PageSize": str(page_size)}
        if until is not None:
            first["DateCreated<"] = (until - dt.timedelta(microseconds=1)).date().isoformat()
        params = first
        pages = walk_pages(self.session, url, params, auth=self._auth, timeout=self.timeouts)
        for page in pages:
            yield listed_entries(page, self.name, self.listed)

    def listed(self, item: Mapping[str, Any]) -> RecordingReport:
        """A listing's entry as a report, its media URL built from its ``uri``;
        MalformedEntry when a field is not of its documented type."""
        uri = entry_text(item, "uri") or ""
        media_url = (
            f"{url_origin(self.api_base_url)}{re.sub(r'[.]json$', '', uri)}" if uri else None
        )
        started = item.get("start_time") or item.get("date_created")
        return RecordingReport(
            provider=self.name,
            account_sid=entry_text(item, "account_sid") or self.account_sid,
            recording_sid=str(item["sid"]),
            status=entry_text(item, "status") or "",
            call_sid=entry_text(item, "call_sid"),
            conference_sid=entry_text(item, "conference_sid"),
            media_url=media_url,
            channels=whole_number(item.get("channels")),
            duration_seconds=whole_number(item.get("duration")),
            started_at=_listed_date(started),
            source=entry_text(item, "source"),
            track=entry_text(item, "track"),
            error_code=str(item["error_code"]) if item.get("error_code") is not None else None,
        )


def whole_number(value: Any) -> int | None:
    """A listing's number, given as a number or a string; None when it is neither."""
    text = str(value).strip() if value is not None else ""
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else None


def _listed_date(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        return parse_rfc2822(str(value))
    except ValueError:
        return None


class CompatProvider:
    """What Twilio and SignalWire share: callbacks signed with a shared key, one
    account per deployment, Twilio's recording API. A subclass says where its
    settings are and how its signatures and IDs look."""

    name: str
    title: str
    ids: IdFormats
    signature_headers: tuple[str, ...]
    idempotency_header: str | None = None
    extra_origin: re.Pattern[str] | None = None
    requested_channels = True

    def read_settings(self, env: Env) -> Section:
        raise NotImplementedError

    def credentials(self, settings: Settings) -> CompatCredentials:
        """The account, its API key and callback-signing key, and the API's base URL."""
        raise NotImplementedError

    def verify(self, settings: Settings, callback: IncomingCallback) -> str | None:
        header = next((h for h in self.signature_headers if h.lower() in callback.headers), None)
        if header is None:
            return f"{self.signature_headers[0]} header is missing"
        key = self.credentials(settings).signing_key
        signature = callback.headers[header.lower()]
        if not signature_is_valid(callback.url, callback.form, callback.body, signature, key):
            return f"{header} does not match this request"
        return None

    def parse_callback(self, params: Mapping[str, str]) -> RecordingReport:
        return parse_callback(self.name, self.ids, params)

    def serves(self, settings: Settings, account_sid: str) -> bool:
        return account_sid == self.credentials(settings).account_sid

    def example_callback(
        self, settings: Settings, recording_sid: str, status: str
    ) -> dict[str, str]:
        credentials = self.credentials(settings)
        return example_callback(
            credentials.api_base_url,
            credentials.account_sid,
            self.ids.example_call_sid(recording_sid),
            recording_sid,
            status,
        )

    def sign_for_test(
        self, settings: Settings, url: str, params: Mapping[str, str]
    ) -> dict[str, str]:
        key = self.credentials(settings).signing_key
        return {self.signature_headers[0]: sign(url, params, key)}

    def api(self, settings: Settings) -> CompatApi | None:
        if settings.providers[self.name].missing():
            return None
        credentials = self.credentials(settings)
        return CompatApi(
            name=self.name,
            api_base_url=credentials.api_base_url,
            account_sid=credentials.account_sid,
            auth_token=credentials.api_token,
            extra_origin=self.extra_origin,
            timeouts=(settings.http_connect_timeout, settings.http_read_timeout),
            requested_channels=self.requested_channels,
        )


@dataclass(frozen=True)
class CompatCredentials:
    account_sid: str
    api_token: str = field(repr=False)
    signing_key: str = field(repr=False)
    api_base_url: str
