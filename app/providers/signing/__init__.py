"""How a callback proves it came from its provider: one signer per scheme.

``hmac_sha1``: Twilio's scheme (SignalWire copies it), a key both sides hold,
so we can also sign test callbacks. ``ed25519``: Telnyx's, a private key only
the provider holds. A provider declares which signer it uses and where its
key is in its settings (``app.providers.declaration``).
"""

from __future__ import annotations

from typing import Protocol

from app.providers.base import IncomingCallback


class CallbackSigner(Protocol):
    def verify(self, callback: IncomingCallback, key: str) -> str | None:
        """Why ``callback`` does not prove it was signed with ``key``, or None."""
        ...
