"""Listens and downloads, as the console, the API and share links record them.

A browser's ``<audio>`` fetches one recording in many range requests. What
counts as one listen: the page embeds a fresh nonce (``view=``) in the audio
URL, and only the first request carrying that nonce writes a
``recording.listen`` (the check reads the log under the chain's lock, so two
simultaneous first ranges write one). A request without a nonce (a copied
URL, a script) counts when it asks from the start: no ``Range``, or one
starting at byte 0. Every download request counts.
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import actions
from app.audit.log import lock_chain, record
from app.audit.models import AuditEntry

_NONCE = re.compile(r"[A-Za-z0-9_-]{16,32}")
_FROM_START = re.compile(r"\s*bytes\s*=\s*0*0\s*-")


def new_view_nonce() -> str:
    return secrets.token_urlsafe(12)


def view_detail(view: str) -> str:
    return f"view {view}"


def record_playback(
    db: Session,
    *,
    actor: str,
    address: str | None,
    recording_sid: str,
    download: bool,
    view: str | None,
    range_header: str | None,
) -> AuditEntry | None:
    """Write the listen or download this request is, or nothing when it is a later
    range of a listen already written. Call before the first byte goes out."""
    if download:
        return record(
            db,
            actor=actor,
            address=address,
            action=actions.RECORDING_DOWNLOAD,
            recording_sid=recording_sid,
        )
    if view and _NONCE.fullmatch(view):
        lock_chain(db)
        seen = db.execute(
            select(AuditEntry.id)
            .where(
                AuditEntry.recording_sid == recording_sid,
                AuditEntry.actor == actor,
                AuditEntry.action == actions.RECORDING_LISTEN,
                AuditEntry.detail == view_detail(view),
            )
            .limit(1)
        ).scalar()
        if seen is not None:
            return None
        detail = view_detail(view)
    elif range_header and not _FROM_START.match(range_header):
        return None
    else:
        detail = ""
    return record(
        db,
        actor=actor,
        address=address,
        action=actions.RECORDING_LISTEN,
        recording_sid=recording_sid,
        detail=detail,
    )
