"""How the console writes times, durations and sizes."""

from __future__ import annotations

import datetime as dt

from flask import Flask


def utc(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


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


def register_filters(app: Flask) -> None:
    for name, function in {
        "utc": utc,
        "duration": duration,
        "size": size,
        "age": age,
        "thousands": thousands,
        "short_sid": short_sid,
    }.items():
        app.jinja_env.filters[name] = function
