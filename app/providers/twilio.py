"""Twilio: its settings, ID formats, callback signatures and API origins.

Callback parameters and signatures: https://www.twilio.com/docs/usage/security
(``X-Twilio-Signature``: HMAC-SHA1 of the URL and the sorted POST parameters,
keyed with the auth token), checked with Twilio's own ``RequestValidator``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from twilio.request_validator import RequestValidator

from app.config import Env, Settings
from app.providers.base import IncomingCallback, RecordingReport
from app.providers.compat import CompatApi, IdFormats, parse_callback

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


def signature_is_valid(
    url: str, params: Mapping[str, Any], signature: str, auth_token: str
) -> bool:
    """Check ``X-Twilio-Signature`` with Twilio's own validator.

    ``url`` is the public URL Twilio called (query string included); ``params``
    the POST form, or empty for a GET. The validator tries the URL with and
    without an explicit port, as Twilio's signing is inconsistent about it.
    """
    if not signature or not auth_token:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


class Twilio:
    name = NAME
    title = "Twilio"
    idempotency_header: str | None = IDEMPOTENCY_HEADER

    def read_settings(self, env: Env) -> TwilioSettings:
        return TwilioSettings.from_env(env)

    def _settings(self, settings: Settings) -> TwilioSettings:
        return settings.section(NAME, TwilioSettings)

    def verify(self, settings: Settings, callback: IncomingCallback) -> str | None:
        signature = callback.headers.get(SIGNATURE_HEADER.lower(), "")
        if not signature:
            return f"{SIGNATURE_HEADER} header is missing"
        token = self._settings(settings).auth_token or ""
        if not signature_is_valid(callback.url, callback.form, signature, token):
            return f"{SIGNATURE_HEADER} does not match this request"
        return None

    def parse_callback(self, params: Mapping[str, str]) -> RecordingReport:
        return parse_callback(NAME, IDS, params)

    def serves(self, settings: Settings, account_sid: str) -> bool:
        return account_sid == self._settings(settings).account_sid

    def api(self, settings: Settings) -> CompatApi | None:
        section = self._settings(settings)
        if section.missing():
            return None
        assert section.account_sid is not None and section.auth_token is not None
        return CompatApi(
            name=NAME,
            api_base_url=section.api_base_url,
            account_sid=section.account_sid,
            auth_token=section.auth_token,
            extra_origin=REGIONAL_API_HOST,
            timeouts=(settings.http_connect_timeout, settings.http_read_timeout),
        )


PROVIDER = Twilio()
