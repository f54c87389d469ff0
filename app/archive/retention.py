"""Legal holds: set or lift the store's hold on a recording's object, and record it.

The console, the API and ``flask --app app legal-hold`` all come here. The
store acts first, then the database: a hold the database does not know of
yet is made to agree by doing the same again (setting a hold is idempotent),
whereas a database that says "held" while the store holds nothing would be
a promise nobody keeps.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from app.audit import actions, record
from app.recordings import integrity
from app.recordings.models import Recording
from app.storage import ArchiveStore, RetentionUnsupported

log = logging.getLogger(__name__)


class LegalHoldRefused(Exception):
    """The hold cannot be set: the message says why; entry points answer 409
    (or 404 when ``not_found``), never a silent success."""

    def __init__(self, reason: str, *, not_found: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.not_found = not_found


def record_legal_hold_change(
    session: Session, *, actor: str, address: str | None, recording: Recording, on: bool
) -> None:
    """The one audit hook for a legal hold set or lifted, in the transaction that records it."""
    record(
        session,
        actor=actor,
        address=address,
        action=actions.LEGAL_HOLD_ON if on else actions.LEGAL_HOLD_OFF,
        recording_sid=recording.recording_sid,
        detail=f"{recording.provider} {recording.key or ''}".strip(),
    )
    log.info(
        "legal hold %s on %s %s by %s",
        "set" if on else "lifted",
        recording.provider,
        recording.recording_sid,
        actor,
    )


def set_legal_hold(
    session: Session,
    store: ArchiveStore,
    recording_sid: str,
    on: bool,
    *,
    actor: str,
    address: str | None = None,
) -> Recording:
    """Set (``on``) or lift the legal hold on a recording's archived object.

    LegalHoldRefused when there is no such recording, it is not archived, or
    the store keeps no legal holds (no Object Lock); StorageError when the
    store failed (worth trying again).
    """
    found = integrity.find_by_sid(session, recording_sid)
    if not found:
        raise LegalHoldRefused(f"no recording {recording_sid}", not_found=True)
    if len(found) > 1:
        raise LegalHoldRefused(f"{recording_sid} names recordings of more than one provider")
    recording = found[0]
    if recording.archived_at is None or recording.key is None:
        raise LegalHoldRefused(
            f"{recording_sid} is not archived yet: there is no stored object to hold"
        )
    try:
        store.set_legal_hold(recording.key, on)
    except RetentionUnsupported as exc:
        raise LegalHoldRefused(str(exc)) from None
    integrity.mark_legal_hold(session, recording, on)
    record_legal_hold_change(session, actor=actor, address=address, recording=recording, on=on)
    return recording
