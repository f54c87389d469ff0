"""Downloads and deletes against a Twilio-style REST API (Twilio, SignalWire).

The worker only ever sends requests to the provider's configured API origin,
for the recording the callback named: a ``RecordingUrl`` elsewhere is refused
before any request is made, so a leaked signing key or a bad callback cannot
turn the worker against internal addresses or another recording.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from app.archive.errors import PermanentError, RetryableError

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}
CONTENT_TYPES = {"mp3": "audio/mpeg", "wav": "audio/x-wav"}


def origin_of(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    return scheme, host, port


@dataclass(frozen=True)
class MediaRequest:
    url: str
    channels: int | None  # the RequestedChannels asked for, None for the default


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait, from a ``Retry-After`` of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def raise_for_status(response: requests.Response, what: str) -> None:
    """Turn a provider's error answer into a retryable or permanent error."""
    status = response.status_code
    if status < 400:
        return
    detail = f"{what}: HTTP {status}"
    if status == 404:
        raise RetryableError(f"{detail} (not found; media may not be ready yet)")
    if status == 429:
        raise RetryableError(
            f"{detail} (throttled)",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if status in (401, 403):
        raise PermanentError(
            f"{detail}: the provider refused our credentials; check the account SID and token"
        )
    if status >= 500 or status == 408:
        raise RetryableError(detail)
    raise PermanentError(detail)


class CompatibilityApi:
    """One account's recordings on a Twilio-compatible REST API."""

    def __init__(
        self,
        *,
        name: str,
        api_base_url: str,
        account_sid: str,
        auth_token: str,
        extra_origin: re.Pattern[str] | None = None,
        timeouts: tuple[float, float] = (10.0, 30.0),
    ) -> None:
        self.name = name
        self.api_base_url = api_base_url.rstrip("/")
        self.account_sid = account_sid
        self._auth = (account_sid, auth_token)
        self._extra_origin = extra_origin
        self.timeouts = timeouts
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "recording-archiver/0.1"

    def __repr__(self) -> str:  # never show the token
        return f"<CompatibilityApi {self.name} {self.api_base_url} {self.account_sid}>"

    def checked_recording_url(self, url: str, account_sid: str, recording_sid: str) -> str:
        """``url`` if it is this provider's URL for exactly this recording; else refuse.

        Raises PermanentError without making any request.
        """
        parts = urlsplit(url)
        base = urlsplit(self.api_base_url)
        if parts.username or parts.password or parts.query or parts.fragment:
            raise PermanentError(
                "RecordingUrl refused: it carries credentials, a query or a fragment"
            )
        origin = origin_of(url)
        allowed = origin == origin_of(self.api_base_url)
        if not allowed and self._extra_origin is not None:
            allowed = (
                origin[0] == "https"
                and origin[2] == 443
                and bool(self._extra_origin.fullmatch(origin[1]))
            )
        if not allowed:
            raise PermanentError(
                f"RecordingUrl refused: {origin[0]}://{origin[1]}:{origin[2]} is not "
                f"the {self.name} API origin"
            )
        base_path = base.path.rstrip("/") if origin == origin_of(self.api_base_url) else ""
        path = re.sub(r"\.(mp3|wav|json)$", "", parts.path)
        expected = f"{base_path}/2010-04-01/Accounts/{account_sid}/Recordings/{recording_sid}"
        if path != expected:
            raise PermanentError(
                "RecordingUrl refused: its path does not name this callback's "
                "AccountSid and RecordingSid"
            )
        return f"{parts.scheme}://{parts.netloc}{path}"

    def media_requests(
        self, recording_url: str, fmt: str, channels: int | None
    ) -> list[MediaRequest]:
        """What to ask for, in order: dual first for two-channel recordings."""
        url = f"{recording_url}.{fmt}"
        if channels == 2:
            return [MediaRequest(url, 2), MediaRequest(url, 1)]
        return [MediaRequest(url, None)]

    def open_media(
        self, recording_url: str, fmt: str, channels: int | None
    ) -> tuple[requests.Response, int]:
        """Start streaming the media; returns the open response and the channels it holds.

        A 400 to ``RequestedChannels=2`` (a recording the provider cannot split)
        falls back to ``RequestedChannels=1``.
        """
        attempts = self.media_requests(recording_url, fmt, channels)
        for index, media in enumerate(attempts):
            params = {"RequestedChannels": str(media.channels)} if media.channels else None
            try:
                response = self.session.get(
                    media.url, params=params, auth=self._auth, stream=True, timeout=self.timeouts
                )
            except requests.Timeout as exc:
                raise RetryableError(f"download timed out: {type(exc).__name__}") from exc
            except requests.RequestException as exc:
                raise RetryableError(f"download failed: {type(exc).__name__}: {exc}") from exc
            if response.status_code == 400 and media.channels == 2 and index + 1 < len(attempts):
                response.close()
                log.info(
                    "%s answered 400 to RequestedChannels=2; asking for one channel", self.name
                )
                continue
            if response.status_code >= 400:
                response.close()
            raise_for_status(response, f"download of {media.url}")
            return response, media.channels or 1
        raise AssertionError("unreachable: the last attempt returns or raises")

    def delete_recording(self, recording_url: str) -> bool:
        """``DELETE {RecordingUrl}.json``; True if deleted now, False if already gone."""
        url = f"{recording_url}.json"
        try:
            response = self.session.delete(url, auth=self._auth, timeout=self.timeouts)
        except requests.RequestException as exc:
            raise RetryableError(f"delete failed: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 404:
            return False
        raise_for_status(response, f"delete of {url}")
        return True
