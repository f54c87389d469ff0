"""Twilio: callback signatures, and where its recordings may be fetched from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twilio.request_validator import RequestValidator

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
