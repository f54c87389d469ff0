"""How the console writes times, durations and sizes."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from flask import Flask
from markupsafe import Markup, escape

from app.recordings.phones import for_people


def utc(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def in_zone(value: dt.datetime | None, zone: zoneinfo.ZoneInfo) -> Markup:
    """A time in the console's zone (``DISPLAY_TIMEZONE``), its UTC in the hover."""
    if value is None:
        return Markup("—")
    local = value.astimezone(zone)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        value.astimezone(dt.UTC).isoformat(),
        utc(value),
        local.strftime("%Y-%m-%d %H:%M:%S %Z"),
    )


def direction(value: str | None) -> str:
    """The provider's direction as people say it (``outbound-dial``: "outbound (dial)")."""
    if not value:
        return "—"
    head, _, tail = value.partition("-")
    return f"{head} ({tail})" if tail else head


def duration(seconds: int | None) -> str:
    """m:ss, or h:mm:ss from an hour."""
    if seconds is None:
        return "—"
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def size(number: int | None) -> str:
    """Bytes as B, KB, MB or GB (powers of 1,000, as disks and buckets count)."""
    if number is None:
        return "—"
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if number >= scale:
            return f"{number / scale:.1f} {unit}"
    return f"{number} B"


def age(seconds: float | None) -> str:
    if seconds is None:
        return "none"
    whole = int(seconds)
    for unit, scale, smaller, smaller_scale in (
        ("d", 86400, "h", 3600),
        ("h", 3600, "m", 60),
        ("m", 60, "s", 1),
    ):
        if whole >= scale:
            return f"{whole // scale}{unit} {whole % scale // smaller_scale}{smaller}"
    return f"{whole}s"


def thousands(number: int | None) -> str:
    return "—" if number is None else f"{number:,}"


def short_sid(sid: str) -> str:
    """Long ids shortened for the table (the whole id is in its title and detail page)."""
    return sid if len(sid) <= 20 else f"{sid[:12]}…{sid[-6:]}"


def register_filters(app: Flask, display_timezone: str = "UTC") -> None:
    zone = zoneinfo.ZoneInfo(display_timezone)
    app.jinja_env.globals["display_timezone"] = display_timezone
    app.jinja_env.filters["when"] = lambda value: in_zone(value, zone)
    app.jinja_env.filters["phone"] = lambda value: escape(for_people(value)) if value else "—"
    for name, function in {
        "direction": direction,
        "utc": utc,
        "duration": duration,
        "size": size,
        "age": age,
        "thousands": thousands,
        "short_sid": short_sid,
    }.items():
        app.jinja_env.filters[name] = function
