"""What the pages and the metrics read about recordings."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.recordings.models import ArchiveState, Recording


def counts_by_state(session: Session) -> dict[ArchiveState, int]:
    """How many recordings are in each archive state (absent states: 0)."""
    rows = session.execute(
        select(Recording.archive_state, func.count()).group_by(Recording.archive_state)
    ).all()
    counts = {state: 0 for state in ArchiveState}
    counts.update({state: int(n) for state, n in rows})
    return counts
