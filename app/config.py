"""Settings: read from the environment once, into typed, frozen objects.

Parsing is strict on purpose (as in healthchecks): a mistyped boolean or number
stops the start-up with a message naming the variable, instead of quietly
running with a default the operator did not choose.

The core settings live here. Each provider declares its own section (its
variables, its defaults, which of them it needs) in its own module under
``app.providers``; ``app.load_settings`` reads the core and every section in
one pass. This module imports nothing of the app, so every layer may use it.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import string
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import phonenumbers

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

RECORDING_FORMATS = ("mp3", "wav")
SSE_MODES = ("AES256", "aws:kms")
OBJECT_LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")
S3_SINGLE_PUT_LIMIT_MB = 5 * 1024  # S3's largest PutObject, 5 GiB, in MiB


Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Where a proxy in front of us can connect from: loopback (a local nginx),
# and the private and shared ranges platforms' routers use (Heroku's is in
# 10.0.0.0/8). Never a public address.
DEFAULT_PROXY_NETWORKS = (
    "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,fc00::/7"
)


def parse_networks(value: str) -> tuple[Network, ...]:
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False)
        for part in value.split(",")
        if part.strip()
    )


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


# scheme://host[:port], one trailing slash forgiven; a name, IPv4 or [IPv6] host.
_ORIGIN = re.compile(
    r"(?P<scheme>(?i:https?))://"
    r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?/?"
)


def parse_public_url(name: str, value: str) -> str:
    """An origin, ``scheme://host[:port]`` (http or https), as written but for the
    scheme's case and a trailing slash. A path, query, fragment or credentials
    are refused rather than ignored: only the origin is used (signatures are
    checked against it plus the path the provider called)."""
    example = "https://archive.example.com"
    match = _ORIGIN.fullmatch(value)
    if match is None:
        raise ConfigError(
            f"{name} must be an origin, http(s)://host[:port] such as {example}, "
            f"with no path, query, fragment or credentials; got {value!r}"
        )
    port = match["port"]
    if port is not None and not 0 < int(port) < 65536:
        raise ConfigError(f"{name} has a port outside 1-65535: {value!r}")
    return f"{match['scheme'].lower()}://{match['host']}" + (f":{port}" if port else "")


class Env:
    """Strict readers over an environment mapping; each error names its variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.raw(name)
        return default if value is None else value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ConfigError(
            f"{name} must be a boolean (true/false, 1/0, yes/no, on/off), got {value!r}"
        )

    def integer(self, name: str, default: int, minimum: int = 0) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {value!r}") from None
        if number < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {number}")
        return number

    def number(self, name: str, default: float, minimum: float = 0.0) -> float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {value!r}") from None
        if number != number or number < minimum:  # NaN compares unequal to itself
            raise ConfigError(f"{name} must be at least {minimum}, got {value}")
        return number

    def choice(self, name: str, choices: tuple[str, ...], default: str | None) -> str | None:
        value = self.text(name, default)
        if value is not None and value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def networks(self, name: str, default: str) -> tuple[Network, ...]:
        value = self.text(name, default) or default
        try:
            return parse_networks(value)
        except ValueError as exc:
            raise ConfigError(
                f"{name} must be comma-separated addresses or networks (10.0.0.0/8), "
                f"got {value!r}: {exc}"
            ) from None

    def base_url(self, name: str, default: str) -> str:
        """An http(s) origin, optionally with a path prefix; no trailing slash."""
        value = (self.text(name, default) or default).rstrip("/")
        if not value.startswith(("http://", "https://")) or "?" in value or "#" in value:
            raise ConfigError(f"{name} must be an http(s) URL such as {default}, got {value!r}")
        return value


LOG_FORMATS = ("json", "text")
# PASSWORD_HASH_PROFILE's values (app.people.passwords has their Argon2 parameters); the
# first is the default.
PASSWORD_HASH_PROFILES = ("rfc9106-low-memory", "cheapest")


def default_log_format(env: Env) -> str:
    """JSON on a platform (Heroku sets DYNO; systemd and log shippers read stdout
    that is no terminal), plain text for a person at a terminal."""
    if env.text("DYNO") or not os.isatty(2):
        return "json"
    return "text"


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
    environ = os.environ if env is None else env
    return normalise_database_url(Env(environ).text("DATABASE_URL") or default_database_url())


class Section(Protocol):
    """A provider's own settings (see ``app.providers``): frozen, secrets out of repr."""

    def missing(self) -> list[str]:
        """The variables this provider still needs before it can be used."""
        ...


SectionT = TypeVar("SectionT", bound=Section)
SectionReader = Callable[[Env], Section]

