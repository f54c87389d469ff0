"""Twilio: its settings, ID formats, callback signatures and API origins.

Callback parameters and signatures: https://www.twilio.com/docs/usage/security
(``X-Twilio-Signature``: HMAC-SHA1 of the URL and the sorted POST parameters,
keyed with the auth token), checked by ``app.providers.signature``.
Recordings: https://www.twilio.com/docs/voice/api/recording (media at
``{RecordingUrl}.mp3|.wav``, ``RequestedChannels``, ``DELETE .../{Sid}.json``,
the list at ``.../Recordings.json`` paged by ``next_page_uri``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from app.config import Env, Settings
from app.providers.compat import CompatCredentials, CompatProvider, IdFormats

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

    @classmethod
    def from_env(cls, env: Env) -> TwilioSettings:
        return cls(
            account_sid=env.text("TWILIO_ACCOUNT_SID"),
            auth_token=env.text("TWILIO_AUTH_TOKEN"),
            api_base_url=env.base_url("TWILIO_API_BASE_URL", DEFAULT_API_BASE_URL),
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


class Twilio(CompatProvider):
    name = NAME
    title = "Twilio"
    ids = IDS
    signature_headers = (SIGNATURE_HEADER,)
    idempotency_header: str | None = IDEMPOTENCY_HEADER
    extra_origin = REGIONAL_API_HOST

    def read_settings(self, env: Env) -> TwilioSettings:
        return TwilioSettings.from_env(env)

    def credentials(self, settings: Settings) -> CompatCredentials:
        section = settings.section(NAME, TwilioSettings)
        # The auth token both signs callbacks and authorises API requests.
        return CompatCredentials(
            account_sid=section.account_sid or "",
            api_token=section.auth_token or "",
            signing_key=section.auth_token or "",
            api_base_url=section.api_base_url,
        )


PROVIDER = Twilio()
