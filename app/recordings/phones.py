"""Phone numbers of a call: normalised once when stored, found by their last digits.

A number the ``phonenumbers`` library reads as a valid number (national
formats in ``DEFAULT_PHONE_REGION``) is kept in E.164 (``+14155550100``);
anything else (``client:alice``, ``sip:bob@example.com``, ``anonymous``, a
short code) is kept as the provider sent it.

Search is by the end of the number: each side's digits are stored reversed
(``from_digits_reversed``), so "ends with 0100" becomes "starts with 0010",
which is a range of one B-tree index on PostgreSQL and SQLite alike
(``digits_range``). A full number is its own longest ending, so one kind of
search serves ``+1 415 555 0100``, ``(415) 555-0100``, ``4155550100`` and
``0100``.

Phone numbers are personal data: nothing here logs them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

# What may be written around the digits of a number someone types or a provider sends.
_NUMBER_LIKE = re.compile(r"\+?[\d\s().\-]+")
SEARCH_MIN_DIGITS = 4
MAX_DIGITS = 32  # the reversed-digits columns' width; longer is no phone number


@dataclass(frozen=True)
class StoredNumber:
    value: str  # E.164, or as sent
    digits_reversed: str | None  # for search; None when it has no digits to search by


def _parsed(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    if not _NUMBER_LIKE.fullmatch(text.strip()):
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def normalise(raw: str | None, region: str) -> StoredNumber | None:
    """How a number the provider sent is stored; None when it sent none."""
    if raw is None or not raw.strip():
        return None
    number = _parsed(raw, region)
    if number is not None:
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return StoredNumber(e164, e164[1:][::-1])
    digits = re.sub(r"\D", "", raw)
    if _NUMBER_LIKE.fullmatch(raw.strip()) and 0 < len(digits) <= MAX_DIGITS:
        return StoredNumber(raw, digits[::-1])  # a short code, a number we cannot place
    return StoredNumber(raw, None)


def search_digits(text: str, region: str) -> str | None:
    """The digits a search for ``text`` asks the number to end with, or None when
    ``text`` is not a phone number (four digits or more, written any common way)."""
    if not _NUMBER_LIKE.fullmatch(text.strip()):
        return None
    number = _parsed(text, region)
    if number is not None:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
    digits = re.sub(r"\D", "", text)
    return digits if SEARCH_MIN_DIGITS <= len(digits) <= MAX_DIGITS else None


def digits_range(ending: str) -> tuple[str, str | None]:
    """The reversed-digits range ``[low, high)`` of every number ending in ``ending``.

    The prefix's successor (last digit raised, nines carried) bounds it, rather
    than LIKE 'prefix%': a range uses a plain index on both databases whatever
    the collation, since digit strings sort the same in all of them.
    """
    low = ending[::-1]
    head = low.rstrip("9")
    high = head[:-1] + str(int(head[-1]) + 1) if head else None
    return low, high


def for_people(value: str | None) -> str:
    """``+14155550100`` as ``+1 415-555-0100``; anything else as it is."""
    if not value:
        return ""
    if value.startswith("+"):
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            return value
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return value
