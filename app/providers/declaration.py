"""A provider as a declaration of its parts, put together here once.

A provider module (``twilio``, ``signalwire``, ``telnyx``) declares its
settings section, its ID formats, the signer its callbacks use, where the
signing key and the served account are in its section, and how its REST
client is made from the section. Everything a ``base.Provider`` does follows
from those parts; there is nothing to override.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from app.config import Env, Section, Settings
from app.providers.base import IncomingCallback, ProviderApi, RecordingReport
from app.providers.callback_format import IdFormats, parse_callback
from app.providers.example_callbacks import example_callback
from app.providers.signing import CallbackSigner
from app.providers.signing.hmac_sha1 import HmacSigner

S = TypeVar("S", bound=Section)
Timeouts = tuple[float, float]  # (connect, read) seconds


@dataclass(frozen=True)
class CallbackKeys:
    """What a callback is checked against: the signer's key, and the one account
    served (None: any account whose callbacks the key proves)."""

    signing_key: str = field(repr=False)
    account_sid: str | None


class AccountKeys(Protocol):
    """Keys of accounts besides the one served (Twilio's subaccounts), each
    looked up as its callbacks need it."""

    def covers(self, account_sid: str) -> bool:
        """Whether callbacks naming ``account_sid`` are checked here, not with the
        section's own key."""
        ...

    def verify(self, account_sid: str, check: Callable[[str], str | None]) -> str | None:
        """Why the callback (``check`` says it for one key) is not from that account
        of ours, or None; SigningKeyUnavailable when its key cannot be had now."""
        ...

    def serves(self, account_sid: str) -> bool:
        """Whether ``account_sid`` is known to be an account of ours."""
        ...


@dataclass(frozen=True, kw_only=True)
class DeclaredProvider(Generic[S]):
    """A voice provider made of its declared parts (satisfies ``base.Provider``)."""

    name: str
    title: str  # as people write it: "Twilio"
    section_type: type[S]
    read: Callable[[Env], S]  # its settings section, parsed strictly
    ids: IdFormats
    signer: CallbackSigner
    keys: Callable[[S], CallbackKeys]
    client: Callable[[S, Timeouts], ProviderApi]  # only called once ``missing()`` is empty
    idempotency_header: str | None = None
    # Other accounts' keys (None: the section's account alone is served).
    account_keys: Callable[[S, Timeouts], AccountKeys | None] | None = None

    def read_settings(self, env: Env) -> Section:
        return self.read(env)

    def section(self, settings: Settings) -> S:
        return settings.section(self.name, self.section_type)

    def other_accounts(self, settings: Settings) -> AccountKeys | None:
        if self.account_keys is None:
            return None
        timeouts = (settings.http_connect_timeout, settings.http_read_timeout)
        return self.account_keys(self.section(settings), timeouts)

    def verify(self, settings: Settings, callback: IncomingCallback) -> str | None:
        # Which key checks it follows from the AccountSid the callback names: a
        # forged AccountSid only chooses a key the forger does not hold either.
        account_sid = callback.params.get("AccountSid", "")
        others = self.other_accounts(settings)
        if others is not None and others.covers(account_sid):
            return others.verify(account_sid, lambda key: self.signer.verify(callback, key))
        return self.signer.verify(callback, self.keys(self.section(settings)).signing_key)

    def parse_callback(self, params: Mapping[str, str]) -> RecordingReport:
        return parse_callback(self.name, self.ids, params)

    def serves(self, settings: Settings, account_sid: str) -> bool:
        only = self.keys(self.section(settings)).account_sid
        if only is None or account_sid == only:
            return True
        others = self.other_accounts(settings)
        return others is not None and others.serves(account_sid)

    def api(self, settings: Settings) -> ProviderApi | None:
        section = self.section(settings)
        if section.missing():
            return None
        return self.client(section, (settings.http_connect_timeout, settings.http_read_timeout))


@dataclass(frozen=True, kw_only=True)
class SharedKeyProvider(DeclaredProvider[S]):
    """A provider that signs callbacks with a key this deployment holds too, so we
    can make its callbacks ourselves (``base.SendsTestCallbacks``)."""

    signer: HmacSigner
    api_base_url: Callable[[S], str]  # where the example's RecordingUrl points

    def example_callback(
        self, settings: Settings, recording_sid: str, status: str
    ) -> dict[str, str]:
        section = self.section(settings)
        return example_callback(
            self.api_base_url(section),
            self.keys(section).account_sid or "",
            self.ids.example_call_sid(recording_sid),
            recording_sid,
            status,
        )

    def sign_for_test(
        self, settings: Settings, url: str, params: Mapping[str, str]
    ) -> dict[str, str]:
        return self.signer.sign(url, params, self.keys(self.section(settings)).signing_key)
