"""Telnyx TeXML: Twilio's callback format, Telnyx's own signatures, storage and API.

Facts, from Telnyx's references:

- Callbacks carry ``AccountSid`` (a UUID, the user id), ``CallSid`` (a call
  control id such as ``v3:...``), ``RecordingSid`` (a UUID),
  ``RecordingStatus``, ``RecordingDuration``, ``RecordingChannels`` (1/2),
  ``RecordingSource`` and ``RecordingUrl``, form-encoded, POST by default.
  (developers.telnyx.com/api-reference/callbacks/texml-recording-completed)
- They are signed with Ed25519, not HMAC: ``telnyx-signature-ed25519``
  (base64) over ``"{telnyx-timestamp}|{raw body}"``, verified with the
  account's public key (base64, from the portal); timestamps more than 300 s
  away are refused. (telnyx-python ``src/telnyx/lib/webhook_verification.py``;
  telnyx-node ``src/lib/webhooks.ts``.) The URL is not signed. Telnyx does
  not say what a GET callback signs; we require the signature to cover its
  query string, so a GET's parameters cannot be changed either.
- ``RecordingUrl`` is a short-lived presigned link (valid ~10 minutes) on
  Telnyx's storage, not on the API host (TeXML ``<Record>`` docs; the
  storage example is ``https://s3.amazonaws.com/telephony-recorder-prod/...``
  with ``X-Amz-Expires=600``). No API key is ever sent there. When the link
  has expired (403 from storage), a fresh one comes from ``GET
  {api}/v2/texml/Accounts/{AccountSid}/Recordings/{RecordingSid}.json``
  (``media_url``), with the Bearer key.
- Delete: ``DELETE .../Recordings/{RecordingSid}.json`` (204; 404 when gone).
  List: ``GET .../Recordings.json`` with ``PageSize`` and ``DateCreated``
  operators, following ``next_page_uri`` (relative to the origin, starting
  with ``/v2``). (telnyx-python ``resources/texml/accounts/recordings``.)
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import logging
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from app.config import ConfigError, Env, Settings
from app.providers.base import IncomingCallback, MediaRef, RecordingReport
from app.providers.compat import (
    UUID,
    IdFormats,
    parse_callback,
    parse_rfc2822,
    uuid_from,
    whole_number,
)
from app.providers.errors import ProviderError
from app.providers.http import (
    ResponseStream,
    delete_resource,
    entry_text,
    json_object,
    listed_entries,
    new_session,
    origin_of,
    raise_for_status,
    request_failed,
    walk_pages,
)

log = logging.getLogger(__name__)

NAME = "telnyx"
SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
TOLERANCE_SECONDS = 300
# ASCII digits only, and few enough that the arithmetic stays exact: str.isdigit()
# also accepts "²" (which int() refuses) and any length (a float overflows).
UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
DEFAULT_API_BASE_URL = "https://api.telnyx.com"
# Where Telnyx's recording links point: its S3 buckets, in the US and the EU.
DEFAULT_MEDIA_HOSTS = (
    "s3.amazonaws.com,telephony-recorder-prod.s3.amazonaws.com,"
    "s3.eu-central-1.amazonaws.com,telephony-recorder-prod-fr5.s3.eu-central-1.amazonaws.com"
)
MEDIA_TYPES = {"audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/wav": "wav", "audio/x-wav": "wav"}

IDS = IdFormats(
    account=UUID,
    call=re.compile(r"v\d{1,3}:[A-Za-z0-9_-]{1,120}"),  # fits the 128-character column
    recording=UUID,
    conference=UUID,
    description={
        "AccountSid": "a UUID",
        "CallSid": "a call control id such as v3:KBnLO0ZK3DhKM5s7bE9V...",
        "RecordingSid": "a UUID",
        "ConferenceSid": "a UUID",
    },
    call_example=lambda seed: "v3:" + uuid_from(seed).replace("-", "_"),
)


@dataclass(frozen=True)
class MediaOrigin:
    """One allowed place for media: ``host`` (https, any port), ``host:port``
    (https, that port) or a full ``scheme://host:port`` (exactly that)."""

    scheme: str
    host: str
    port: int | None  # None: any port

    @classmethod
    def parse(cls, entry: str) -> MediaOrigin:
        if "://" in entry:
            scheme, host, port = origin_of(entry)
            if scheme not in ("http", "https") or not host or port <= 0 or urlsplit(entry).path:
                raise ValueError(entry)
            return cls(scheme, host, port)
        name, _, number = entry.partition(":")
        if not re.fullmatch(r"[A-Za-z0-9.-]+", name) or (number and not number.isdigit()):
            raise ValueError(entry)
        return cls("https", name.lower(), int(number) if number else None)

    def admits(self, url: str) -> bool:
        scheme, host, port = origin_of(url)
        return (
            scheme == self.scheme and host == self.host and (self.port is None or port == self.port)
        )