DEFAULT_KEY_TEMPLATE = "{prefix}{provider}/{account_sid}/{yyyy}/{mm}/{dd}/{recording_sid}.{ext}"
# The placeholders ``app.archive.naming.build_key`` fills in (kept in step by a test).
KEY_TEMPLATE_FIELDS = (
    "prefix",
    "provider",
    "account_sid",
    "yyyy",
    "mm",
    "dd",
    "recording_sid",
    "call_sid",
    "ext",
)


def check_key_template(template: str) -> None:
    """ConfigError naming ``S3_KEY_TEMPLATE`` and its bad placeholder, if any.

    Checked at start-up: a template the worker cannot fill fails every try of
    every recording, which is no way to learn of a typo.
    """
    known = ", ".join(f"{{{name}}}" for name in KEY_TEMPLATE_FIELDS)
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:  # an unmatched brace
        raise ConfigError(
            f"S3_KEY_TEMPLATE is not a valid template ({exc}); write a literal brace as {{{{ or }}}}"
        ) from None
    for _text, name, _spec, _conversion in parsed:
        if name is not None and name not in KEY_TEMPLATE_FIELDS:
            raise ConfigError(
                f"S3_KEY_TEMPLATE has an unknown placeholder {{{name}}}; known: {known}"
            )
    try:  # a format spec or conversion that cannot apply to text ({yyyy:d}, {ext!x})
        template.format(**dict.fromkeys(KEY_TEMPLATE_FIELDS, "x"))
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ConfigError(f"S3_KEY_TEMPLATE cannot be filled in: {exc}") from None


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment. See the README's table."""

    database_url: str = field(default_factory=default_database_url, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    debug: bool = False

    # One section per provider, by provider name; see ``app.providers``.
    providers: Mapping[str, Section] = field(default_factory=dict)

    # How many proxies in front of us may set X-Forwarded-*; 1 is Heroku's router.
    trusted_proxies: int = 1
    # ... and only when the connection comes from one of these networks.
    trusted_proxy_networks: tuple[Network, ...] = field(
        default_factory=lambda: parse_networks(DEFAULT_PROXY_NETWORKS)
    )
    max_body_bytes: int = 64 * 1024
    # PUBLIC_URL: the origin signatures are checked against and absolute links
    # name, whatever Host or forwarded headers say; None: as the request says.
    public_url: str | None = None

    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None
    s3_sse: str | None = None
    s3_kms_key_id: str | None = None
    s3_key_template: str = DEFAULT_KEY_TEMPLATE
    # Recordings up to this size go up in one PUT checked by the store against
    # our SHA-256; larger ones in parts (S3 takes one PUT of 5 GiB at most).
    s3_single_put_max_mb: int = 1024
    local_archive_dir: str = str(INSTANCE_DIR / "archive")
    # S3 Object Lock: every object written with this retention (None: none).
    s3_object_lock_mode: str | None = None
    s3_object_lock_days: int | None = None

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
    # Console sessions end after this long unused, and this long after sign-in.
    session_idle_minutes: float = 30.0
    session_max_hours: float = 12.0
    # New password hashes' Argon2 parameters: RFC 9106's, or "cheapest" for test suites.
    password_hash_profile: str = PASSWORD_HASH_PROFILES[0]

    # Reconciliation of recent history, run by one worker every so often.
    reconcile_every_minutes: float = 60.0
    reconcile_lookback_hours: float = 48.0
    metrics_token: str | None = field(default=None, repr=False)
    log_format: str = "text"

    # Scrubbing: archived objects read back and checked against their SHA-256.
    scrub_every_hours: float = 24.0
    scrub_max_mb_per_second: float = 20.0
    # Deliveries (app.deliveries): callbacks forwarded to the handler already
    # there, and our signed events; secrets are Standard Webhooks' whsec_ form.
    forward_url: str | None = None
    forward_secret: str | None = field(default=None, repr=False)
    notify_url: str | None = None
    notify_secret: str | None = field(default=None, repr=False)
    # Call details: national numbers are read in this region; times on the
    # console are shown in this zone (IANA name).
    default_phone_region: str = "US"
    display_timezone: str = "UTC"

    # Retention of the history tables (days; None keeps everything): pruned by one
    # worker of all, never what an unfinished recording still needs.
    events_retention_days: int | None = None
    attempts_retention_days: int | None = None
    deliveries_retention_days: int | None = None

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None,
        *,
        sections: Mapping[str, SectionReader],
        require_secret_key: bool = True,
    ) -> Settings:
        """Parse ``env`` (``None``: ``os.environ``); raise ConfigError on anything malformed.

        ``sections`` reads each provider's own settings; ``app.load_settings``
        passes every registered provider's, so call that rather than this.
        """
        reading = _Reading(os.environ if env is None else env, sections, require_secret_key)
        for name, read in CORE_SETTINGS:
            reading.got[name] = read(reading)
        return cls(**reading.got)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Settings:
        """A copy with some fields replaced (tests pass these to ``create_app``).

        A provider's field is named with its provider first: ``twilio_api_base_url``
        replaces ``api_base_url`` in the ``twilio`` section.
        """
        core = {f.name for f in fields(self)}
        values: dict[str, Any] = {}
        sections = dict(self.providers)
        for name, value in overrides.items():
            if name in core:
                values[name] = value
                continue
            provider, _, attribute = name.partition("_")
            section = sections.get(provider)
            if section is None or attribute not in {f.name for f in fields(section)}:  # type: ignore[arg-type]
                raise ConfigError(f"unknown setting: {name}")
            sections[provider] = replace(section, **{attribute: value})  # type: ignore[type-var]
        if "database_url" in values:
            values["database_url"] = normalise_database_url(values["database_url"])
        values.setdefault("providers", sections)
        return replace(self, **values)

    def section(self, name: str, kind: type[SectionT]) -> SectionT:
        """The settings of provider ``name``, typed as its module declares them."""
        section = self.providers.get(name)
        if not isinstance(section, kind):
            raise ConfigError(f"no settings for provider {name!r}")
        return section

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    def archive_summary(self) -> str:
        """Where recordings go and what becomes of the provider's copy: said once at
        start-up by the web and by each worker, so nobody is surprised by either."""
        if self.s3_bucket:
            where = f"recordings are copied into S3 bucket {self.s3_bucket}"
        else:
            folder = Path(self.local_archive_dir).resolve()
            where = f"recordings are copied into the local folder {folder}"
        if self.delete_original:
            originals = (
                "originals are DELETED at the provider once the copy is confirmed "
                "(DELETE_ORIGINAL=false keeps them)"
            )
        else:
            originals = (
                "originals are kept at the provider (DELETE_ORIGINAL=true deletes them once copied)"
            )
        return (
            f"{where}; {originals}; the first worker to start, then one every "
            f"{self.reconcile_every_minutes:g} min, lists the last "
            f"{self.reconcile_lookback_hours:g} h of recordings at each configured provider "
            "and copies every completed one not yet archived"
        )


