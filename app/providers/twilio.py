"""Twilio: its settings, ID formats, callback signer and API origins, declared.

Callback parameters and signatures: https://www.twilio.com/docs/usage/security
(``X-Twilio-Signature``: HMAC-SHA1 of the URL and the sorted POST parameters,
keyed with the auth token), checked by ``app.providers.signing.hmac_sha1``.
Recordings: https://www.twilio.com/docs/voice/api/recording (media at
``{RecordingUrl}.mp3|.wav``, ``RequestedChannels``, ``DELETE .../{Sid}.json``,
the list at ``.../Recordings.json`` paged by ``next_page_uri``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from app.config import Env, Settings
from app.providers.callback_format import IdFormats
from app.providers.declaration import CallbackKeys, SharedKeyProvider, Timeouts
from app.providers.signing.hmac_sha1 import HmacSigner
from app.providers.twilio_accounts import SubaccountKeys, subaccount_keys
from app.providers.twilio_api import TwilioApi

NAME = "twilio"
SIGNATURE_HEADER = "X-Twilio-Signature"
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
DEFAULT_API_BASE_URL = "https://api.twilio.com"

# Twilio's regional API hosts, e.g. api.dublin.ie1.twilio.com.
REGIONAL_API_HOST = re.compile(r"api\.[a-z0-9-]+\.[a-z0-9-]+\.twilio\.com")


def _sid(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"{prefix}[0-9a-fA-F]{{32}}")


IDS = IdFormats(
    account=_sid("AC"),
    call=_sid("CA"),
    recording=_sid("RE"),
    conference=_sid("CF"),
    description={
        name: f"{prefix} followed by 32 hex digits"
        for name, prefix in (
            ("AccountSid", "AC"),
            ("CallSid", "CA"),
            ("RecordingSid", "RE"),
            ("ConferenceSid", "CF"),
        )
    },
    call_example=lambda seed: "CA" + hashlib.sha256(seed.encode()).hexdigest()[:32],
)


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str | None = None
    auth_token: str | None = field(default=None, repr=False)
    api_base_url: str = DEFAULT_API_BASE_URL
    # TWILIO_SUBACCOUNTS: every subaccount of the account is served too.
    subaccounts: bool = False

    @classmethod
    def from_env(cls, env: Env) -> TwilioSettings:
        return cls(
            account_sid=env.text("TWILIO_ACCOUNT_SID"),
            auth_token=env.text("TWILIO_AUTH_TOKEN"),
            api_base_url=env.base_url("TWILIO_API_BASE_URL", DEFAULT_API_BASE_URL),
            subaccounts=env.boolean("TWILIO_SUBACCOUNTS", False),
        )

    def missing(self) -> list[str]:
        return [
            name
            for name, value in (
                ("TWILIO_ACCOUNT_SID", self.account_sid),
                ("TWILIO_AUTH_TOKEN", self.auth_token),
            )
            if not value
        ]


def _keys(section: TwilioSettings) -> CallbackKeys:
    # The auth token both signs callbacks and authorises API requests; an account
    # not configured serves nobody.
    return CallbackKeys(signing_key=section.auth_token or "", account_sid=section.account_sid or "")


def _client(section: TwilioSettings, timeouts: Timeouts) -> TwilioApi:
    return TwilioApi(
        name=NAME,
        api_base_url=section.api_base_url,
        account_sid=section.account_sid or "",
        auth_token=section.auth_token or "",
        extra_origin=REGIONAL_API_HOST,
        timeouts=timeouts,
        subaccounts=section.subaccounts,
    )


def _subaccount_keys(section: TwilioSettings, timeouts: Timeouts) -> SubaccountKeys | None:
    if not section.subaccounts or section.missing():
        return None
    return subaccount_keys(
        section.api_base_url, section.account_sid or "", section.auth_token or "", timeouts
    )


def auth_token_for(settings: Settings, account_sid: str) -> str | None:
    """The auth token that signs ``account_sid``'s callbacks: the main account's, or
    (with ``TWILIO_SUBACCOUNTS``) that subaccount's own, looked up and kept; None
    for an account this deployment does not serve. Raises SigningKeyUnavailable
    when the look-up gets no answer. (Forwarding signs with it, as Twilio would.)"""
    section = PROVIDER.section(settings)
    if section.missing():
        return None
    if account_sid == section.account_sid:
        return section.auth_token
    keys = PROVIDER.other_accounts(settings)
    if keys is None or not keys.covers(account_sid):
        return None
    assert isinstance(keys, SubaccountKeys)
    return keys.token_for(account_sid)


def subaccount_name(settings: Settings, account_sid: str) -> str | None:
    """A subaccount's friendly name, when this process has looked it up."""
    keys = PROVIDER.other_accounts(settings)
    return keys.friendly_name(account_sid) if isinstance(keys, SubaccountKeys) else None


PROVIDER = SharedKeyProvider(
    name=NAME,
    title="Twilio",
    section_type=TwilioSettings,
    read=TwilioSettings.from_env,
    ids=IDS,
    signer=HmacSigner((SIGNATURE_HEADER,)),
    keys=_keys,
    client=_client,
    api_base_url=lambda section: section.api_base_url,
    idempotency_header=IDEMPOTENCY_HEADER,
    account_keys=_subaccount_keys,
)
