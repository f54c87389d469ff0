"""Scrubbing: archived objects read back and compared with the SHA-256 we recorded.

A store that says it holds an object proves nothing about its bytes years
later; reading them back does. Each check streams the whole object through
SHA-256 (never more than a chunk in memory) and marks the recording ``ok``,
``missing`` (nothing under the key) or ``mismatch`` (other bytes or another
size). A problem is logged once, when it is first found, and handed to
``report_integrity_failure`` (the notification's hook). The provider is never
asked anything: a scrub reads our store and our database only.

Reads are paced by a byte-rate ceiling (``SCRUB_MAX_MB_PER_SECOND``) so a
scrub never takes the store's bandwidth from archiving.

The schedule (``ScrubSchedule``): every ``SCRUB_EVERY_HOURS`` one worker of
all claims that period's work item (kind ``scrub``) and checks a share of the
archive, the longest unchecked first: ``1/PASS_RUNS`` of the archived
recordings (at least one), so the whole archive is read back every
``PASS_RUNS`` periods (30 days at the default 24 hours). It works a few
seconds at a time between archives, as reconciliation does.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import transaction, utcnow
from app.deliveries.outbox import enqueue_notification
from app.recordings import integrity
from app.recordings.integrity import ToCheck
from app.recordings.models import Integrity, Recording
from app.recordings.reconcile import period_start
from app.storage import ArchiveStore, StorageError, StoreUnavailable
from app.work import items as work
from app.work.items import WorkClaim

log = logging.getLogger(__name__)

SCRUB_KIND = "scrub"
# The archive is read back in full every PASS_RUNS scheduled runs.
PASS_RUNS = 30
SCRUB_LEASE = dt.timedelta(minutes=15)
SCRUB_TURN_SECONDS = 5.0
RETRY_FAILED_RUN = dt.timedelta(minutes=5)
KEEP_FINISHED_RUNS = dt.timedelta(days=60)
SECOND = dt.timedelta(seconds=1)


class ScrubStopped(Exception):
    """The worker was asked to stop (or lost its claim) in the middle of a read."""


def report_integrity_failure(
    session: Session, recording: Recording, found: Integrity, settings: Settings | None = None
) -> None:
    """The one hook for a newly found problem, inside the transaction that marks it: the
    log line, once, and a ``recording.integrity_failed`` notification when NOTIFY_URL is
    set (written to the outbox in this transaction, sent by a worker)."""
    if settings is not None:
        enqueue_notification(
            session,
            "recording.integrity_failed",
            {
                "sid": recording.recording_sid,
                "provider": recording.provider,
                "account_sid": recording.account_sid,
                "bucket": recording.bucket,
                "key": recording.key,
                "sha256": recording.sha256,
                "integrity": found.value,
                "checked_at": utcnow().isoformat().replace("+00:00", "Z"),
            },
            recording.recording_sid,
            settings=settings,
        )
    log.error(
        "integrity check of %s %s: %s (%s in %s)",
        recording.provider,
        recording.recording_sid,
        found.value,
        recording.key,
        recording.bucket,
    )


class RateCeiling:
    """At most ``bytes_per_second`` on average: a read that got ahead waits.

    The budget is kept across reads (a worker's scrub turns share one), so
    short turns cannot add up to more than the ceiling.
    """

    def __init__(self, bytes_per_second: float, stop: threading.Event | None = None) -> None:
        self.rate = bytes_per_second
        self.stop = stop or threading.Event()
        self._allowed_at = time.monotonic()

    def __call__(self, nbytes: int) -> None:
        now = time.monotonic()
        # Credit never accumulates beyond "now": an idle spell buys no burst.
        self._allowed_at = max(self._allowed_at, now) + nbytes / self.rate
        wait = self._allowed_at - now
        if wait > 0 and self.stop.wait(wait):
            raise ScrubStopped("stopping: the read-back was abandoned")


@dataclass
class ScrubSummary:
    checked: int = 0
    bytes_read: int = 0
    found: dict[Integrity, int] = field(default_factory=lambda: {state: 0 for state in Integrity})
    seconds: float = 0.0

    def add(self, found: Integrity, bytes_read: int) -> None:
        self.checked += 1
        self.bytes_read += bytes_read
        self.found[found] += 1

    def found_ok(self) -> int:
        return self.found[Integrity.OK]

    def line(self) -> str:
        rate = self.bytes_read / 1e6 / self.seconds if self.seconds > 0 else 0.0
        return (
            f"checked {self.checked}: {self.found[Integrity.OK]} ok, "
            f"{self.found[Integrity.MISSING]} missing, {self.found[Integrity.MISMATCH]} mismatch; "
            f"{self.bytes_read / 1e6:.1f} MB read in {self.seconds:.1f} s ({rate:.1f} MB/s)"
        )


def check_one(
    sessions: sessionmaker[Session],
    store: ArchiveStore,
    target: ToCheck,
    pace: Callable[[int], None] | None = None,
    settings: Settings | None = None,
) -> tuple[Integrity, int]:
    """Read ``target`` back and record what was found; (found, bytes read).

    A store that does not answer raises StoreUnavailable and marks nothing:
    an outage of ours is not a missing object.
    """
    read = store.read_back(target.key, pace)
    if read is None:
        found, size = Integrity.MISSING, 0
    elif read.size != target.size_bytes or read.sha256 != target.sha256:
        found, size = Integrity.MISMATCH, read.size
    else:
        found, size = Integrity.OK, read.size
    with transaction(sessions) as session:
        recording = integrity.mark_checked(session, target, found, size)
        if recording is not None and integrity.is_problem(found) and found != target.integrity:
            report_integrity_failure(session, recording, found, settings)
        elif (
            recording is not None
            and integrity.is_problem(target.integrity)
            and found is Integrity.OK
        ):
            log.info("%s %s reads back intact again", target.provider, target.recording_sid)
    return found, size


def scrub(
    sessions: sessionmaker[Session],
    store: ArchiveStore,
    *,
    limit: int | None,
    pace: Callable[[int], None] | None = None,
    on_each: Callable[[ToCheck, Integrity], None] | None = None,
    settings: Settings | None = None,
) -> ScrubSummary:
    """Check up to ``limit`` archived recordings (None: all), the longest unchecked first."""
    summary = ScrubSummary()
    started_at = utcnow()
    started = time.monotonic()
    try:
        while limit is None or summary.checked < limit:
            with sessions() as session:
                target = integrity.next_to_check(session, started_at)
            if target is None:
                break
            found, size = check_one(sessions, store, target, pace, settings)
            summary.add(found, size)
            if on_each is not None:
                on_each(target, found)
    finally:
        summary.seconds = time.monotonic() - started
    return summary


@dataclass
class _Run:
    claim: WorkClaim
    started_at: dt.datetime
    share: int
    summary: ScrubSummary = field(default_factory=ScrubSummary)
    renewed: float = field(default_factory=time.monotonic)


class ScrubSchedule:
    """A share of the archive read back every ``SCRUB_EVERY_HOURS`` by one worker of all.

    The period is a work item claimed under a lease (as reconciliation's are),
    so exactly one worker runs it; it is worked ``turn`` by ``turn`` (a few
    seconds each, or one object, whichever is longer) between archives. A
    worker that dies mid-run loses the claim when its lease runs out, and the
    next one starts the period over: already-checked recordings are not
    "longest unchecked" any more, so little is read twice.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: ArchiveStore,
        every_hours: float,
        max_mb_per_second: float,
        owner: str,
        stop: threading.Event | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.store = store
        self.every = dt.timedelta(hours=every_hours)
        self.owner = owner
        self.stop = stop or threading.Event()
        self.ceiling = RateCeiling(max_mb_per_second * 1e6, self.stop)
        self.look_every = min(30.0, self.every.total_seconds() / 3)
        self.next_look = 0.0
        self._run: _Run | None = None

    def turn(self, budget: float = SCRUB_TURN_SECONDS) -> bool:
        """Check archived objects for about ``budget`` seconds; whether there was a run."""
        if self._run is None and not self._claim():
            return False
        run = self._run
        assert run is not None
        deadline = time.monotonic() + budget
        try:
            while run.summary.checked < run.share:
                with self.sessions() as session:
                    target = integrity.next_to_check(session, run.started_at)
                if target is None:
                    break
                found, size = check_one(
                    self.sessions, self.store, target, self._pace, self.settings
                )
                run.summary.add(found, size)
                if time.monotonic() >= deadline:
                    self._renew(run)
                    return True
        except ScrubStopped:
            self._let_go(dt.timedelta(0), "stopped")
            return True
        except StoreUnavailable as exc:
            log.warning("scrub paused: %s; trying again in %s", exc, RETRY_FAILED_RUN)
            self._let_go(RETRY_FAILED_RUN, str(exc))
            return True
        except StorageError as exc:
            retry = work.backoff(run.claim.tries, RETRY_FAILED_RUN, self.every)
            log.warning("scrub failed: %s; trying the period again in %s", exc, retry)
            self._let_go(retry, str(exc))
            return True
        except BaseException:
            self._let_go(RETRY_FAILED_RUN, "interrupted")
            raise
        run.summary.seconds = (utcnow() - run.started_at).total_seconds()
        log.info("scheduled scrub: %s", run.summary.line())
        with transaction(self.sessions) as session:
            work.finish(session, run.claim, result=run.summary.line())
        self._run = None
        return True

    def close(self) -> None:
        """The worker is stopping: a run in hand is given back, due at once."""
        if self._run is not None:
            self._let_go(dt.timedelta(0), "the worker was asked to stop")

    def _pace(self, nbytes: int) -> None:
        self.ceiling(nbytes)
        run = self._run
        # A big object at a low ceiling can outlast the lease: renew as it reads.
        renew_due = run is not None and time.monotonic() - run.renewed > SCRUB_LEASE / 3 / SECOND
        if renew_due and run is not None and not self._renew(run):
            raise ScrubStopped("lost the claim on the scrub period")

    def _claim(self) -> bool:
        if time.monotonic() < self.next_look:
            return False
        self.next_look = time.monotonic() + self.look_every
        now = utcnow()
        with transaction(self.sessions) as session:
            if not work.has_pending(session, SCRUB_KIND):
                start = period_start(now, self.every)
                if work.enqueue(session, SCRUB_KIND, start.isoformat(), start):
                    work.prune(session, SCRUB_KIND, now - KEEP_FINISHED_RUNS)
            claimed = work.claim(session, SCRUB_KIND, self.owner, SCRUB_LEASE, now)
            if claimed is None:
                return False
            archived = integrity.count_archived(session)
        share = max(1, math.ceil(archived / PASS_RUNS))
        self._run = _Run(claimed, now, share)
        return True

    def _renew(self, run: _Run) -> bool:
        with transaction(self.sessions) as session:
            held = work.renew(session, run.claim, SCRUB_LEASE)
        run.renewed = time.monotonic()
        if not held:
            log.warning("lost the lease on scrub period %s; leaving it", run.claim.key)
            self._run = None
        return held

    def _let_go(self, after: dt.timedelta, text: str) -> None:
        run, self._run = self._run, None
        if run is None:
            return
        again = utcnow() + min(after, self.every)
        try:
            with transaction(self.sessions) as session:
                if after:
                    work.fail(session, run.claim, text, again, result=run.summary.line())
                else:
                    work.give_back(session, run.claim, again, result=run.summary.line())
        except OperationalError as exc:
            log.warning(
                "could not give the scrub period back (%s): taken up when its lease runs out",
                type(exc).__name__,
            )