class _Reading(Env):
    """One pass of ``Settings.from_env``: the environment, what ``load_settings``
    passed in, and the settings read so far (later rows may depend on earlier)."""

    def __init__(
        self,
        environ: Mapping[str, str],
        sections: Mapping[str, SectionReader],
        require_secret_key: bool,
    ) -> None:
        super().__init__(environ)
        self.sections = sections
        self.require_secret_key = require_secret_key
        self.got: dict[str, Any] = {}


def _secret_key(e: _Reading) -> str:
    secret_key = e.text("SECRET_KEY")
    if secret_key is None and not e.got["debug"] and e.require_secret_key:
        raise ConfigError("SECRET_KEY is required (set FLASK_DEBUG=1 only for local development)")
    # None: good for this process only; sessions it signs die with it.
    return secret_key or "ephemeral-" + os.urandom(16).hex()


def _s3_kms_key_id(e: _Reading) -> str | None:
    s3_kms_key_id = e.text("S3_KMS_KEY_ID")
    if s3_kms_key_id and e.got["s3_sse"] != "aws:kms":
        raise ConfigError("S3_KMS_KEY_ID is only used with S3_SSE=aws:kms")
    return s3_kms_key_id


def _s3_single_put_max_mb(e: _Reading) -> int:
    most = e.integer("S3_SINGLE_PUT_MAX_MB", Settings.s3_single_put_max_mb)
    if most > S3_SINGLE_PUT_LIMIT_MB:
        raise ConfigError(
            f"S3_SINGLE_PUT_MAX_MB must be at most {S3_SINGLE_PUT_LIMIT_MB} "
            f"(S3 takes one PUT of 5 GiB at most), got {most}"
        )
    return most


def _s3_key_template(e: _Reading) -> str:
    key_template = e.text("S3_KEY_TEMPLATE", DEFAULT_KEY_TEMPLATE) or DEFAULT_KEY_TEMPLATE
    check_key_template(key_template)
    if "{recording_sid}" not in key_template:
        raise ConfigError("S3_KEY_TEMPLATE must contain {recording_sid}, so keys are unique")
    return key_template