def parse_media_hosts(value: str) -> tuple[MediaOrigin, ...]:
    return tuple(MediaOrigin.parse(part.strip()) for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class TelnyxSettings:
    api_base_url: str = DEFAULT_API_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    public_key: str | None = None  # base64; public, but long and useless in a repr
    media_hosts: tuple[MediaOrigin, ...] = field(
        default_factory=lambda: parse_media_hosts(DEFAULT_MEDIA_HOSTS)
    )
    # Optional: the one account served (and listed by reconciliation).
    account_sid: str | None = None

    @classmethod
    def from_env(cls, env: Env) -> TelnyxSettings:
        public_key = env.text("TELNYX_PUBLIC_KEY")
        if public_key is not None:
            try:
                verify_key(public_key)
            except ValueError:
                raise ConfigError(
                    "TELNYX_PUBLIC_KEY must be the base64 Ed25519 public key from the "
                    "Telnyx portal (32 bytes)"
                ) from None
        hosts = env.text("TELNYX_MEDIA_HOSTS", DEFAULT_MEDIA_HOSTS) or DEFAULT_MEDIA_HOSTS
        try:
            media_hosts = parse_media_hosts(hosts)
        except ValueError as exc:
            raise ConfigError(
                "TELNYX_MEDIA_HOSTS must be comma-separated hosts, host:port or "
                f"scheme://host:port entries, got {exc.args[0]!r}"
            ) from None
        account_sid = env.text("TELNYX_ACCOUNT_SID")
        if account_sid is not None and not UUID.fullmatch(account_sid):
            raise ConfigError(f"TELNYX_ACCOUNT_SID must be a UUID, got {account_sid!r}")
        return cls(
            api_base_url=env.base_url("TELNYX_API_BASE_URL", DEFAULT_API_BASE_URL),
            api_key=env.text("TELNYX_API_KEY"),
            public_key=public_key,
            media_hosts=media_hosts,
            account_sid=account_sid,
        )

    def missing(self) -> list[str]:
        return [
            name
            for name, value in (
                ("TELNYX_API_KEY", self.api_key),
                ("TELNYX_PUBLIC_KEY", self.public_key),
            )
            if not value
        ]


@functools.lru_cache(maxsize=4)
def verify_key(public_key: str) -> VerifyKey:
    """The Ed25519 key from its base64 form; ValueError when it is not one."""
    try:
        raw = base64.b64decode(public_key, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if len(raw) != 32:
        raise ValueError("not 32 bytes")
    return VerifyKey(raw)


class Telnyx:
    name = NAME
    title = "Telnyx"
    idempotency_header: str | None = None

    def read_settings(self, env: Env) -> TelnyxSettings:
        return TelnyxSettings.from_env(env)

    def _settings(self, settings: Settings) -> TelnyxSettings:
        return settings.section(NAME, TelnyxSettings)

    def verify(self, settings: Settings, callback: IncomingCallback) -> str | None:
        signature = callback.headers.get(SIGNATURE_HEADER, "")
        timestamp = callback.headers.get(TIMESTAMP_HEADER, "")
        if not signature:
            return f"{SIGNATURE_HEADER} header is missing"
        if not timestamp:
            return f"{TIMESTAMP_HEADER} header is missing"
        if not UNIX_SECONDS.fullmatch(timestamp):
            return f"{TIMESTAMP_HEADER} header is not unix seconds (1 to 12 digits 0-9)"
        skew = abs(time.time() - int(timestamp))
        if skew > TOLERANCE_SECONDS:
            return (
                f"{TIMESTAMP_HEADER} is {skew:.0f} s away from now (more than {TOLERANCE_SECONDS})"
            )
        try:
            raw_signature = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            return f"{SIGNATURE_HEADER} is not base64"
        signed = callback.body if callback.method == "POST" else _query(callback.url)
        public_key = self._settings(settings).public_key or ""
        try:
            verify_key(public_key).verify(f"{timestamp}|".encode() + signed, raw_signature)
        except (BadSignatureError, ValueError):
            return f"{SIGNATURE_HEADER} does not match this request"
        return None

    def parse_callback(self, params: Mapping[str, str]) -> RecordingReport:
        return parse_callback(NAME, IDS, params)

    def serves(self, settings: Settings, account_sid: str) -> bool:
        # The public key is the account's own; TELNYX_ACCOUNT_SID narrows further.
        only = self._settings(settings).account_sid
        return only is None or account_sid == only

    def api(self, settings: Settings) -> TelnyxApi | None:
        section = self._settings(settings)
        if section.missing():
            return None
        return TelnyxApi(section, (settings.http_connect_timeout, settings.http_read_timeout))


def _query(url: str) -> bytes:
    return url.partition("?")[2].encode()


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """An explicit "no credentials" (requests would otherwise look in ~/.netrc)."""
    return request


class TelnyxApi:
    """One Telnyx account's TeXML recordings; the API key goes to the API host only."""

    def __init__(self, settings: TelnyxSettings, timeouts: tuple[float, float]) -> None:
        assert settings.api_key is not None
        self.name = NAME
        self.settings = settings
        self.timeouts = timeouts
        self._api = new_session()
        self._api.headers["Authorization"] = f"Bearer {settings.api_key}"
        self._storage = new_session()

    def __repr__(self) -> str:  # never show the key
        return f"<TelnyxApi {self.settings.api_base_url}>"

    def handles(self, account_sid: str) -> bool:
        return self.settings.account_sid in (None, account_sid)

    def _recording_url(self, account_sid: str, recording_sid: str) -> str:
        return (
            f"{self.settings.api_base_url}/v2/texml/Accounts/{account_sid}"
            f"/Recordings/{recording_sid}.json"
        )

    def checked_media_url(self, url: str) -> str:
        """``url`` if it is on one of Telnyx's media hosts; else a permanent
        ProviderError, without any request made."""
        parts = urlsplit(url)
        if parts.username or parts.password or parts.fragment:
            raise ProviderError(
                "RecordingUrl refused: it carries credentials or a fragment", retryable=False
            )
        if not any(origin.admits(url) for origin in self.settings.media_hosts):
            scheme, host, port = origin_of(url)
            raise ProviderError(
                f"RecordingUrl refused: {scheme}://{host}:{port} is not one of Telnyx's "
                "media hosts (TELNYX_MEDIA_HOSTS)",
                retryable=False,
            )
        return url

    def fresh_media_url(self, recording: MediaRef) -> str:
        """A new presigned link, from the recording's resource at the API."""
        url = self._recording_url(recording.account_sid, recording.recording_sid)
        try:
            response = self._api.get(url, timeout=self.timeouts)
        except requests.RequestException as exc:
            raise request_failed("fetching a fresh media link", exc) from exc
        raise_for_status(response, f"fetching {url}")
        media_url = json_object(response, "fetching a fresh media link").get("media_url")
        if not media_url:
            raise ProviderError(f"{url} gave no media_url (not ready yet?)", retryable=True)
        if not isinstance(media_url, str):
            raise ProviderError(f"{url} gave a media_url that is not text", retryable=True)
        return media_url

    def open_media(self, recording: MediaRef, fmt: str) -> ResponseStream:
        """Stream the recording from storage, with a fresh link once if it expired.

        The format is the one Telnyx recorded in (``fmt`` cannot choose it).
        """
        url = recording.media_url or self.fresh_media_url(recording)
        for attempt in ("given", "fresh"):
            url = self.checked_media_url(url)
            try:
                response = self._storage.get(
                    url,
                    auth=_no_auth,
                    stream=True,
                    timeout=self.timeouts,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                raise request_failed("download", exc) from exc
            if response.status_code in (401, 403) and attempt == "given":
                response.close()
                log.info(
                    "the media link of %s has expired; asking for a fresh one",
                    recording.recording_sid,
                )
                url = self.fresh_media_url(recording)
                continue
            if response.status_code >= 300:
                response.close()
                if response.status_code in (401, 403):
                    raise ProviderError(
                        f"storage refused a fresh media link: HTTP {response.status_code}",
                        retryable=True,
                    )
            raise_for_status(response, "download from Telnyx storage")
            if 300 <= response.status_code < 400:
                raise ProviderError(
                    f"storage answered {response.status_code}: redirects are not followed",
                    retryable=True,
                )
            return ResponseStream(response, recording.channels or 1, _format_of(response, url))
        raise AssertionError("unreachable: the fresh link returns or raises")

    def delete_original(self, recording: MediaRef) -> bool:
        url = self._recording_url(recording.account_sid, recording.recording_sid)
        return delete_resource(self._api, url, timeout=self.timeouts)

    def list_recordings(
        self, since: dt.datetime, until: dt.datetime | None, page_size: int
    ) -> Iterator[list[RecordingReport]]:
        account = self.settings.account_sid
        if account is None:
            raise ProviderError(
                "set TELNYX_ACCOUNT_SID to list the account's recordings", retryable=False
            )
        url = f"{self.settings.api_base_url}/v2/texml/Accounts/{account}/Recordings.json"
        first: list[tuple[str, str]] = [
            ("DateCreated>", since.strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("PageSize", str(page_size)),
        ]
        if until is not None:
            first.append(("DateCreated<", until.strftime("%Y-%m-%dT%H:%M:%SZ")))
        for page in walk_pages(self._api, url, first, timeout=self.timeouts):
            yield listed_entries(page, NAME, lambda item: self.listed(account, item))

    def listed(self, account: str, item: Mapping[str, Any]) -> RecordingReport:
        """A listing's entry as a report; MalformedEntry when a field is not of its type."""
        started = item.get("start_time") or item.get("date_created")
        return RecordingReport(
            provider=NAME,
            account_sid=entry_text(item, "account_sid") or account,
            recording_sid=str(item["sid"]),
            status=entry_text(item, "status") or "",
            call_sid=entry_text(item, "call_sid"),
            conference_sid=entry_text(item, "conference_sid"),
            media_url=entry_text(item, "media_url"),
            channels=whole_number(item.get("channels")),
            duration_seconds=whole_number(item.get("duration")),
            started_at=_date(str(started)) if started else None,
            source=entry_text(item, "source"),
            error_code=str(item["error_code"]) if item.get("error_code") is not None else None,
        )


def _date(value: str) -> dt.datetime | None:
    """Telnyx writes dates as RFC 2822 in some answers and ISO 8601 in others."""
    try:
        return parse_rfc2822(value)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)
    except (ValueError, OverflowError):
        return None


def _format_of(response: requests.Response, url: str) -> str:
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type in MEDIA_TYPES:
        return MEDIA_TYPES[content_type]
    path = urlsplit(url).path.lower()
    return "wav" if path.endswith(".wav") else "mp3"


PROVIDER = Telnyx()
