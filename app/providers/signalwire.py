"""SignalWire's Compatibility API ("LaML"), which copies Twilio's.

Facts, from SignalWire's own references:

- The space's API lives at ``https://{space}.signalwire.com/api/laml/2010-04-01``;
  HTTP Basic auth with the project ID and an API token. IDs (project,
  calls, recordings) are UUIDs. (signalwire/docs,
  ``specs/compatibility-api/recordings/main.tsp`` and ``models/core.tsp``.)
- Callbacks are signed like Twilio's (base64 HMAC-SHA1 of the URL and the
  sorted form parameters) with the project's *Signing Key*, not the API
  token, in ``X-SignalWire-Signature``; ``X-Twilio-Signature`` is the legacy
  alias. (signalwire/docs ``webhook-security.mdx``; compatibility-api-js
  ``lib/webhooks/webhooks.js``.)
- ``RecordingUrl`` is the space URL of the recording without extension;
  ``.mp3`` and ``.wav`` work. There is no ``RequestedChannels``: the channel
  count is fixed when recording. Listing: ``.../Recordings.json`` with
  ``PageSize``, following ``next_page_uri`` (relative to the space, starting
  with ``/api/laml``).
- Status callbacks are best-effort and never retried (signalwire/docs,
  ``platform/core/webhooks``): reconciliation finds what they miss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from app.config import ConfigError, Env
from app.providers.callback_format import UUID, IdFormats, uuid_from
from app.providers.declaration import CallbackKeys, SharedKeyProvider, Timeouts
from app.providers.signing.hmac_sha1 import HmacSigner
from app.providers.twilio_api import TwilioApi

NAME = "signalwire"
LAML_PATH = "/api/laml"

IDS = IdFormats(
    account=UUID,
    call=UUID,
    recording=UUID,
    conference=UUID,
    description={
        name: "a UUID such as 19e436af-5688-4307-b03b-bdb2b42b8142"
        for name in ("AccountSid", "CallSid", "RecordingSid", "ConferenceSid")
    },
    call_example=lambda seed: uuid_from("call:" + seed),
)


def space_origin(value: str) -> str:
    """``example.signalwire.com`` or a full URL, as the space's origin (no path)."""
    url = value if "://" in value else f"https://{value}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(value)
    path = parts.path.rstrip("/")
    if path not in ("", LAML_PATH):
        raise ValueError(value)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class SignalWireSettings:
    space_url: str | None = None  # the space's origin, https://example.signalwire.com
    project_id: str | None = None
    api_token: str | None = field(default=None, repr=False)
    signing_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Env) -> SignalWireSettings:
        raw = env.text("SIGNALWIRE_SPACE_URL")
        try:
            space = space_origin(raw) if raw else None
        except ValueError:
            raise ConfigError(
                "SIGNALWIRE_SPACE_URL must be your space, example.signalwire.com, "
                f"or its https:// URL, got {raw!r}"
            ) from None
        return cls(
            space_url=space,
            project_id=env.text("SIGNALWIRE_PROJECT_ID"),
            api_token=env.text("SIGNALWIRE_API_TOKEN"),
            signing_key=env.text("SIGNALWIRE_SIGNING_KEY"),
        )

    def missing(self) -> list[str]:
        return [
            name
            for name, value in (
                ("SIGNALWIRE_SPACE_URL", self.space_url),
                ("SIGNALWIRE_PROJECT_ID", self.project_id),
                ("SIGNALWIRE_API_TOKEN", self.api_token),
                ("SIGNALWIRE_SIGNING_KEY", self.signing_key),
            )
            if not value
        ]


def _api_base_url(section: SignalWireSettings) -> str:
    return f"{section.space_url or ''}{LAML_PATH}"


def _keys(section: SignalWireSettings) -> CallbackKeys:
    # Callbacks are signed with the signing key, not the API token.
    return CallbackKeys(signing_key=section.signing_key or "", account_sid=section.project_id or "")


def _client(section: SignalWireSettings, timeouts: Timeouts) -> TwilioApi:
    return TwilioApi(
        name=NAME,
        api_base_url=_api_base_url(section),
        account_sid=section.project_id or "",
        auth_token=section.api_token or "",
        timeouts=timeouts,
        requested_channels=False,
    )


PROVIDER = SharedKeyProvider(
    name=NAME,
    title="SignalWire",
    section_type=SignalWireSettings,
    read=SignalWireSettings.from_env,
    ids=IDS,
    signer=HmacSigner(("X-SignalWire-Signature", "X-Twilio-Signature")),
    keys=_keys,
    client=_client,
    api_base_url=_api_base_url,
)
