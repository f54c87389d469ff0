"""Telnyx's callback signatures: Ed25519 over the timestamp and the raw body.

``telnyx-signature-ed25519`` (base64) signs ``"{telnyx-timestamp}|{raw body}"``,
verified with the account's public key (base64, from the portal); timestamps
more than 300 s away are refused. (telnyx-python
``src/telnyx/lib/webhook_verification.py``; telnyx-node ``src/lib/webhooks.ts``.)
The URL is not signed. Telnyx does not say what a GET callback signs; we
require the signature to cover its query string, so a GET's parameters cannot
be changed either.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import time
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from app.providers.base import IncomingCallback

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
TOLERANCE_SECONDS = 300
# ASCII digits only, and few enough that the arithmetic stays exact: str.isdigit()
# also accepts "²" (which int() refuses) and any length (a float overflows).
UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


@functools.lru_cache(maxsize=4)
def verify_key(public_key: str) -> VerifyKey:
    """The Ed25519 key from its base64 form; ValueError when it is not one."""
    try:
        raw = base64.b64decode(public_key, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if len(raw) != 32:
        raise ValueError("not 32 bytes")
    return VerifyKey(raw)


def _query(url: str) -> bytes:
    return url.partition("?")[2].encode()


@dataclass(frozen=True)
class Ed25519Signer:
    """Callbacks signed with the provider's private key; we hold the public one only,
    so we cannot make such callbacks ourselves."""

    signature_header: str = SIGNATURE_HEADER
    timestamp_header: str = TIMESTAMP_HEADER
    tolerance_seconds: int = TOLERANCE_SECONDS

    def verify(self, callback: IncomingCallback, key: str) -> str | None:
        """Why ``callback`` is not signed by the holder of public ``key``, or None."""
        signature_header, timestamp_header = self.signature_header, self.timestamp_header
        signature = callback.headers.get(signature_header, "")
        timestamp = callback.headers.get(timestamp_header, "")
        if not signature:
            return f"{signature_header} header is missing"
        if not timestamp:
            return f"{timestamp_header} header is missing"
        if not UNIX_SECONDS.fullmatch(timestamp):
            return f"{timestamp_header} header is not unix seconds (1 to 12 digits 0-9)"
        skew = abs(time.time() - int(timestamp))
        if skew > self.tolerance_seconds:
            return (
                f"{timestamp_header} is {skew:.0f} s away from now "
                f"(more than {self.tolerance_seconds})"
            )
        try:
            raw_signature = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            return f"{signature_header} is not base64"
        signed = callback.body if callback.method == "POST" else _query(callback.url)
        try:
            verify_key(key).verify(f"{timestamp}|".encode() + signed, raw_signature)
        except (BadSignatureError, ValueError):
            return f"{signature_header} does not match this request"
        return None
