"""Telnyx's v2 TeXML REST API for recordings, and its storage's presigned links.

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

import datetime as dt
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from app.providers.base import CallDetails, MediaRef, RecordingReport
from app.providers.callback_format import parse_rfc2822
from app.providers.errors import ProviderError
from app.providers.http import (
    ResponseStream,
    call_details,
    delete_resource,
    entry_text,
    fetch_call_resource,
    json_object,
    listed_entries,
    new_session,
    origin_of,
    raise_for_status,
    request_failed,
    walk_pages,
    whole_number,
)

log = logging.getLogger(__name__)

MEDIA_TYPES = {"audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/wav": "wav", "audio/x-wav": "wav"}


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


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """An explicit "no credentials" (requests would otherwise look in ~/.netrc)."""
    return request


class TelnyxApi:
    """One Telnyx account's TeXML recordings; the API key goes to the API host only."""

    def __init__(
        self,
        *,
        name: str,
        api_base_url: str,
        api_key: str,
        media_hosts: tuple[MediaOrigin, ...],
        account_sid: str | None,
        timeouts: tuple[float, float],
    ) -> None:
        self.name = name
        self.api_base_url = api_base_url
        self.media_hosts = media_hosts
        self.account_sid = account_sid  # None: any account the API key reaches
        self.timeouts = timeouts
        self._api = new_session()
        self._api.headers["Authorization"] = f"Bearer {api_key}"
        self._storage = new_session()

    def __repr__(self) -> str:  # never show the key
        return f"<TelnyxApi {self.api_base_url}>"

    def handles(self, account_sid: str) -> bool:
        return self.account_sid in (None, account_sid)

    def _recording_url(self, account_sid: str, recording_sid: str) -> str:
        return (
            f"{self.api_base_url}/v2/texml/Accounts/{account_sid}/Recordings/{recording_sid}.json"
        )

    def checked_media_url(self, url: str) -> str:
        """``url`` if it is on one of Telnyx's media hosts; else a permanent
        ProviderError, without any request made."""
        parts = urlsplit(url)
        if parts.username or parts.password or parts.fragment:
            raise ProviderError(
                "RecordingUrl refused: it carries credentials or a fragment", retryable=False
            )
        if not any(origin.admits(url) for origin in self.media_hosts):
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
        account = self.account_sid
        if account is None:
            raise ProviderError(
                "set TELNYX_ACCOUNT_SID to list the account's recordings", retryable=False
            )
        url = f"{self.api_base_url}/v2/texml/Accounts/{account}/Recordings.json"
        first: list[tuple[str, str]] = [
            ("DateCreated>", since.strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("PageSize", str(page_size)),
        ]
        if until is not None:
            first.append(("DateCreated<", until.strftime("%Y-%m-%dT%H:%M:%SZ")))
        for page in walk_pages(self._api, url, first, timeout=self.timeouts):
            yield listed_entries(page, self.name, lambda item: self.listed(account, item))

    def fetch_call(self, account_sid: str, call_sid: str) -> CallDetails:
        """``GET {api}/v2/texml/Accounts/{account_sid}/Calls/{call_sid}`` with the
        Bearer key (the API host only). The resource is the call itself, or the
        call under ``data`` as the v2 API wraps most answers: both are read."""
        url = (
            f"{self.api_base_url}/v2/texml/Accounts/{quote(account_sid, safe='')}"
            f"/Calls/{quote(call_sid, safe=':')}"
        )
        item = fetch_call_resource(self._api, url, timeout=self.timeouts)
        if isinstance(item.get("data"), dict):
            item = item["data"]
        started = item.get("start_time")
        return call_details(item, _date(str(started)) if started else None)

    def listed(self, account: str, item: Mapping[str, Any]) -> RecordingReport:
        """A listing's entry as a report; MalformedEntry when a field is not of its type."""
        started = item.get("start_time") or item.get("date_created")
        return RecordingReport(
            provider=self.name,
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
