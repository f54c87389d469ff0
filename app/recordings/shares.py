"""Share links: a signed, expiring URL that plays and downloads one recording without a login.

The URL carries ``itsdangerous``'s signature over the link's stored id, the
recording's SID and the expiry, so a link cannot be made up or pointed at another
recording; the stored row is what lets an admin revoke one before it expires, and
what each use is audited against (``share:<id>``). The expiry is in both: the
signed one cannot be stretched, the stored one is what the pages show.
"""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.db import Base, UTCDateTime, utcnow
from app.recordings.models import Recording

LONGEST = dt.timedelta(days=7)
SALT = "recording-share-link"


class ShareLink(Base):
    __tablename__ = "share_links"
    __table_args__ = (Index("ix_share_links_recording", "recording_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    recording_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("recordings.id", ondelete="CASCADE"),
    )
    recording_sid: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(160))


class LinkState(enum.StrEnum):
    LIVE = "live"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True)
class MadeLink:
    id: str
    token: str  # the signed part of the URL
    expires_at: dt.datetime


@dataclass(frozen=True)
class OpenedLink:
    link: ShareLink
    recording: Recording
    state: LinkState


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=SALT)


def make(
    db: Session, recording: Recording, lifetime: dt.timedelta, created_by: str, secret_key: str
) -> MadeLink:
    """A new link to ``recording`` for ``lifetime`` (at most seven days)."""
    if not dt.timedelta(seconds=1) <= lifetime <= LONGEST:
        raise ValueError("a share link lasts from 1 second to 7 days")
    now = utcnow()
    link = ShareLink(
        id=secrets.token_urlsafe(12),
        recording_id=recording.id,
        recording_sid=recording.recording_sid,
        created_by=created_by,
        created_at=now,
        expires_at=now + lifetime,
    )
    db.add(link)
    db.flush()
    expires = int(link.expires_at.timestamp())
    token = _serializer(secret_key).dumps([link.id, recording.recording_sid, expires])
    return MadeLink(link.id, str(token), link.expires_at)


def open_link(db: Session, token: str, secret_key: str) -> OpenedLink | None:
    """The link ``token`` names and whether it still works; None for a token we never
    signed (or one whose link and recording are gone)."""
    try:
        payload = _serializer(secret_key).loads(token)
    except BadSignature:
        return None
    if not (
        isinstance(payload, list)
        and len(payload) == 3
        and all(isinstance(part, str) for part in payload[:2])
        and isinstance(payload[2], int)
    ):
        return None
    link_id, sid, expires = payload
    row = db.execute(
        select(ShareLink, Recording)
        .join(Recording, Recording.id == ShareLink.recording_id)
        .where(ShareLink.id == link_id, ShareLink.recording_sid == sid)
    ).first()
    if row is None:
        return None
    link, recording = row
    now = utcnow()
    if link.revoked_at is not None:
        state = LinkState.REVOKED
    elif now.timestamp() >= expires or now >= link.expires_at:
        state = LinkState.EXPIRED
    else:
        state = LinkState.LIVE
    return OpenedLink(link, recording, state)


def revoke(db: Session, link_id: str, revoked_by: str) -> bool:
    done = db.execute(
        update(ShareLink)
        .where(ShareLink.id == link_id, ShareLink.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_by=revoked_by)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def links_of(db: Session, recording_id: int) -> list[ShareLink]:
    return list(
        db.execute(
            select(ShareLink)
            .where(ShareLink.recording_id == recording_id)
            .order_by(ShareLink.created_at.desc())
        ).scalars()
    )
