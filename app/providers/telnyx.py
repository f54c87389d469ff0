"""Telnyx TeXML: Twilio's callback format, Telnyx's own signatures, storage and API.

Facts, from Telnyx's references:

- Callbacks carry ``AccountSid`` (a UUID, the user id), ``CallSid`` (a call
  control id such as ``v3:...``), ``RecordingSid`` (a UUID),
  ``RecordingStatus``, ``RecordingDuration``, ``RecordingChannels`` (1/2),
  ``RecordingSource`` and ``RecordingUrl``, form-encoded, POST by default.
  (developers.telnyx.com/api-reference/callbacks/texml-recording-completed)
- They are signed with Ed25519, not HMAC (``signing.ed25519``), with the
  account's public key: any account it proves is served, unless
  ``TELNYX_ACCOUNT_SID`` narrows it to one.
- Recording links point at Telnyx's storage, not its API (``telnyx_api``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from app.config import ConfigError, Env
from app.providers.callback_format import UUID, IdFormats, uuid_from
from app.providers.declaration import CallbackKeys, DeclaredProvider, Timeouts
from app.providers.signing.ed25519 import Ed25519Signer, verify_key
from app.providers.telnyx_api import MediaOrigin, TelnyxApi, parse_media_hosts

NAME = "telnyx"
DEFAULT_API_BASE_URL = "https://api.telnyx.com"
# Where Telnyx's recording links point: its S3 buckets, in the US and the EU.
DEFAULT_MEDIA_HOSTS = (
    "s3.amazonaws.com,telephony-recorder-prod.s3.amazonaws.com,"
    "s3.eu-central-1.amazonaws.com,telephony-recorder-prod-fr5.s3.eu-central-1.amazonaws.com"
)

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


def _keys(section: TelnyxSettings) -> CallbackKeys:
    return CallbackKeys(signing_key=section.public_key or "", account_sid=section.account_sid)


def _client(section: TelnyxSettings, timeouts: Timeouts) -> TelnyxApi:
    assert section.api_key is not None  # not called while the section is missing it
    return TelnyxApi(
        name=NAME,
        api_base_url=section.api_base_url,
        api_key=section.api_key,
        media_hosts=section.media_hosts,
        account_sid=section.account_sid,
        timeouts=timeouts,
    )


PROVIDER = DeclaredProvider(
    name=NAME,
    title="Telnyx",
    section_type=TelnyxSettings,
    read=TelnyxSettings.from_env,
    ids=IDS,
    signer=Ed25519Signer(),
    keys=_keys,
    client=_client,
)
