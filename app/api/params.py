"""The API's query parameters, read strictly: anything unknown, repeated or malformed is
refused with a 400 that names the parameter."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from werkzeug.datastructures import MultiDict

from app.providers import PROVIDERS
from app.recordings import phones, queries
from app.recordings.models import ArchiveState

# The console's names for the archive states (what the API shows in ``state``); the
# stored names are accepted in filters too.
STATE_NAMES = {
    ArchiveState.WAITING: "waiting",
    ArchiveState.QUEUED: "queued",
    ArchiveState.RUNNING: "archiving",
    ArchiveState.DONE: "archived",
    ArchiveState.FAILED: "failed",
    ArchiveState.NO_MEDIA: "nothing to archive",
}
STATES_BY_NAME = {
    **{state.value: state for state in ArchiveState},
    **{name: state for state, name in STATE_NAMES.items()},
}
LIMIT_DEFAULT = 100
LIMIT_MOST = 500
# The cursor: microseconds since 1970 and the row id of the page's last row. Every
# string of this shape decodes (17 digits end in the year 5138, 18 stay under 2**63),
# so the document's pattern promises exactly what is accepted.
CURSOR_SHAPE = r"[0-9]{1,17}~[0-9]{1,18}"
_CURSOR = re.compile(CURSOR_SHAPE)
SID_SHAPE = r"[A-Za-z0-9_.:-]{1,128}"
PHONE_SHAPE = r"\+?[0-9() .-]*[0-9]{4}[0-9() .-]*"
PHONE_LONGEST = 32
_SID = re.compile(SID_SHAPE)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def encode_cursor(position: queries.Position) -> str:
    moment = position.recorded_at.astimezone(dt.UTC) - EPOCH
    return f"{moment // dt.timedelta(microseconds=1)}~{position.id}"


class ParameterRefused(ValueError):
    """One parameter's value we do not take; the message names it."""


def _state(value: str) -> ArchiveState:
    try:
        return STATES_BY_NAME[value]
    except KeyError:
        names = ", ".join(sorted(set(STATE_NAMES.values())))
        raise ParameterRefused(f"state must be one of: {names}") from None


def _provider(value: str) -> str:
    if value not in PROVIDERS:
        raise ParameterRefused(f"provider must be one of: {', '.join(PROVIDERS)}")
    return value


def _sid(name: str) -> Callable[[str], str]:
    def read(value: str) -> str:
        if not _SID.fullmatch(value):
            raise ParameterRefused(f"{name} is a SID: 1 to 128 letters, digits and - _ . :")
        return value

    return read


def instant(name: str, value: str, *, end_of_day: bool = False) -> dt.datetime:
    """ISO 8601: a date (its start, or the next day's start for ``until``) or a date and
    time; without an offset, UTC."""
    value = value.upper()  # RFC 3339 allows t and z
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            if end_of_day:
                if day == dt.date.max:
                    raise ParameterRefused(f"{name} must be a date before {dt.date.max}")
                day += dt.timedelta(days=1)
            return dt.datetime.combine(day, dt.time(), dt.UTC)
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ParameterRefused(
            f"{name} must be ISO 8601, such as 2026-11-24 or 2026-11-24T13:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise ParameterRefused(f"{name} is out of range") from None


def _limit(value: str) -> int:
    if not re.fullmatch(r"[0-9]{1,4}", value) or not 1 <= int(value) <= LIMIT_MOST:
        raise ParameterRefused(f"limit must be a whole number from 1 to {LIMIT_MOST}")
    return int(value)


def _after(value: str) -> queries.Position:
    if not _CURSOR.fullmatch(value):
        raise ParameterRefused("after is not a cursor of ours: follow the next link as given")
    micros, _, row_id = value.partition("~")
    return queries.Position(EPOCH + dt.timedelta(microseconds=int(micros)), int(row_id))


def _phone(value: str) -> str:
    digits = re.sub(r"[^0-9]", "", value)
    if len(digits) < 4 or len(value) > PHONE_LONGEST:
        raise ParameterRefused(
            "phone must be a phone number (+1 415 555 0100, (415) 555-0100) or its last "
            "four or more digits"
        )
    return value


READERS: dict[str, Callable[[str], Any]] = {
    "state": _state,
    "provider": _provider,
    "account_sid": _sid("account_sid"),
    "call_sid": _sid("call_sid"),
    "phone": _phone,
    "since": lambda value: instant("since", value),
    "until": lambda value: instant("until", value, end_of_day=True),
    "limit": _limit,
    "after": _after,
}


def read_listing(args: MultiDict[str, str]) -> dict[str, Any]:
    """The listing's parameters, read; ParameterRefused naming the first bad one."""
    read: dict[str, Any] = {}
    for name in args:
        if name not in READERS:
            raise ParameterRefused(
                f"unknown parameter {name[:40]!r}; the listing takes {', '.join(READERS)}"
            )
        values = args.getlist(name)
        if len(values) > 1:
            raise ParameterRefused(f"{name} is given {len(values)} times; give it once")
        read[name] = READERS[name](values[0])
    return read


def listing_filter(read: dict[str, Any], region: str) -> queries.RecordingFilter:
    """``region``: DEFAULT_PHONE_REGION, in which a national number is read."""
    phone = None
    if "phone" in read:
        phone = phones.search_digits(read["phone"], region)
        if phone is None:
            raise ParameterRefused(
                "phone must be a phone number (+1 415 555 0100, (415) 555-0100) or its last "
                "four or more digits"
            )
    return queries.RecordingFilter(
        phone=phone,
        state=read.get("state"),
        provider=read.get("provider"),
        account_sid=read.get("account_sid"),
        call_sid=read.get("call_sid"),
        recorded_from=read.get("since"),
        recorded_before=read.get("until"),
    )
