"""Twilio's 2010-04-01 REST API for recordings, which SignalWire's LaML copies.

Media at ``{RecordingUrl}.mp3|.wav`` (``RequestedChannels`` where the provider
has it), ``DELETE {RecordingUrl}.json``, the listing at ``.../Recordings.json``
paged by ``next_page_uri``. The providers that speak it differ in the API's
origin and in whether ``RequestedChannels`` exists: both are arguments.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from app.providers.base import AccountListing, CallDetails, MediaRef, RecordingReport
from app.providers.callback_format import parse_rfc2822
from app.providers.encryption import parse_encryption_details
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
    url_origin,
    walk_pages,
    whole_number,
)

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
# An account SID as Twilio writes it: what a subaccount's callback may name.
TWILIO_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")


@dataclass(frozen=True)
class TwilioAccount:
    """An account as ``GET /2010-04-01/Accounts/{Sid}.json`` describes it."""

    sid: str
    owner_account_sid: str | None
    status: str  # "active", "suspended" or "closed"
    friendly_name: str | None
    auth_token: str | None = field(default=None, repr=False)


def _account(document: Mapping[str, Any]) -> TwilioAccount:
    def text(name: str) -> str | None:
        value = document.get(name)
        return value if isinstance(value, str) and value else None

    return TwilioAccount(
        sid=text("sid") or "",
        owner_account_sid=text("owner_account_sid"),
        status=text("status") or "",
        friendly_name=text("friendly_name"),
        auth_token=text("auth_token"),
    )


class TwilioApi:
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
        subaccounts: bool = False,
    ) -> None:
        self.name = name
        self.api_base_url = api_base_url.rstrip("/")
        self.account_sid = account_sid
        # TWILIO_SUBACCOUNTS: the main credentials act on every subaccount's paths.
        self.subaccounts = subaccounts
        self.listed_account = account_sid  # whose recordings ``list_recordings`` lists
        self._auth = (account_sid, auth_token)
        self._extra_origin = extra_origin
        self._requested_channels = requested_channels
        self.timeouts = timeouts
        self.session = new_session()

    def __repr__(self) -> str:  # never show the token
        return f"<TwilioApi {self.name} {self.api_base_url} {self.account_sid}>"

    def handles(self, account_sid: str) -> bool:
        """The main account; with subaccounts, any account SID (the webhook accepted
        only our subaccounts' callbacks, reconciliation lists only theirs, and
        Twilio refuses the main credentials on anyone else's paths)."""
        if account_sid == self.account_sid:
            return True
        return self.subaccounts and bool(TWILIO_ACCOUNT_SID.fullmatch(account_sid))

    def account_url(self, account_sid: str | None = None) -> str:
        """``{api}/2010-04-01/Accounts/{Sid}``: where an account's resources live.
        Requests under a subaccount's URL go with the main credentials too."""
        return f"{self.api_base_url}/{API_VERSION}/Accounts/{account_sid or self.account_sid}"

    def fetch_account(
        self, account_sid: str, timeouts: tuple[float, float] | None = None
    ) -> TwilioAccount | None:
        """``GET /2010-04-01/Accounts/{Sid}.json`` with the main credentials; None when
        Twilio does not show it to us (404, or 401/403: not an account of ours)."""
        url = f"{self.account_url(account_sid)}.json"
        try:
            response = self.session.get(url, auth=self._auth, timeout=timeouts or self.timeouts)
        except requests.RequestException as exc:
            raise request_failed("account look-up", exc) from exc
        if response.status_code in (401, 403, 404):
            response.close()
            return None
        raise_for_status(response, "account look-up")
        return _account(json_object(response, "account look-up"))

    def list_accounts(self) -> Iterator[TwilioAccount]:
        """``GET /2010-04-01/Accounts.json`` page by page: the main account and its
        subaccounts (every one the main credentials see)."""
        url = f"{self.api_base_url}/{API_VERSION}/Accounts.json"
        pages = walk_pages(
            self.session, url, {"PageSize": "1000"}, auth=self._auth, timeout=self.timeouts
        )
        for page in pages:
            entries = page.get("accounts") or []
            if not isinstance(entries, list):
                raise ProviderError("listing accounts: 'accounts' is not a list", retryable=True)
            for entry in entries:
                if isinstance(entry, Mapping):
                    yield _account(entry)

    def for_account(self, account_sid: str) -> TwilioApi:
        """This client listing ``account_sid``'s recordings (same credentials, session)."""
        other = copy.copy(self)
        other.listed_account = account_sid
        return other

    def account_listings(self) -> list[AccountListing]:
        """With subaccounts: the main account, then each subaccount the listing shows
        whose owner is the main account, each with a client that lists its recordings.
        Without: empty (this client's own listing alone)."""
        if not self.subaccounts:
            return []
        main = AccountListing(self.account_sid, None, "active", self)
        listings = []
        for account in self.list_accounts():
            if account.sid == self.account_sid:  # the list names the main account too
                main = AccountListing(account.sid, account.friendly_name, "active", self)
                continue
            if account.owner_account_sid != self.account_sid:
                continue
            if not TWILIO_ACCOUNT_SID.fullmatch(account.sid):
                continue
            listings.append(
                AccountListing(
                    account.sid,
                    account.friendly_name,
                    account.status,
                    self.for_account(account.sid),
                )
            )
        return [main, *listings]

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
        url = f"{self.account_url(self.listed_account)}/Recordings.json"
        first = {"DateCreated>": since.date().isoformat(), "PageSize": str(page_size)}
        if until is not None:
            first["DateCreated<"] = (until - dt.timedelta(microseconds=1)).date().isoformat()
        params = first
        pages = walk_pages(self.session, url, params, auth=self._auth, timeout=self.timeouts)
        for page in pages:
            yield listed_entries(page, self.name, self.listed)

    def fetch_call(self, account_sid: str, call_sid: str) -> CallDetails:
        """``GET {api}/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`` with this
        client's credentials, on the configured API origin only."""
        url = (
            f"{self.api_base_url}/{API_VERSION}/Accounts/{quote(account_sid, safe='')}"
            f"/Calls/{quote(call_sid, safe='')}.json"
        )
        item = fetch_call_resource(self.session, url, auth=self._auth, timeout=self.timeouts)
        return call_details(item, _listed_date(item.get("start_time")))

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
            account_sid=entry_text(item, "account_sid") or self.listed_account,
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
            **_listed_encryption(item),
        )


def _listed_encryption(item: Mapping[str, Any]) -> dict[str, Any]:
    """The entry's ``encryption_details`` (an object, or null), as the report's two
    fields: unreadable details are kept as received, never a reason to skip the
    entry (its bytes are archived either way)."""
    value = item.get("encryption_details")
    if value is None or value == "":
        return {}
    try:
        return {"encryption_details": parse_encryption_details(value).as_dict()}
    except ValueError as exc:
        log.warning("encryption_details of %s kept unparsed: %s", item.get("sid"), exc)
        return {"encryption_details_unparsed": json.dumps(value)}


def _listed_date(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        return parse_rfc2822(str(value))
    except ValueError:
        return None
