"""How a delivery is signed for its receiver, at send time (a rotated key is used
from the next try on; no signature is ever stored).

- A forwarded Twilio-style callback (Twilio, SignalWire) is signed exactly as
  its provider signs it (``app.providers.signing.hmac_sha1``), for FORWARD_URL,
  with the key of the account that sent it: the handler's own check, Twilio's
  ``RequestValidator`` for one, passes unchanged.
- Anything we cannot sign as its provider does (a Telnyx callback: Telnyx holds
  its private key) and every notification is signed per Standard Webhooks
  (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``), with the
  ``standardwebhooks`` package.
"""

from __future__ import annotations

import datetime as dt

from standardwebhooks.webhooks import Webhook

from app.config import Settings
from app.providers import PROVIDERS
from app.providers.declaration import SharedKeyProvider
from app.providers.signing.hmac_sha1 import HmacSigner, compute


def forward_signing_key(settings: Settings, provider: str, account_sid: str) -> str | None:
    """The key ``provider`` signs ``account_sid``'s callbacks with, or None when we do
    not hold it (a provider that signs with a private key of its own).

    The one place a forward's key is looked up: an account with a key of its
    own (a subaccount's auth token) is answered here.
    """
    declared = PROVIDERS.get(provider)
    if not isinstance(declared, SharedKeyProvider):
        return None
    if provider == "twilio":
        # The main account's token, or (TWILIO_SUBACCOUNTS) the subaccount's own,
        # looked up and kept as for its callbacks: a forward is signed as Twilio would
        # have signed it. SigningKeyUnavailable (Twilio did not answer) is retried.
        from app.providers.twilio import auth_token_for

        return auth_token_for(settings, account_sid)
    return declared.keys(declared.section(settings)).signing_key or None


def provider_signer(provider: str) -> HmacSigner | None:
    declared = PROVIDERS.get(provider)
    return declared.signer if isinstance(declared, SharedKeyProvider) else None


def provider_signature_headers(
    signer: HmacSigner, url: str, form: list[tuple[str, str]] | None, key: str
) -> dict[str, str]:
    """The provider's signature for a request to ``url`` (with ``form`` posted, or
    None for a GET whose parameters are in ``url``), under each header name the
    provider uses (SignalWire sends its own and Twilio's)."""
    params: dict[str, list[str]] = {}
    for name, value in form or []:
        params.setdefault(name, []).append(value)
    signature = compute(url, params, key)
    return dict.fromkeys(signer.headers, signature)


def standard_webhook_headers(
    secret: str, message_id: str, body: str, now: dt.datetime
) -> dict[str, str]:
    """Standard Webhooks' three headers for ``body`` sent now."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body),
    }
