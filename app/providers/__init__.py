"""What each voice provider sends, and how to check it.

Twilio and SignalWire share the Compatibility API's callback format, so the
parsing lives in ``callbacks`` and each provider module adds its own signature
check and API origin rules.
"""

from __future__ import annotations

from app.config import Settings
from app.providers import twilio
from app.providers.compat_api import CompatibilityApi


def api_clients(settings: Settings) -> dict[str, CompatibilityApi]:
    """The REST clients of every provider this deployment has credentials for."""
    clients = {}
    client = twilio.api_client(settings)
    if client is not None:
        clients[twilio.NAME] = client
    return clients
