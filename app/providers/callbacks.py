"""Provider-neutral recording-status callbacks: parsing and validation.

A callback that is signed correctly but malformed is refused with a
``CallbackError`` naming the field, so the provider's debugger shows exactly
what was wrong; nothing is stored for it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from app.models import ArchiveState


class RecordingStatus:
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    ABSENT = "absent"
    FAILED = "failed"


# A status may only move a recording forward. Unknown values rank 0: they are
# stored with the event but never change a recording that already exists.
STATUS_RANK = {
    RecordingStatus.IN_PROGRESS: 1,
    RecordingStatus.COMPLETED: 2,
    RecordingStatus.ABSENT: 2,
    RecordingStatus.FAILED: 2,
}

_STATE_FOR_STATUS = {
    RecordingStatus.COMPLETED: ArchiveState.QUEUED,
    RecordingStatus.ABSENT: ArchiveState.NO_MEDIA,
    RecordingStatus.FAILED: ArchiveState.NO_MEDIA,
}


def archive_state_for(status: str) -> ArchiveState:
    """The archive state a recording enters when it first reaches ``status``."""
    return _STATE_FOR_STATUS.get(status, ArchiveState.WAITING)


class CallbackError(Exception):
    """A refused callback; ``status`` is the HTTP answer, the message names the field."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class RecordingCallback:
    """The fields of a recording-status callback that the service acts on."""

    provider: str
    account_sid: str
    recording_sid: str
    status: str
    call_sid: str | None = None
    conference_sid: str | None = None
    media_url: str | None = None
    channels: int | None = None
    duration_seconds: int | None = None
    started_at: dt.datetime | None = None
    source: str | None = None
    track: str | None = None
    error_code: str | None = None


def _sid_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"{prefix}[0-9a-fA-F]{{32}}")


ACCOUNT_SID = _sid_pattern("AC")
CALL_SID = _sid_pattern("CA")
RECORDING_SID = _sid_pattern("RE")
CONFERENCE_SID = _sid_pattern("CF")
# Short identifiers (statuses, sources, tracks, error codes): fit their columns.
_TOKEN = re.compile(r"[A-Za-z0-9_.:-]{1,32}")
_DIGITS = re.compile(r"[0-9]{1,12}")


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


def _sid(
    params: Mapping[str, str], name: str, pattern: re.Pattern[str], required: bool
) -> str | None:
    value = _required(params, name) if required else _optional(params, name)
    if value is not None and not pattern.fullmatch(value):
        prefix = pattern.pattern[:2]
        raise CallbackError(f"{name} is malformed: expected {prefix} followed by 32 hex digits")
    return value


def _integer(
    params: Mapping[str, str], name: str, allowed: tuple[int, ...] | None = None
) -> int | None:
    value = _optional(params, name)
    if value is None:
        return None
    if not _DIGITS.fullmatch(value):
        raise CallbackError(f"{name} is malformed: expected a whole number of seconds or units")
    number = int(value)
    if allowed is not None and number not in allowed:
        raise CallbackError(f"{name} is malformed: expected one of {', '.join(map(str, allowed))}")
    return number


def _rfc2822(params: Mapping[str, str], name: str) -> dt.datetime | None:
    value = _optional(params, name)
    if value is None:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise CallbackError(f"{name} is malformed: expected an RFC 2822 date") from None
    if parsed.tzinfo is None:
        # RFC 2822 "-0000" means UTC with no claim about local time.
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


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


def parse_compatibility_callback(provider: str, params: Mapping[str, str]) -> RecordingCallback:
    """Validate a Twilio-format (Compatibility API) recording-status callback.

    Raises ``CallbackError`` (400) naming the first bad field. The media URL is
    only required once the recording is ``completed``; whether it points where
    it may is decided by the worker, against the settings in force then.
    """
    account_sid = _sid(params, "AccountSid", ACCOUNT_SID, required=True)
    recording_sid = _sid(params, "RecordingSid", RECORDING_SID, required=True)
    status = _required(params, "RecordingStatus")
    if not _TOKEN.fullmatch(status):
        raise CallbackError("RecordingStatus is malformed: expected a word such as completed")
    assert account_sid is not None and recording_sid is not None
    return RecordingCallback(
        provider=provider,
        account_sid=account_sid,
        recording_sid=recording_sid,
        status=status,
        call_sid=_sid(params, "CallSid", CALL_SID, required=False),
        conference_sid=_sid(params, "ConferenceSid", CONFERENCE_SID, required=False),
        media_url=_absolute_url(
            params, "RecordingUrl", required=status == RecordingStatus.COMPLETED
        ),
        channels=_integer(params, "RecordingChannels", allowed=(1, 2)),
        duration_seconds=_integer(params, "RecordingDuration"),
        started_at=_rfc2822(params, "RecordingStartTime"),
        source=_token(params, "RecordingSource"),
        track=_token(params, "RecordingTrack"),
        error_code=_token(params, "ErrorCode"),
    )
