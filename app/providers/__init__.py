"""Voice providers: one module of declarations each, one registry here.

A provider module declares its settings section, its ID formats, its signer
and its REST client, put together as a ``base.Provider`` by ``declaration``.
Adding a provider is one module plus its entry below; nothing outside this
package names a provider.
"""

from __future__ import annotations

from app.config import Settings
from app.providers import signalwire, telnyx, twilio
from app.providers.base import Provider, ProviderApi

PROVIDERS: dict[str, Provider] = {
    p.name: p for p in (twilio.PROVIDER, signalwire.PROVIDER, telnyx.PROVIDER)
}

# Each provider's reader of its own settings section, for ``app.load_settings``.
SETTINGS_SECTIONS = {name: provider.read_settings for name, provider in PROVIDERS.items()}


def api_clients(settings: Settings) -> dict[str, ProviderApi]:
    """The REST clients of every provider this deployment has credentials for."""
    clients = {}
    for name, provider in PROVIDERS.items():
        client = provider.api(settings)
        if client is not None:
            clients[name] = client
    return clients
