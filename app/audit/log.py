"""Writing and checking the audit log.

``record`` appends in the caller's transaction, so an entry exists exactly
when the action it records happened. Each entry's hash is
``SHA-256(previous hash || canonical fields)``: changing or removing an entry
breaks every hash after it, which ``verify`` finds. It proves nothing against
someone who can rewrite the whole table and recompute the chain; an anchor kept
elsewhere (the latest hash, exported) does.

Appends are serialised so that two writers never chain to the same previous
entry: on PostgreSQL a transaction-scoped advisory lock taken before reading
the last hash (held until the caller commits, so the next writer reads this
entry); SQLite takes its write lock at BEGIN (``BEGIN IMMEDIATE``) already.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.audit.models import (
    ACTION_LENGTH,
    ACTOR_LENGTH,
    ADDRESS_LENGTH,
    DETAIL_LENGTH,
    SID_LENGTH,
    AuditEntry,
)
from app.db import is_postgresql, utcnow

GENESIS = "0" * 64  # the "previous hash" of the first entry
# pg_advisory_xact_lock's key for the chain's head ("audit" in ASCII).
CHAIN_LOCK_ID = 0x6175646974
VERIFY_BATCH = 5000


def canonical(entry: AuditEntry) -> bytes:
    """The fields the hash covers, in one unambiguous encoding (a JSON array)."""
    at = entry.at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fields = [
        at,
        entry.actor,
        entry.address,
        entry.action,
        entry.recording_sid,
        entry.detail or "",
    ]
    return json.dumps(fields, ensure_ascii=True, separators=(",", ":")).encode()


def chain_hash(previous: str, entry: AuditEntry) -> str:
    return hashlib.sha256(previous.encode("ascii") + canonical(entry)).hexdigest()


def lock_chain(db: Session) -> None:
    if is_postgresql(db.get_bind()):
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_ID})


def last_hash(db: Session) -> str:
    found = db.execute(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).scalar()
    return found or GENESIS


def record(
    db: Session,
    *,
    actor: str,
    address: str | None,
    action: str,
    recording_sid: str | None = None,
    detail: str = "",
    at: dt.datetime | None = None,
) -> AuditEntry:
    """Append one entry in ``db``'s transaction (the caller commits it with its action)."""
    lock_chain(db)
    entry = AuditEntry(
        # Microseconds are what both databases keep: the hash is computed on
        # what a later read gives back.
        at=at or utcnow(),
        actor=actor[:ACTOR_LENGTH],
        address=address[:ADDRESS_LENGTH] if address else None,
        action=action[:ACTION_LENGTH],
        recording_sid=recording_sid[:SID_LENGTH] if recording_sid else None,
        detail=(detail or "")[:DETAIL_LENGTH],
    )
    entry.hash = chain_hash(last_hash(db), entry)
    db.add(entry)
    db.flush()
    return entry


def entries_in_order(db: Session) -> Iterator[AuditEntry]:
    """Every entry, oldest first, read in batches by id."""
    after = 0
    while True:
        batch = (
            db.execute(
                select(AuditEntry)
                .where(AuditEntry.id > after)
                .order_by(AuditEntry.id)
                .limit(VERIFY_BATCH)
            )
            .scalars()
            .all()
        )
        if not batch:
            return
        yield from batch
        after = batch[-1].id
        db.expunge_all()


def verify(db: Session) -> AuditEntry | None:
    """The first entry whose hash does not follow from the one before it (that entry
    was changed, or the one before it was changed or removed), or ``None``."""
    previous = GENESIS
    for entry in entries_in_order(db):
        if chain_hash(previous, entry) != entry.hash:
            return entry
        previous = entry.hash
    return None