def _s3_object_lock_mode(e: _Reading) -> str | None:
    mode = e.choice("S3_OBJECT_LOCK_MODE", OBJECT_LOCK_MODES, None)
    if mode is not None and e.got["s3_bucket"] is None:
        raise ConfigError(
            "S3_OBJECT_LOCK_MODE needs S3_BUCKET: a local folder cannot keep objects write-once"
        )
    return mode


def _s3_object_lock_days(e: _Reading) -> int | None:
    mode = e.got["s3_object_lock_mode"]
    if e.raw("S3_OBJECT_LOCK_DAYS") is None:
        if mode is not None:
            raise ConfigError("S3_OBJECT_LOCK_DAYS is required with S3_OBJECT_LOCK_MODE")
        return None
    if mode is None:
        raise ConfigError("S3_OBJECT_LOCK_DAYS is only used with S3_OBJECT_LOCK_MODE")
    return e.integer("S3_OBJECT_LOCK_DAYS", 0, minimum=1)


def _retention_days(e: _Reading, name: str) -> int | None:
    """Unset: kept for ever; else whole days, at least one."""
    return None if e.raw(name) is None else e.integer(name, 0, minimum=1)


def _public_url(e: _Reading) -> str | None:
    public_url = e.text("PUBLIC_URL")
    return parse_public_url("PUBLIC_URL", public_url) if public_url else None


