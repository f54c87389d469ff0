"""Retention of the history tables: callbacks, tries (and what the worker is handed).

``recording_events`` and ``archive_attempts`` grow by a few rows per recording
for ever; at millions of recordings a day that is the database's largest
growth. With ``EVENTS_RETENTION_DAYS`` / ``ATTEMPTS_RETENTION_DAYS`` set, one
worker of all (a ``prune`` work item per period, claimed under a lease like the
scrub's) deletes rows older than that, in bounded batches of one short
transaction each, a batch per table per turn of the worker's loop, so
archiving is never held up for long.

Never pruned, however old: the callbacks of a recording not finished yet
(waiting, queued, running, failed: retrying it may need them), and the tries
of one not done (a failed recording's tries say why it failed). Unset means
kept for ever, as before.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Select, delete, exists, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from app.config import Settings
from app.db import transaction, utcnow
from app.recordings.models import ArchiveAttempt, ArchiveState, Recording, RecordingEvent
from app.recordings.reconcile import period_start
from app.work import items

log = logging.getLogger(__name__)

PRUNE_KIND = "prune"
PRUNE_EVERY = dt.timedelta(hours=1)
PRUNE_LEASE = dt.timedelta(minutes=5)
KEEP_FINISHED_RUNS = dt.timedelta(days=7)
# Rows per DELETE: a short transaction (tens of milliseconds) that holds up no
# webhook or worker, and few enough round trips to keep up with 10 M a day.
BATCH = 5_000
# Still needed: the recording may be archived (again) from these.
UNFINISHED = (
    ArchiveState.WAITING,
    ArchiveState.QUEUED,
    ArchiveState.RUNNING,
    ArchiveState.FAILED,
)
FINISHED = (ArchiveState.DONE, ArchiveState.NO_MEDIA)

# One pruning step: delete at most ``limit`` rows older than ``before``; the count.
PruneStep = Callable[[Session, dt.datetime, int], int]


def prune_events(session: Session, before: dt.datetime, limit: int = BATCH) -> int:
    """Delete up to ``limit`` callbacks received before ``before``, but none of a
    recording that is not finished."""
    event = aliased(RecordingEvent)
    still_needed = exists().where(
        Recording.provider == event.provider,
        Recording.recording_sid == event.recording_sid,
        Recording.archive_state.in_(UNFINISHED),
    )
    batch = (
        select(event.id)
        .where(event.received_at < before, ~still_needed)
        .order_by(event.id)
        .limit(limit)
    )
    return _delete_ids(session, RecordingEvent, batch)


def prune_attempts(session: Session, before: dt.datetime, limit: int = BATCH) -> int:
    """Delete up to ``limit`` tries that ended before ``before``, of finished
    recordings only (a failed one keeps its tries: they say why)."""
    attempt = aliased(ArchiveAttempt)
    batch = (
        select(attempt.id)
        .join(Recording, Recording.id == attempt.recording_id)
        .where(attempt.ended_at < before, Recording.archive_state.in_(FINISHED))
        .order_by(attempt.id)
        .limit(limit)
    )
    return _delete_ids(session, ArchiveAttempt, batch)


def _delete_ids(
    session: Session,
    model: type[RecordingEvent] | type[ArchiveAttempt],
    batch: Select[int],
) -> int:
    # The ids first, then the DELETE by primary key: the same on both databases
    # (SQLite has no DELETE ... LIMIT by default), and each batch is one short lock.
    ids = list(session.execute(batch).scalars())
    if not ids:
        return 0
    session.execute(
        delete(model).where(model.id.in_(ids)).execution_options(synchronize_session=False)
    )
    return len(ids)


@dataclass
class _Step:
    name: str
    prune: PruneStep
    keep: dt.timedelta
    done: bool = False
    deleted: int = 0


@dataclass
class _Run:
    claim: items.WorkClaim
    now: dt.datetime
    steps: list[_Step] = field(default_factory=list)

    def line(self) -> str:
        return ", ".join(f"{s.name}: {s.deleted} deleted" for s in self.steps) or "nothing kept"


def retention_steps(settings: Settings) -> list[tuple[str, PruneStep, dt.timedelta]]:
    """The steps the settings ask for: (table, step, how long rows are kept)."""
    steps: list[tuple[str, PruneStep, dt.timedelta]] = []
    if settings.events_retention_days is not None:
        steps.append(
            ("recording_events", prune_events, dt.timedelta(days=settings.events_retention_days))
        )
    if settings.attempts_retention_days is not None:
        steps.append(
            (
                "archive_attempts",
                prune_attempts,
                dt.timedelta(days=settings.attempts_retention_days),
            )
        )
    return steps


class PruneSchedule:
    """Every ``PRUNE_EVERY``, one worker of all prunes: a batch per table a turn."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        steps: Sequence[tuple[str, PruneStep, dt.timedelta]],
        owner: str,
        stop: threading.Event,
        every: dt.timedelta = PRUNE_EVERY,
        batch: int = BATCH,
        look_every: float = 60.0,
    ) -> None:
        self.sessions = sessions
        self.steps = list(steps)
        self.owner = owner
        self.stop = stop
        self.every = every
        self.batch = batch
        self.look_every = look_every
        self.next_look = 0.0
        self._run: _Run | None = None

    def turn(self) -> bool:
        """One bounded piece of pruning; False when there was nothing to do."""
        if not self.steps or self.stop.is_set():
            return False
        if self._run is None and not self._claim():
            return False
        run = self._run
        assert run is not None
        for step in run.steps:
            if step.done:
                continue
            with transaction(self.sessions) as session:
                deleted = step.prune(session, run.now - step.keep, self.batch)
            step.deleted += deleted
            step.done = deleted < self.batch
        if all(step.done for step in run.steps):
            log.info("pruned the history tables: %s", run.line())
            with transaction(self.sessions) as session:
                items.finish(session, run.claim, result=run.line())
            self._run = None
        else:
            with transaction(self.sessions) as session:
                if not items.renew(session, run.claim, PRUNE_LEASE):
                    log.warning("lost the lease on prune period %s; leaving it", run.claim.key)
                    self._run = None
        return True

    def close(self) -> None:
        """The worker is stopping: a run in hand is given back, due at once."""
        run, self._run = self._run, None
        if run is not None:
            with transaction(self.sessions) as session:
                items.give_back(session, run.claim, result=run.line())

    def _claim(self) -> bool:
        if time.monotonic() < self.next_look:
            return False
        self.next_look = time.monotonic() + self.look_every
        now = utcnow()
        with transaction(self.sessions) as session:
            if not items.has_pending(session, PRUNE_KIND):
                start = period_start(now, self.every)
                if items.enqueue(session, PRUNE_KIND, start.isoformat(), start):
                    items.prune(session, PRUNE_KIND, now - KEEP_FINISHED_RUNS)
            claimed = items.claim(session, PRUNE_KIND, self.owner, PRUNE_LEASE, now)
        if claimed is None:
            return False
        self._run = _Run(claimed, now, [_Step(n, p, k) for n, p, k in self.steps])
        return True
