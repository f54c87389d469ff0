"""Twilio: callback signatures, and where its recordings may be fetched from."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from twilio.request_validator import RequestValidator

from app.config import Settings
from app.providers.compat_api import CompatibilityApi

NAME = "twilio"
SIGNATURE_HEADER = "X-Twilio-Signature"
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"


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


# Twilio's regional API hosts, e.g. api.dublin.ie1.twilio.com.
REGIONAL_API_HOST = re.compile(r"api\.[a-z0-9-]+\.[a-z0-9-]+\.twilio\.com")


def api_client(settings: Settings) -> CompatibilityApi | None:
    """The REST client for the configured account, or None when Twilio is not set up."""
    if not settings.twilio_account_sid or not settings.twilio_auth_token:
        return None
    return CompatibilityApi(
        name=NAME,
        api_base_url=settings.twilio_api_base_url,
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token,
        extra_origin=REGIONAL_API_HOST,
        timeouts=(settings.http_connect_timeout, settings.http_read_timeout),
    )
