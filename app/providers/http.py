"""HTTP for provider APIs: one session per client, answers turned into ProviderErrors."""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3

from app.providers.base import CallDetails, RecordingReport, unreadable
from app.providers.errors import ProviderError
from app.telemetry import redact

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}
USER_AGENT = "recording-archiver/0.1"


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of ``url``, lower-cased, with the scheme's default port."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    except ValueError:  # a port that is not a number
        port = -1
    return scheme, host, port


def new_session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


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
    """Turn a provider's error answer into a retryable or permanent ProviderError."""
    status = response.status_code
    if status < 400:
        return
    detail = f"{what}: HTTP {status}"
    if status == 404:
        raise ProviderError(f"{detail} (not found; media may not be ready yet)", retryable=True)
    if status == 429:
        raise ProviderError(
            f"{detail} (throttled)",
            retryable=True,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if status in (401, 403):
        raise ProviderError(
            f"{detail}: the provider refused our credentials; check the account SID and token",
            retryable=False,
        )
    if status >= 500 or status == 408:
        raise ProviderError(detail, retryable=True)
    raise ProviderError(detail, retryable=False)


def request_failed(what: str, exc: requests.RequestException) -> ProviderError:
    """A request that got no answer: always worth another try."""
    if isinstance(exc, requests.Timeout):
        return ProviderError(f"{what} timed out: {type(exc).__name__}", retryable=True)
    # The exception's text names the URL, presigned query string included.
    return ProviderError(f"{what} failed: {type(exc).__name__}: {redact(str(exc))}", retryable=True)


class ResponseStream:
    """An open streaming response, read chunk by chunk; a broken body is a ProviderError."""

    def __init__(self, response: requests.Response, channels: int, fmt: str) -> None:
        self._response = response
        self._raw = response.raw
        self.channels = channels
        self.fmt = fmt
        length = response.headers.get("Content-Length")
        self.content_length = int(length) if length and length.isdigit() else None
        self._read = 0

    # Read in slices: a body that breaks mid-way has still counted what came.
    SLICE = 64 * 1024

    @property
    def received(self) -> int:
        """Bytes received so far, a broken read's included."""
        return self._read

    def read(self, size: int) -> bytes:
        parts: list[bytes] = []
        wanted = size
        while wanted > 0:
            try:
                data = self._raw.read(min(wanted, self.SLICE), decode_content=True)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise ProviderError(
                    f"download broke after {self._read} bytes: {type(exc).__name__}",
                    retryable=True,
                ) from exc
            if not data:
                break
            self._read += len(data)
            parts.append(data)
            wanted -= len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        self._response.close()


def delete_resource(session: requests.Session, url: str, **kwargs: Any) -> bool:
    """``DELETE url``: True if deleted now, False if it was already gone (404)."""
    try:
        response = session.delete(url, **kwargs)
    except requests.RequestException as exc:
        raise request_failed("delete", exc) from exc
    if response.status_code == 404:
        return False
    raise_for_status(response, f"delete of {url}")
    return True


def url_origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, as written."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def json_object(response: requests.Response, what: str) -> dict[str, Any]:
    """The answer's JSON object; a ProviderError naming what was wrong with it otherwise.

    A provider (or a proxy in between) can answer 200 with a cut-off or foreign
    body; that is the provider's failure, not a crash of ours. The reason names
    the position only, never the body (it may hold phone numbers).
    """
    try:
        document = response.json()
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        where = getattr(exc, "pos", None)
        at = f" at character {where}" if isinstance(where, int) else ""
        raise ProviderError(
            f"{what}: the provider's answer is not valid JSON{at} "
            f"({len(response.content)} bytes, cut off?)",
            retryable=True,
        ) from None
    if not isinstance(document, dict):
        raise ProviderError(
            f"{what}: the provider's answer is a JSON {type(document).__name__}, not an object",
            retryable=True,
        )
    return document


class MalformedEntry(ValueError):
    """A listing's entry that is not shaped as the provider documents it."""


def entry_text(item: Mapping[str, Any], name: str) -> str | None:
    """A listing entry's optional text field; MalformedEntry when it is not text."""
    value = item.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedEntry(f"{name} is a {type(value).__name__}, not text")
    return value


def whole_number(value: Any) -> int | None:
    """A listing's number, given as a number or a string; None when it is neither."""
    text = str(value).strip() if value is not None else ""
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else None


def listed_entries(
    page: Mapping[str, Any],
    provider: str,
    read: Callable[[Mapping[str, Any]], RecordingReport],
) -> list[RecordingReport]:
    """A page's ``recordings``, each read by ``read``. An entry that cannot be read
    stands as an unreadable report (reconciliation counts it as malformed): one bad
    entry must not hide the rest of the page, nor stop the listing."""
    items = page.get("recordings")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise ProviderError(
            f"listing recordings: 'recordings' is a JSON {type(items).__name__}, not a list",
            retryable=True,
        )
    reports = []
    skipped: list[str] = []
    for index, item in enumerate(items):
        try:
            if not isinstance(item, Mapping):
                raise MalformedEntry(f"it is a JSON {type(item).__name__}, not an object")
            if not isinstance(item.get("sid"), str) or not item["sid"]:
                raise MalformedEntry("sid is missing or not text")
            reports.append(read(item))
        except MalformedEntry as exc:
            skipped.append(f"entry {index}: {exc}")
            reports.append(unreadable(provider))
    if skipped:  # one line per page, naming fields only (entries hold phone numbers)
        log.warning(
            "%s listing: %d malformed entr%s of %d skipped (%s)",
            provider,
            len(skipped),
            "y" if len(skipped) == 1 else "ies",
            len(items),
            skipped[0] if len(skipped) == 1 else f"first {skipped[0]}",
        )
    return reports


def walk_pages(
    session: requests.Session, url: str, params: Any, **kwargs: Any
) -> Iterator[dict[str, Any]]:
    """A Twilio-style listing, page by page: each page's ``next_page_uri`` is relative
    to the listing's origin and carries its own query. A page that is not a JSON
    object, or whose next page is not a path, is a ProviderError."""
    origin = url_origin(url)
    next_url: str | None = url
    while next_url is not None:
        try:
            response = session.get(next_url, params=params, **kwargs)
        except requests.RequestException as exc:
            raise request_failed("listing recordings", exc) from exc
        raise_for_status(response, "listing recordings")
        page = json_object(response, "listing recordings")
        next_uri = page.get("next_page_uri")
        if next_uri and not (isinstance(next_uri, str) and next_uri.startswith("/")):
            # Only a path: the next request must stay on the API's own origin.
            raise ProviderError(
                "listing recordings: next_page_uri is not a path on the API's origin",
                retryable=True,
            )
        yield page
        next_url = f"{origin}{next_uri}" if next_uri else None
        params = None


def call_details(item: Mapping[str, Any], started: dt.datetime | None) -> CallDetails:
    """A call resource's fields (Twilio's names, which SignalWire and Telnyx TeXML copy)."""
    try:
        return CallDetails(
            from_number=entry_text(item, "from"),
            to_number=entry_text(item, "to"),
            direction=entry_text(item, "direction"),
            caller_name=entry_text(item, "caller_name"),
            parent_call_sid=entry_text(item, "parent_call_sid"),
            started_at=started,
            duration_seconds=whole_number(item.get("duration")),
        )
    except MalformedEntry as exc:
        raise ProviderError(f"call look-up: the call resource's {exc}", retryable=False) from None


def fetch_call_resource(session: requests.Session, url: str, **kwargs: Any) -> dict[str, Any]:
    """GET a call resource as JSON; a 404 is permanent (a call resource, unlike
    media, does not appear later), other failures as ``raise_for_status`` says."""
    try:
        response = session.get(url, **kwargs)
    except requests.RequestException as exc:
        raise request_failed("call look-up", exc) from exc
    if response.status_code == 404:
        raise ProviderError(
            "call look-up: HTTP 404: the provider has no such call", retryable=False
        )
    raise_for_status(response, "call look-up")
    return json_object(response, "call look-up")
