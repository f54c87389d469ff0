"""Twilio-style callback signatures (Twilio, and SignalWire, which copies them).

Written here rather than borrowed from the twilio SDK: the one validator we
needed is a dozen lines of standard library, and the SDK's helpers for the
port variants are undocumented (they could change in any release).

The algorithm, from https://www.twilio.com/docs/usage/security:

- take the full URL the provider called, query string included;
- for a form POST, append each parameter name followed by its value, the
  names sorted; a name sent more than once adds each of its distinct values,
  sorted (as twilio-python's ``RequestValidator.compute_signature`` does);
- HMAC-SHA1 that, keyed with the auth token (SignalWire: the signing key),
  and base64 it: that is ``X-Twilio-Signature``.

A JSON body is signed differently: the URL carries ``bodySHA256`` (hex SHA-256
of the body) in its query, and the HMAC covers the URL alone.

Providers are inconsistent about an explicit default port in what they sign
(``https://host/x`` versus ``https://host:443/x``), so both variants are
accepted, as Twilio's own validator does. SignalWire's compatibility-api-js
(``lib/webhooks/webhooks.js``) works the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from app.providers.base import IncomingCallback

BODY_HASH_PARAMETER = "bodySHA256"

# A network location as the Host header gives it: a name, an IPv4 address or a
# bracketed IPv6 address, then an optional port.
_NETLOC = re.compile(r"(?P<host>\[[^\]]*\]|[^:\[\]]*)(?::(?P<port>[0-9]*))?")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _values(params: Mapping[str, Any], name: str) -> list[str]:
    """Every value of ``name``: a MultiDict's ``getlist``, a list, or a single string."""
    getlist = getattr(params, "getlist", None)
    if getlist is not None:
        return [str(value) for value in getlist(name)]
    value = params[name]
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value]


def signed_text(url: str, params: Mapping[str, Any] | None) -> str:
    """What the HMAC covers: the URL, then each name and value, names sorted and
    each name's distinct values sorted."""
    parts = [url]
    for name in sorted(set(params or {})):
        parts.extend(name + value for value in sorted(set(_values(params or {}, name))))
    return "".join(parts)


def compute(url: str, params: Mapping[str, Any] | None, key: str) -> str:
    """The signature a Twilio-style provider sends with ``params`` posted to ``url``."""
    digest = hmac.new(key.encode(), signed_text(url, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def url_variants(url: str) -> list[str]:
    """``url`` as given, then with its port removed (when it names one) or with the
    scheme's default port added (when it names none).

    The URL as given is first: that is what a provider usually signed, so a
    genuine callback costs one HMAC. A location that is not ``host[:port]``
    (no such request reaches us from a real provider) has no other variant.
    """
    parts = urlsplit(url)
    match = _NETLOC.fullmatch(parts.netloc)
    if match is None:
        return [url]
    host, port = match["host"], match["port"]
    if port is not None:
        other = host
    elif parts.scheme in _DEFAULT_PORTS:
        other = f"{host}:{_DEFAULT_PORTS[parts.scheme]}"
    else:
        return [url]
    return [url, urlunsplit(parts._replace(netloc=other))]


def _equal(computed: str, given: str) -> bool:
    # compare_digest refuses str with non-ASCII characters; a header may carry them.
    return hmac.compare_digest(computed.encode(), given.encode("utf-8", "surrogatepass"))


def body_hashes(url: str) -> list[str] | None:
    """The values of ``bodySHA256`` in the URL's query, or None when it has no such key.

    Only that exact key with a value (after percent-decoding, as Twilio's
    validator reads it) means a JSON-body signature: ``xbodySHA256``,
    ``bodySHA2567`` or a bare ``bodySHA256`` are ordinary query parameters,
    covered by the URL like any other.
    """
    query = urlsplit(url).query
    if not query:
        return None
    return parse_qs(query).get(BODY_HASH_PARAMETER)


def is_valid(url: str, form: Mapping[str, Any], body: bytes, signature: str, key: str) -> bool:
    """Whether ``signature`` is the provider's for this request, under ``key``."""
    if not signature or not key:
        return False
    candidates: Iterable[str] = url_variants(url)
    hashes = body_hashes(url)
    if hashes is not None:
        # A JSON body: the URL alone is signed, and the body must match its hash.
        # The key given twice: no provider does that, and which would count is a guess.
        if len(hashes) != 1 or not _equal(hashlib.sha256(body).hexdigest(), hashes[0]):
            return False
        return any(_equal(compute(candidate, None, key), signature) for candidate in candidates)
    # Lazily: the second variant's HMAC is only computed if the first fails.
    return any(_equal(compute(candidate, form, key), signature) for candidate in candidates)


@dataclass(frozen=True)
class HmacSigner:
    """Callbacks signed like Twilio's, in the first of ``headers`` that is present
    (SignalWire also accepts Twilio's header name, as a legacy alias)."""

    headers: tuple[str, ...]

    def verify(self, callback: IncomingCallback, key: str) -> str | None:
        header = next((h for h in self.headers if h.lower() in callback.headers), None)
        if header is None:
            return f"{self.headers[0]} header is missing"
        signature = callback.headers[header.lower()]
        if not is_valid(callback.url, callback.form, callback.body, signature, key):
            return f"{header} does not match this request"
        return None

    def sign(self, url: str, params: Mapping[str, str], key: str) -> dict[str, str]:
        """The headers the provider would send with ``params`` posted to ``url``."""
        return {self.headers[0]: compute(url, params, key)}
