"""Settings: read from the environment once, into one typed, frozen object.

Parsing is strict on purpose (as in healthchecks): a mistyped boolean or number
stops the start-up with a message naming the variable, instead of quietly
running with a default the operator did not choose.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

RECORDING_FORMATS = ("mp3", "wav")
SSE_MODES = ("AES256", "aws:kms")


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be a boolean (true/false, 1/0, yes/no, on/off), got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _str(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip()


def _choice(
    env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str | None
) -> str | None:
    value = _str(env, name, default)
    if value is not None and value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def normalise_database_url(url: str) -> str:
    """Map Heroku-style ``postgres://`` and bare ``postgresql://`` to psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def default_database_url() -> str:
    return f"sqlite:///{INSTANCE_DIR / 'recording-archiver.sqlite3'}"


def database_url_from_env(env: Mapping[str, str] | None = None) -> str:
    """The database URL alone: migrations need it, and no secret."""
    env = os.environ if env is None else env
    return normalise_database_url(_str(env, "DATABASE_URL") or default_database_url())


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment. See the README's table."""

    database_url: str = field(default_factory=default_database_url, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    debug: bool = False

    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = field(default=None, repr=False)
    twilio_api_base_url: str = "https://api.twilio.com"

    # How many proxies in front of us may set X-Forwarded-*; 1 is Heroku's router.
    trusted_proxies: int = 1
    max_body_bytes: int = 64 * 1024

    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None
    s3_sse: str | None = None
    s3_kms_key_id: str | None = None
    s3_key_template: str = "{prefix}{provider}/{account_sid}/{yyyy}/{mm}/{dd}/{recording_sid}.{ext}"
    local_archive_dir: str = str(INSTANCE_DIR / "archive")

    recording_format: str = "mp3"
    delete_original: bool = True

    archive_max_attempts: int = 8
    archive_retry_base_seconds: float = 30.0
    archive_retry_max_seconds: float = 3600.0
    archive_lease_seconds: int = 900
    worker_poll_seconds: float = 5.0
    http_connect_timeout: float = 10.0
    http_read_timeout: float = 30.0

    admin_username: str | None = None
    admin_password: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse ``env`` (default ``os.environ``); raise ConfigError on anything malformed."""
        env = os.environ if env is None else env
        debug = _bool(env, "FLASK_DEBUG", False)
        secret_key = _str(env, "SECRET_KEY")
        if secret_key is None and not debug:
            raise ConfigError(
                "SECRET_KEY is required (set FLASK_DEBUG=1 only for local development)"
            )
        if secret_key is None:
            secret_key = "dev-only-" + os.urandom(16).hex()
        s3_sse = _choice(env, "S3_SSE", SSE_MODES, None)
        s3_kms_key_id = _str(env, "S3_KMS_KEY_ID")
        if s3_kms_key_id and s3_sse != "aws:kms":
            raise ConfigError("S3_KMS_KEY_ID is only used with S3_SSE=aws:kms")
        key_template = _str(env, "S3_KEY_TEMPLATE", cls.s3_key_template) or cls.s3_key_template
        if "{recording_sid}" not in key_template:
            raise ConfigError("S3_KEY_TEMPLATE must contain {recording_sid}, so keys are unique")
        return cls(
            database_url=database_url_from_env(env),
            secret_key=secret_key,
            debug=debug,
            twilio_account_sid=_str(env, "TWILIO_ACCOUNT_SID"),
            twilio_auth_token=_str(env, "TWILIO_AUTH_TOKEN"),
            twilio_api_base_url=(
                _str(env, "TWILIO_API_BASE_URL", cls.twilio_api_base_url) or ""
            ).rstrip("/"),
            trusted_proxies=_int(env, "TRUSTED_PROXIES", cls.trusted_proxies),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", cls.max_body_bytes, minimum=1024),
            s3_bucket=_str(env, "S3_BUCKET"),
            s3_prefix=env.get("S3_PREFIX", "").strip(),
            s3_endpoint_url=_str(env, "S3_ENDPOINT_URL"),
            s3_sse=s3_sse,
            s3_kms_key_id=s3_kms_key_id,
            s3_key_template=key_template,
            local_archive_dir=_str(env, "LOCAL_ARCHIVE_DIR", cls.local_archive_dir)
            or cls.local_archive_dir,
            recording_format=_choice(env, "RECORDING_FORMAT", RECORDING_FORMATS, "mp3") or "mp3",
            delete_original=_bool(env, "DELETE_ORIGINAL", True),
            archive_max_attempts=_int(env, "ARCHIVE_MAX_ATTEMPTS", cls.archive_max_attempts, 1),
            archive_retry_base_seconds=_float(
                env, "ARCHIVE_RETRY_BASE_SECONDS", cls.archive_retry_base_seconds
            ),
            archive_retry_max_seconds=_float(
                env, "ARCHIVE_RETRY_MAX_SECONDS", cls.archive_retry_max_seconds
            ),
            archive_lease_seconds=_int(env, "ARCHIVE_LEASE_SECONDS", cls.archive_lease_seconds, 1),
            worker_poll_seconds=_float(env, "WORKER_POLL_SECONDS", cls.worker_poll_seconds, 0.05),
            http_connect_timeout=_float(env, "HTTP_CONNECT_TIMEOUT", cls.http_connect_timeout, 0.1),
            http_read_timeout=_float(env, "HTTP_READ_TIMEOUT", cls.http_read_timeout, 0.1),
            admin_username=_str(env, "ADMIN_USERNAME"),
            admin_password=_str(env, "ADMIN_PASSWORD"),
        )

    def with_overrides(self, overrides: Mapping[str, Any]) -> Settings:
        """A copy with some fields replaced (tests pass these to ``create_app``)."""
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        values = dict(overrides)
        if "database_url" in values:
            values["database_url"] = normalise_database_url(values["database_url"])
        return replace(self, **values)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")
