"""Test helpers: settings for tests, signed Twilio callbacks made with Twilio's own library."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from alembic.config import Config
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from twilio.request_validator import RequestValidator

from app import load_settings
from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
OTHER_ACCOUNT_SID = "AC" + "f" * 32
CALL_SID = "CA" + "1" * 32
WEBHOOK_PATH = "/webhooks/twilio/recording-status"


def make_settings(**overrides: Any) -> Settings:
    """Settings as a bare environment gives them, with ``overrides`` (provider fields
    prefixed with the provider: ``twilio_auth_token``). Originals are deleted, as
    with a bucket: the tests follow a recording's whole trip, whatever the store
    (tests/test_config.py checks the local folder's default, which keeps them)."""
    bare = {"SECRET_KEY": "test-secret-key", "DELETE_ORIGINAL": "true"}
    return load_settings(bare).with_overrides(overrides)


def base_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for a test against ``database_url``, with Twilio configured."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        # argon2-cffi's profile for test suites: the in-process tests make and check a
        # few hundred hashes, 0.2 CPU-s each with RFC 9106's parameters (a tenth of a
        # whole SQLite pass); tests/people/test_passwords.py holds the default to RFC 9106's.
        "password_hash_profile": "cheapest",
    }
    values.update(overrides)
    return make_settings(**values)


def alembic_config(database_url: str) -> Config:
    config = Config(toml_file=str(ROOT / "pyproject.toml"))
    config.attributes["database_url"] = database_url
    return config


def recording_sid(n: int = 1) -> str:
    return "RE" + f"{n:032x}"


def recording_params(
    status: str = "completed", sid: str | None = None, **overrides: Any
) -> dict[str, str]:
    """A recording-status callback as Twilio sends it (all strings)."""
    params: dict[str, Any] = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": CALL_SID,
        "RecordingSid": sid or recording_sid(),
        "RecordingStatus": status,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid or recording_sid()}",
        "RecordingDuration": "42",
        "RecordingChannels": "2",
        "RecordingStartTime": "Mon, 16 Nov 2026 10:15:30 +0000",
        "RecordingSource": "DialVerb",
        "RecordingTrack": "both",
        "ErrorCode": "0",
    }
    if status == "in-progress":
        for name in ("RecordingDuration", "RecordingUrl"):
            params.pop(name)
    params.update(overrides)
    return {k: str(v) for k, v in params.items() if v is not None}


def sign(url: str, params: dict[str, str] | None, token: str = AUTH_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, params or {}))


def signed_post(
    client: Any,
    params: dict[str, str],
    url: str = f"http://localhost{WEBHOOK_PATH}",
    token: str = AUTH_TOKEN,
    headers: dict[str, str] | None = None,
) -> Any:
    """POST ``params`` to the Flask test client with a valid signature for ``url``."""
    all_headers = {"X-Twilio-Signature": sign(url, params, token)}
    all_headers.update(headers or {})
    return client.post(WEBHOOK_PATH, data=params, headers=all_headers)


def signed_get(client: Any, params: dict[str, str], token: str = AUTH_TOKEN) -> Any:
    query = urlencode(params)
    url = f"http://localhost{WEBHOOK_PATH}?{query}"
    return client.get(
        f"{WEBHOOK_PATH}?{query}", headers={"X-Twilio-Signature": sign(url, None, token)}
    )


# --------------------------------------------------------------------------- SignalWire, Telnyx

SIGNALWIRE_PROJECT = "b3877c40-5cb1-4f5e-8a1b-0123456789ab"
SIGNALWIRE_TOKEN = "PTsignalwire-api-token-0123456789"
SIGNALWIRE_SIGNING_KEY = "PSKsignalwire-signing-key-0123"
SIGNALWIRE_PATH = "/webhooks/signalwire/recording-status"
TELNYX_ACCOUNT = "cb6cfbbc-eb00-41af-a3f3-0d7b32009e4b"
TELNYX_API_KEY = "KEYtelnyx-api-key-0123456789"
TELNYX_PATH = "/webhooks/telnyx/recording-status"


def uuid_n(n: int, kind: str = "") -> str:
    """A deterministic UUID (``kind`` keeps recordings and calls apart)."""
    digest = hashlib.sha256(f"{kind}{n}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-a{digest[17:20]}-{digest[20:32]}"


def hmac_sha1_signature(url: str, params: Mapping[str, str], key: str) -> str:
    """Twilio's (and SignalWire's) published algorithm, written out here, independent of
    the code under test: base64(HMAC-SHA1(key, url + name1 + value1 + name2 + ...)),
    names sorted."""
    data = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(key.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signalwire_params(
    status: str = "completed",
    sid: str | None = None,
    base_url: str = "https://example.signalwire.com",
    **overrides: Any,
) -> dict[str, str]:
    """A recording-status callback as SignalWire's Compatibility API sends it."""
    sid = sid or uuid_n(1, "recording")
    params: dict[str, Any] = {
        "AccountSid": SIGNALWIRE_PROJECT,
        "CallSid": uuid_n(1, "call"),
        "RecordingSid": sid,
        "RecordingStatus": status,
        "RecordingUrl": f"{base_url}/api/laml/2010-04-01/Accounts/{SIGNALWIRE_PROJECT}/Recordings/{sid}",
        "RecordingDuration": "94",
        "RecordingChannels": "1",
        "RecordingSource": "RecordVerb",
    }
    if status == "in-progress":
        params.pop("RecordingUrl")
        params.pop("RecordingDuration")
    params.update(overrides)
    return {k: str(v) for k, v in params.items() if v is not None}


class TelnyxSigner:
    """Signs as Telnyx does, with an Ed25519 key made for the test (by the
    ``cryptography`` package, not the PyNaCl the code under test verifies with)."""

    def __init__(self) -> None:
        self._key = Ed25519PrivateKey.generate()
        raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_key = base64.b64encode(raw).decode()

    def headers(
        self, payload: bytes, timestamp: int | None = None, stamp: str | None = None
    ) -> dict[str, str]:
        """The headers; ``stamp`` signs a ``telnyx-timestamp`` written as given."""
        stamp = stamp or str(int(time.time()) if timestamp is None else timestamp)
        signature = self._key.sign(stamp.encode() + b"|" + payload)
        return {
            "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
            "telnyx-timestamp": stamp,
        }


def telnyx_params(
    status: str = "completed",
    sid: str | None = None,
    media_url: str = "https://s3.amazonaws.com/telephony-recorder-prod/x.mp3?X-Amz-Expires=600",
    **overrides: Any,
) -> dict[str, str]:
    """A TeXML recording-status callback as Telnyx sends it."""
    params: dict[str, Any] = {
        "AccountSid": TELNYX_ACCOUNT,
        "CallSid": "v3:KBnLO0ZK3DhKM5s7bE9VluaSmKsOchKht_fUYvxcp8ysbmzCCtpkmA",
        "CallSidLegacy": "v3:KBnLO0ZK3DhKM5s7bE9VluaSmKsOchKht_fUYvxcp8ysbmzCCtpkmA",
        "ConnectionId": "1234567890",
        "RecordingSid": sid or uuid_n(1, "recording"),
        "RecordingStatus": status,
        "RecordingDuration": "5",
        "RecordingChannels": "2",
        "RecordingSource": "DialVerb",
        "RecordingUrl": media_url,
    }
    if status == "in-progress":
        params.pop("RecordingUrl")
        params.pop("RecordingDuration")
    params.update(overrides)
    return {k: str(v) for k, v in params.items() if v is not None}