def _receiver_url(name: str, value: str | None) -> str | None:
    """An absolute http(s) URL our deliveries are sent to, or None when unset."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise ConfigError(
            f"{name} must be an absolute http(s) URL with no fragment, "
            "such as https://crm.example.com/twilio/recording-status"
        )
    return value


def _webhook_secret(name: str, value: str | None, needed_by: str | None = None) -> str | None:
    """A Standard Webhooks secret: ``whsec_`` then base64 of at least 24 bytes."""
    if value is None:
        if needed_by is not None:
            raise ConfigError(f"{name} must be set when {needed_by} is")
        return None
    example = "whsec_ followed by base64, e.g. from `openssl rand -base64 32`"
    if not value.startswith("whsec_"):
        raise ConfigError(f"{name} must start with whsec_ ({example})")
    try:
        raw = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{name} is not whsec_ and valid base64 ({example})") from None
    if len(raw) < 24:
        raise ConfigError(f"{name} must hold at least 24 random bytes, has {len(raw)}")
    return value


SettingReader = Callable[[_Reading], Any]


# The core settings, one row each: the Settings field and how it is read (the
# variable, its default, its bounds). Rows are read in this order, so a row may
# use the ones above it, and of several mistakes the first row's is reported.
def _default_phone_region(e: _Reading) -> str:
    value = (e.text("DEFAULT_PHONE_REGION") or Settings.default_phone_region).upper()
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(
            f"DEFAULT_PHONE_REGION must be a two-letter region phonenumbers knows (US, GB, DE, ...), "
            f"not {value!r}"
        )
    return value


def _display_timezone(e: _Reading) -> str:
    value = e.text("DISPLAY_TIMEZONE") or Settings.display_timezone
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"DISPLAY_TIMEZONE must be an IANA time zone such as America/New_York, not {value!r}"
        ) from exc
    return value


CORE_SETTINGS: tuple[tuple[str, SettingReader], ...] = (
    ("debug", lambda e: e.boolean("FLASK_DEBUG", False)),
    ("secret_key", _secret_key),
    ("s3_sse", lambda e: e.choice("S3_SSE", SSE_MODES, None)),
    ("s3_kms_key_id", _s3_kms_key_id),
    ("s3_key_template", _s3_key_template),
    ("s3_single_put_max_mb", _s3_single_put_max_mb),
    (
        "database_url",
        lambda e: normalise_database_url(e.text("DATABASE_URL") or default_database_url()),
    ),
    ("providers", lambda e: {name: read(e) for name, read in e.sections.items()}),
    ("trusted_proxies", lambda e: e.integer("TRUSTED_PROXIES", Settings.trusted_proxies)),
    (
        "trusted_proxy_networks",
        lambda e: e.networks("TRUSTED_PROXY_NETWORKS", DEFAULT_PROXY_NETWORKS),
    ),
    (
        "max_body_bytes",
        lambda e: e.integer("MAX_BODY_BYTES", Settings.max_body_bytes, minimum=1024),
    ),
    ("public_url", _public_url),
    ("s3_bucket", lambda e: e.text("S3_BUCKET")),
    ("s3_prefix", lambda e: e.environ.get("S3_PREFIX", "").strip()),
    ("s3_endpoint_url", lambda e: e.text("S3_ENDPOINT_URL")),
    (
        "local_archive_dir",
        lambda e: e.text("LOCAL_ARCHIVE_DIR") or Settings.local_archive_dir,
    ),
    (
        "recording_format",
        lambda e: e.choice("RECORDING_FORMAT", RECORDING_FORMATS, "mp3") or "mp3",
    ),
    # Contract v3: a folder on this machine is no place for the only copy, so
    # originals are deleted by default only once they are in a bucket.
    ("delete_original", lambda e: e.boolean("DELETE_ORIGINAL", e.got["s3_bucket"] is not None)),
    (
        "archive_max_attempts",
        lambda e: e.integer("ARCHIVE_MAX_ATTEMPTS", Settings.archive_max_attempts, 1),
    ),
    (
        "archive_retry_base_seconds",
        lambda e: e.number("ARCHIVE_RETRY_BASE_SECONDS", Settings.archive_retry_base_seconds),
    ),
    (
        "archive_retry_max_seconds",
        lambda e: e.number("ARCHIVE_RETRY_MAX_SECONDS", Settings.archive_retry_max_seconds),
    ),
    (
        "archive_lease_seconds",
        lambda e: e.integer("ARCHIVE_LEASE_SECONDS", Settings.archive_lease_seconds, 1),
    ),
    # SQLite cannot wake idle workers (no NOTIFY): poll it more often.
    (
        "worker_poll_seconds",
        lambda e: e.number(
            "WORKER_POLL_SECONDS",
            5.0 if e.got["database_url"].startswith("postgresql") else 1.0,
            0.05,
        ),
    ),
    (
        "http_connect_timeout",
        lambda e: e.number("HTTP_CONNECT_TIMEOUT", Settings.http_connect_timeout, 0.1),
    ),
    (
        "http_read_timeout",
        lambda e: e.number("HTTP_READ_TIMEOUT", Settings.http_read_timeout, 0.1),
    ),
    ("admin_username", lambda e: e.text("ADMIN_USERNAME")),
    ("admin_password", lambda e: e.text("ADMIN_PASSWORD")),
    (
        "session_idle_minutes",
        lambda e: e.number("SESSION_IDLE_MINUTES", Settings.session_idle_minutes, 1.0),
    ),
    (
        "session_max_hours",
        lambda e: e.number("SESSION_MAX_HOURS", Settings.session_max_hours, 0.1),
    ),
    (
        "password_hash_profile",
        lambda e: (
            e.choice(
                "PASSWORD_HASH_PROFILE", PASSWORD_HASH_PROFILES, Settings.password_hash_profile
            )
            or Settings.password_hash_profile
        ),
    ),
    (
        "reconcile_every_minutes",
        lambda e: e.number("RECONCILE_EVERY_MINUTES", Settings.reconcile_every_minutes, 0.01),
    ),
    (
        "reconcile_lookback_hours",
        lambda e: e.number("RECONCILE_LOOKBACK_HOURS", Settings.reconcile_lookback_hours, 0.01),
    ),
    ("metrics_token", lambda e: e.text("METRICS_TOKEN")),
    ("log_format", lambda e: e.choice("LOG_FORMAT", LOG_FORMATS, default_log_format(e)) or "text"),
    ("s3_object_lock_mode", _s3_object_lock_mode),
    ("s3_object_lock_days", _s3_object_lock_days),
    (
        "scrub_every_hours",
        lambda e: e.number("SCRUB_EVERY_HOURS", Settings.scrub_every_hours, 0.01),
    ),
    (
        "scrub_max_mb_per_second",
        lambda e: e.number("SCRUB_MAX_MB_PER_SECOND", Settings.scrub_max_mb_per_second, 0.01),
    ),
    ("forward_url", lambda e: _receiver_url("FORWARD_URL", e.text("FORWARD_URL"))),
    ("forward_secret", lambda e: _webhook_secret("FORWARD_SECRET", e.text("FORWARD_SECRET"))),
    ("notify_url", lambda e: _receiver_url("NOTIFY_URL", e.text("NOTIFY_URL"))),
    (
        "notify_secret",
        lambda e: _webhook_secret(
            "NOTIFY_SECRET",
            e.text("NOTIFY_SECRET"),
            needed_by="NOTIFY_URL" if e.got["notify_url"] else None,
        ),
    ),
    ("default_phone_region", _default_phone_region),
    ("display_timezone", _display_timezone),
    ("events_retention_days", lambda e: _retention_days(e, "EVENTS_RETENTION_DAYS")),
    ("attempts_retention_days", lambda e: _retention_days(e, "ATTEMPTS_RETENTION_DAYS")),
    ("deliveries_retention_days", lambda e: _retention_days(e, "DELIVERIES_RETENTION_DAYS")),
)
