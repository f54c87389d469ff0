"""Twilio's recording-status callback format, which SignalWire and Telnyx TeXML copy.

The providers that send it differ only in their ID formats (``IdFormats``,
declared by each provider module); the fields, their checks and the RFC 2822
dates are the same, and live here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.providers.base import RecordingReport, RecordingStatus
from app.providers.encryption import parse_encryption_details
from app.providers.errors import CallbackError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IdFormats:
    """A provider's identifiers, as patterns, with how to describe them in a refusal."""

    account: re.Pattern[str]
    call: re.Pattern[str]
    recording: re.Pattern[str]
    conference: re.Pattern[str]
    description: dict[str, str]  # field name -> "AC followed by 32 hex digits"
    call_example: Callable[[str], str]  # a well-formed call id, derived from a seed

    def example_call_sid(self, seed: str) -> str:
        return self.call_example(seed)


UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def uuid_from(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


# Short identifiers (statuses, sources, tracks, error codes): fit their columns.
_TOKEN = re.compile(r"[A-Za-z0-9_.:-]{1,32}")
_DIGITS = re.compile(r"[0-9]+")
# The integer columns are 32-bit on PostgreSQL; SQLite would take more, and
# both databases must behave the same.
INT_MAX = 2**31 - 1
# RFC 2822 as providers send it: "Mon, 16 Nov 2026 10:15:30 +0000", the weekday
# and the seconds optional. The year must have four digits (email.utils would
# read "0001" as 2001).
_RFC2822 = re.compile(
    r"(?:[A-Z][a-z]{2}, )?(?P<day>\d{1,2}) (?P<month>[A-Z][a-z]{2}) (?P<year>\d{4}) "
    r"(?P<time>\d{2}:\d{2}(?::\d{2})?) (?P<zone>[+-]\d{4}|GMT|UT|UTC|Z)"
)
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _optional(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _required(params: Mapping[str, str], name: str) -> str:
    value = _optional(params, name)
    if value is None:
        raise CallbackError(f"{name} is missing")
    return value


def _id(value: str | None, name: str, pattern: re.Pattern[str], described: str) -> str | None:
    if value is not None and not pattern.fullmatch(value):
        raise CallbackError(f"{name} is malformed: expected {described}")
    return value


# Channel counts as some providers spell them (Telnyx's TeXML verbs say
# single/dual, SignalWire's requests mono/dual; their callbacks send 1 or 2).
_CHANNEL_WORDS = {"mono": "1", "single": "1", "dual": "2"}


def _integer(
    params: Mapping[str, str], name: str, allowed: tuple[int, ...] | None = None
) -> int | None:
    value = _optional(params, name)
    if value is None:
        return None
    if name == "RecordingChannels":
        value = _CHANNEL_WORDS.get(value.lower(), value)
    if not _DIGITS.fullmatch(value):
        raise CallbackError(f"{name} is malformed: expected a whole number of seconds or units")
    if len(value) > 10 or int(value) > INT_MAX:
        raise CallbackError(f"{name} is out of range: at most {INT_MAX}")
    number = int(value)
    if allowed is not None and number not in allowed:
        raise CallbackError(f"{name} is malformed: expected one of {', '.join(map(str, allowed))}")
    return number


def parse_rfc2822(value: str) -> dt.datetime:
    """An RFC 2822 date, strictly (four-digit year), in UTC; ValueError otherwise."""
    match = _RFC2822.fullmatch(value)
    if match is None or match["month"] not in _MONTHS:
        raise ValueError("not an RFC 2822 date")
    zone = match["zone"]
    hour, minute, *second = match["time"].split(":")
    # Built from its parts, not through strptime: the same dates pass and fail
    # (datetime checks every field's range), at a tenth of the cost, on every
    # callback's path.
    if zone in ("GMT", "UT", "UTC", "Z"):
        offset = dt.UTC
    else:
        sign = -1 if zone[0] == "-" else 1
        zone_minutes = int(zone[3:5])
        if zone_minutes > 59:
            raise ValueError("not an RFC 2822 zone")
        offset = dt.timezone(sign * dt.timedelta(hours=int(zone[1:3]), minutes=zone_minutes))
    try:
        parsed = dt.datetime(
            int(match["year"]),
            _MONTHS.index(match["month"]) + 1,
            int(match["day"]),
            int(hour),
            int(minute),
            int(second[0]) if second else 0,
            tzinfo=offset,
        )
        return parsed.astimezone(dt.UTC)
    except OverflowError as exc:  # a valid local time that is outside years 1-9999 in UTC
        raise ValueError(str(exc)) from None


def _rfc2822(params: Mapping[str, str], name: str) -> dt.datetime | None:
    value = _optional(params, name)
    if value is None:
        return None
    try:
        return parse_rfc2822(value)
    except ValueError:
        raise CallbackError(
            f"{name} is malformed: expected an RFC 2822 date with a four-digit year "
            "that stays within years 1 to 9999 in UTC"
        ) from None


def _token(params: Mapping[str, str], name: str) -> str | None:
    value = _optional(params, name)
    if value is not None and not _TOKEN.fullmatch(value):
        raise CallbackError(f"{name} is malformed: expected up to 32 letters, digits or -_.:")
    return value


def _absolute_url(params: Mapping[str, str], name: str, required: bool) -> str | None:
    value = _required(params, name) if required else _optional(params, name)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackError(f"{name} is malformed: expected an absolute http(s) URL")
    return value


def _encryption_details(
    params: Mapping[str, str], recording_sid: str
) -> tuple[dict[str, str] | None, str | None]:
    """``EncryptionDetails`` as (parsed, None), or (None, as received) when unreadable.

    Never a refusal: the callback is signed, so the provider sent it, and a 400
    would only have it sent again and again while the recording waits. The
    bytes are archived as served either way; the details stay in the event.
    """
    raw = _optional(params, "EncryptionDetails")
    if raw is None:
        return None, None
    try:
        return parse_encryption_details(raw).as_dict(), None
    except ValueError as exc:
        # The reason names fields only, never their values.
        log.warning("EncryptionDetails of %s kept unparsed: %s", recording_sid, exc)
        return None, raw


def parse_callback(provider: str, ids: IdFormats, params: Mapping[str, str]) -> RecordingReport:
    """Validate a Twilio-format recording-status callback.

    Raises ``CallbackError`` (400) naming the first bad field. The media URL is
    only required once the recording is ``completed``; whether it points where
    it may is decided by the worker, against the settings in force then.
    """
    described = ids.description
    account_sid = _id(
        _required(params, "AccountSid"), "AccountSid", ids.account, described["AccountSid"]
    )
    recording_sid = _id(
        _required(params, "RecordingSid"), "RecordingSid", ids.recording, described["RecordingSid"]
    )
    status = _required(params, "RecordingStatus")
    if not _TOKEN.fullmatch(status):
        raise CallbackError("RecordingStatus is malformed: expected a word such as completed")
    assert account_sid is not None and recording_sid is not None
    encryption, unparsed = _encryption_details(params, recording_sid)
    return RecordingReport(
        provider=provider,
        account_sid=account_sid,
        recording_sid=recording_sid,
        status=status,
        call_sid=_id(_optional(params, "CallSid"), "CallSid", ids.call, described["CallSid"]),
        conference_sid=_id(
            _optional(params, "ConferenceSid"),
            "ConferenceSid",
            ids.conference,
            described["ConferenceSid"],
        ),
        media_url=_absolute_url(
            params, "RecordingUrl", required=status == RecordingStatus.COMPLETED
        ),
        channels=_integer(params, "RecordingChannels", allowed=(1, 2)),
        duration_seconds=_integer(params, "RecordingDuration"),
        started_at=_rfc2822(params, "RecordingStartTime"),
        source=_token(params, "RecordingSource"),
        track=_token(params, "RecordingTrack"),
        error_code=_token(params, "ErrorCode"),
        encryption_details=encryption,
        encryption_details_unparsed=unparsed,
    )
