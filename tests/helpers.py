"""Test helpers: settings for tests, signed Twilio callbacks made with Twilio's own library."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from alembic.config import Config
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
    prefixed with the provider: ``twilio_auth_token``)."""
    return load_settings({"SECRET_KEY": "test-secret-key"}).with_overrides(overrides)


def base_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for a test against ``database_url``, with Twilio configured."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
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
