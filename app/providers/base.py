"""What every provider provides, in provider-neutral terms.

A provider module (``twilio``, ...) declares its settings section, its ID
formats, how a callback proves it came from the provider, and a REST client
behind ``ProviderApi`` (see ``app.providers.declaration``). Nothing here knows our tables: a provider reports
facts about a recording (``RecordingReport``), the domain decides what they
mean for the archive.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from app.config import Env, Section, Settings


class RecordingStatus:
    """The statuses Twilio-family providers report (Twilio, SignalWire, Telnyx TeXML)."""

    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    ABSENT = "absent"
    FAILED = "failed"


@dataclass(frozen=True)
class RecordingReport:
    """What a provider says about one recording (a callback, or a listing's entry)."""

    provider: str
    account_sid: str
    recording_sid: str
    status: str
    call_sid: str | None = None
    conference_sid: str | None = None
    media_url: str | None = None
    channels: int | None = None
    duration_seconds: int | None = None
    started_at: dt.datetime | None = None
    source: str | None = None
    track: str | None = None
    error_code: str | None = None
    # Voice Recording Encryption (``app.providers.encryption``): the details as
    # parsed, or as received when they could not be (kept, never refused: the
    # bytes are archived either way).
    encryption_details: Mapping[str, str] | None = None
    encryption_details_unparsed: str | None = None


def unreadable(provider: str) -> RecordingReport:
    """What stands for a listing's entry that could not be read: no recording SID,
    which reconciliation counts as malformed (and writes nothing for)."""
    return RecordingReport(provider=provider, account_sid="", recording_sid="", status="")


@dataclass(frozen=True)
class IncomingCallback:
    """A callback as it reached us: what a signature may cover.

    ``headers`` has lower-case names. ``body`` is the raw request body (some
    providers sign it byte for byte); ``params`` the parameters, from the form
    of a POST or the query string of a GET; ``form`` the POST form alone
    (empty for a GET), which is what Twilio-style signatures add to the URL.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    params: Mapping[str, str]
    form: Mapping[str, Any]


@dataclass(frozen=True)
class MediaRef:
    """Which recording to fetch or delete, as the database knows it."""

    account_sid: str
    recording_sid: str
    media_url: str | None
    channels: int | None


@dataclass(frozen=True)
class CallDetails:
    """The call a recording was made on, as the provider's call resource says
    (numbers as sent: the domain normalises them)."""

    from_number: str | None
    to_number: str | None
    direction: str | None
    caller_name: str | None = None
    parent_call_sid: str | None = None
    started_at: dt.datetime | None = None
    duration_seconds: int | None = None


class MediaStream(Protocol):
    """An open download. ``read`` raises ProviderError when the body breaks."""

    channels: int  # the channels the bytes hold
    fmt: str  # what the bytes are: "mp3" or "wav"
    content_length: int | None

    @property
    def received(self) -> int:
        """Bytes received so far."""
        ...

    def read(self, size: int) -> bytes: ...

    def close(self) -> None: ...


class ProviderApi(Protocol):
    """One account's recordings at a provider's REST API.

    Every method raises ``ProviderError``. A media URL that is not the
    provider's own, for exactly this recording, is refused before any
    request is made.
    """

    name: str

    def handles(self, account_sid: str) -> bool:
        """Whether this client may act for recordings of ``account_sid``."""
        ...

    def open_media(self, recording: MediaRef, fmt: str) -> MediaStream:
        """Start streaming the recording's media, in ``fmt`` (``mp3`` or ``wav``) where
        the provider lets us choose (the stream says which it is)."""
        ...

    def delete_original(self, recording: MediaRef) -> bool:
        """Delete the provider's copy; False when it was already gone."""
        ...

    def list_recordings(
        self, since: dt.datetime, until: dt.datetime | None, page_size: int
    ) -> Iterator[list[RecordingReport]]:
        """The account's recordings created in ``[since, until)``, a page at a time."""
        ...

    def fetch_call(self, account_sid: str, call_sid: str) -> CallDetails:
        """The call resource of ``call_sid`` in ``account_sid`` (the recording's own
        account: a subaccount's path with the main credentials, where the
        provider has them); a 404 is a permanent ProviderError."""
        ...


@dataclass(frozen=True)
class AccountListing:
    """One account whose recordings a reconciliation walks, and the client that
    lists them (Twilio's subaccounts, listed with the main credentials)."""

    account_sid: str
    friendly_name: str | None
    status: str | None  # the provider's: "active", "suspended", "closed"
    api: ProviderApi


@runtime_checkable
class ListsAccounts(Protocol):
    """A client that can reconcile several accounts (Twilio with subaccounts)."""

    def account_listings(self) -> list[AccountListing]:
        """Every account to reconcile, each with its lister; empty: this client's
        own account alone. Raises ProviderError."""
        ...


class Provider(Protocol):
    """A voice provider: its settings, its callbacks, its API (made of declared
    parts by ``app.providers.declaration``)."""

    @property
    def name(self) -> str: ...

    @property
    def title(self) -> str:
        """As people write it: "Twilio"."""
        ...

    @property
    def idempotency_header(self) -> str | None: ...

    def read_settings(self, env: Env) -> Section:
        """This provider's section of the settings, parsed strictly."""
        ...

    def verify(self, settings: Settings, callback: IncomingCallback) -> str | None:
        """Why the callback does not prove it came from this provider, or None."""
        ...

    def parse_callback(self, params: Mapping[str, str]) -> RecordingReport:
        """The callback's fields, in this provider's ID formats; CallbackError names a bad one."""
        ...

    def serves(self, settings: Settings, account_sid: str) -> bool:
        """Whether ``account_sid`` is an account of this deployment."""
        ...

    def api(self, settings: Settings) -> ProviderApi | None:
        """The REST client, or None when the provider is not configured."""
        ...


@runtime_checkable
class SendsTestCallbacks(Protocol):
    """A provider whose callbacks we can make ourselves (a shared signing key)."""

    def example_callback(
        self, settings: Settings, recording_sid: str, status: str
    ) -> dict[str, str]:
        """A callback's parameters, as the provider sends them for this recording."""
        ...

    def sign_for_test(
        self, settings: Settings, url: str, params: Mapping[str, str]
    ) -> dict[str, str]:
        """The headers the provider would sign these parameters with, sent to ``url``."""
        ...


def not_configured(provider: Provider, settings: Settings) -> str | None:
    """Why this deployment refuses every callback of ``provider``, or None."""
    section = settings.providers.get(provider.name)
    missing = section.missing() if section is not None else ["its settings"]
    if not missing:
        return None
    return f"{provider.title} callbacks are not enabled: set {', '.join(missing)}"
