"""The ``worker`` process: claim, archive, repeat; stop cleanly on SIGTERM."""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import logging
import os
import random
import signal
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.archive.outage import riding_out_database_outages
from app.archive.pipeline import Archiver
from app.archive.scrub import ScrubSchedule
from app.calls.lookup import CallDetailsWork
from app.config import Settings
from app.db import (
    is_postgresql,
    make_session_factory,
    run_retrying_once_on_disconnect,
    transaction,
    utcnow,
)
from app.deliveries.outbox import prune_ended
from app.deliveries.send import Deliverer
from app.providers import PROVIDERS
from app.providers.base import ProviderApi
from app.providers.errors import ProviderError
from app.recordings.pruning import PruneSchedule, PruneStep, retention_steps
from app.recordings.queue import WAKE_CHANNEL
from app.recordings.reconcile import (
    PERIOD_LEASE,
    QUEUED,
    Reconciliation,
    Summary,
    account_walks,
    claim_scheduled_run,
)
from app.storage import ArchiveStore, StoreUnavailable, make_store
from app.work import items as work
from app.work.items import WorkClaim

log = logging.getLogger(__name__)

# A scheduled reconciliation the provider's answer broke is due again this soon
# (or at the next period, if sooner), not a whole period later.
RETRY_FAILED_RUN = dt.timedelta(minutes=5)
# How long a turn of reconciliation pages lasts before the worker archives again.
RECONCILE_TURN_SECONDS = 5.0


def bound_heap_growth() -> None:
    """Make glibc return large buffers to the system as soon as they are freed.

    Upload parts are 8 MiB buffers allocated and freed over and over by several
    threads. glibc's default raises its mmap threshold after the first free, so
    later parts come from per-thread heaps that keep the memory: the worker's
    RSS then grows with each recording (seen as 203 MB after three 500 MB
    recordings, against 128 MB with this). A fixed 1 MiB threshold keeps every
    part in its own mapping, unmapped on free.

    Fixing it also freezes the trim threshold at glibc's 128 KiB: the heap was
    then shrunk and grown again around every few download chunks freed, each
    byte of them faulted in afresh (a 300 MB download: 23,000 page faults, and
    77,000 with 1 MiB chunks, each a mapping of its own). 8 MiB of free heap
    kept at the top lets the chunks (SPOOL_CHUNK, below 1 MiB) be reused: a
    few hundred faults, and the memory kept is bounded by those 8 MiB.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        if not libc.mallopt(m_mmap_threshold, 1024 * 1024):
            log.warning("mallopt(M_MMAP_THRESHOLD) refused; memory may grow with each recording")
        if not libc.mallopt(m_trim_threshold, 8 * 1024 * 1024):
            log.warning("mallopt(M_TRIM_THRESHOLD) refused; downloads may be slower")
    except (OSError, AttributeError) as exc:
        log.warning("not glibc (%s); memory may grow with each recording", exc)


class IdleWait:
    """How an idle worker waits for work.

    On PostgreSQL it LISTENs on a connection of its own and wakes as soon as a
    webhook queues a recording; the poll interval remains the fallback (and
    the only way elsewhere). The wait is sliced, so SIGTERM is seen quickly.
    """

    def __init__(self, engine: Engine, stop: threading.Event) -> None:
        self.engine = engine
        self.stop = stop
        self._connection: psycopg.Connection[Any] | None = None

    def wait(self, timeout: float) -> None:
        if not is_postgresql(self.engine):
            self.stop.wait(timeout)
            return
        deadline = time.monotonic() + timeout
        try:
            if self._connection is None or self._connection.closed:
                # A NOTIFY sent before LISTEN is lost: listen, then let the
                # caller look for work once more before waiting.
                self.listen()
                return
            while not self.stop.is_set() and (left := deadline - time.monotonic()) > 0:
                for _ in self._connection.notifies(timeout=min(left, 0.5), stop_after=1):
                    return
        except psycopg.Error as exc:
            log.warning("LISTEN connection failed (%s); polling instead", type(exc).__name__)
            self.close()
            self.stop.wait(max(0.0, deadline - time.monotonic()))

    def listen(self) -> None:
        """Open the listening connection (PostgreSQL only)."""
        if not is_postgresql(self.engine):
            return
        url = self.engine.url.set(drivername="postgresql")
        self._connection = psycopg.connect(
            url.render_as_string(hide_password=False), autocommit=True, connect_timeout=10
        )
        self._connection.execute(f"LISTEN {WAKE_CHANNEL}")

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except psycopg.Error as exc:  # it was already broken: that is why we close it
                log.debug("closing the LISTEN connection: %s", type(exc).__name__)
            self._connection = None


@dataclass
class _PeriodRun:
    """A claimed reconciliation period, part way through its providers."""

    claim: WorkClaim
    since: dt.datetime
    providers: list[tuple[str, ProviderApi]]
    # The accounts of the provider in hand still to walk (Twilio subaccounts).
    accounts: list[tuple[str | None, ProviderApi]] = field(default_factory=list)
    walk: Reconciliation | None = None
    lines: list[str] = field(default_factory=list)
    retry_in: dt.timedelta | None = None  # None: got through so far


class ReconcileSchedule:
    """Recent history reconciled every ``RECONCILE_EVERY_MINUTES`` by one worker of all.

    Each period is a work item (``claim_scheduled_run``): each worker looks now
    and then (every few seconds at most); whichever first finds the period due
    claims it under a lease, so exactly one worker runs it per period, on any
    number of machines, on PostgreSQL and SQLite alike. A run is safe to overlap
    with callbacks and with another run anyway (see ``app.recordings.reconcile``).

    A period is walked a turn at a time (``turn``): pages for a few seconds,
    then the lease is renewed and the worker archives before the next turn, so
    a long listing never holds up archiving. One item per period rather than per
    provider: the promise is "every period, every provider", the summary is the
    period's, and a period given back reruns every provider harmlessly.
    """

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        stop: threading.Event | None = None,
        owner: str | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.stop = stop or threading.Event()  # the worker's SIGTERM: ends a run between pages
        self.owner = owner or worker_id()
        self.every = dt.timedelta(minutes=settings.reconcile_every_minutes)
        self.look_every = min(30.0, self.every.total_seconds() / 3)
        self.next_look = 0.0
        self._run: _PeriodRun | None = None

    def run_if_due(self) -> None:
        """Run a due period through to its end, in one go."""
        self.turn(budget=None)

    def turn(self, budget: float | None = RECONCILE_TURN_SECONDS) -> bool:
        """Go on with the period in hand, or claim a due one, for about ``budget``
        seconds (None: to its end); whether there was a period to work on."""
        if self._run is None and not self._claim():
            return False
        deadline = None if budget is None else time.monotonic() + budget
        try:
            self._advance(deadline)
        except BaseException:
            # The database went away mid-run, say: the period was claimed, so
            # hand it back (if the database lets us) rather than lose it.
            self._let_go(RETRY_FAILED_RUN, "")
            raise
        return True

    def close(self) -> None:
        """The worker is stopping: a period still in hand is given back, due at once
        (a stop between turns is a stop between pages)."""
        run = self._run
        if run is None:
            return
        if run.walk is not None:
            run.walk.close()
            run.walk.summary.stopped = True
            self._provider_done(run, run.walk.summary)
            run.walk = None
        run.lines.extend(
            f"{_walk_name(api, account)}: not run: the worker was asked to stop"
            for account, api in run.accounts
        )
        run.lines.extend(
            f"{name}: not run: the worker was asked to stop" for name, _ in run.providers
        )
        self._let_go(dt.timedelta(0), "\n".join(run.lines))

    def _claim(self) -> bool:
        if time.monotonic() < self.next_look:
            return False
        self.next_look = time.monotonic() + self.look_every

        def claim() -> WorkClaim | None:
            with transaction(self.sessions) as session:
                return claim_scheduled_run(session, self.every, utcnow(), self.owner)

        # The first statement after a quiet spell: the one to meet a connection
        # that died in a restart (then once more, or this look is skipped).
        claimed = run_retrying_once_on_disconnect(claim)
        if claimed is None:
            return False
        since = utcnow() - dt.timedelta(hours=self.settings.reconcile_lookback_hours)
        providers = [
            (name, api)
            for name, provider in PROVIDERS.items()
            if (api := provider.api(self.settings)) is not None
        ]
        self._run = _PeriodRun(claimed, since, providers)
        return True

    def _advance(self, deadline: float | None) -> None:
        """Each configured provider's listing in turn, until the period is through
        (then it ends) or the deadline passes (then the lease is renewed)."""
        run = self._run
        assert run is not None
        while True:
            if run.walk is None:
                if run.accounts:
                    account, account_api = run.accounts.pop(0)
                    if self.stop.is_set():
                        run.lines.append(
                            f"{_walk_name(account_api, account)}: not run: "
                            "the worker was asked to stop"
                        )
                        run.retry_in = dt.timedelta(0)
                        continue
                    run.walk = Reconciliation(
                        self.sessions, account_api, run.since, stop=self.stop, account=account
                    )
                    continue
                if not run.providers:
                    self._end(run)
                    return
                name, api = run.providers.pop(0)
                if self.stop.is_set():
                    run.lines.append(f"{name}: not run: the worker was asked to stop")
                    run.retry_in = dt.timedelta(0)
                    continue
                try:
                    # One walk per account (Twilio subaccounts: closed ones first).
                    run.accounts = account_walks(api, self.sessions)
                except ProviderError as exc:
                    retry = work.backoff(run.claim.tries, RETRY_FAILED_RUN, self.every)
                    log.warning(
                        "scheduled reconcile of %s failed listing its accounts: %s; "
                        "trying the period again in %.0f s",
                        name,
                        exc.message,
                        retry.total_seconds(),
                    )
                    run.lines.append(f"{name}: failed listing accounts: {exc.message}")
                    run.retry_in = retry if run.retry_in is None else min(run.retry_in, retry)
                continue
            walk = run.walk
            try:
                more = walk.step()
            except ProviderError as exc:
                walk.close()
                run.walk = None
                retry = work.backoff(run.claim.tries, RETRY_FAILED_RUN, self.every)
                log.warning(
                    "scheduled reconcile of %s failed: %s; trying the period again in %.0f s",
                    walk.summary.label,
                    exc.message,
                    retry.total_seconds(),
                )
                run.lines.append(f"{walk.summary.label}: failed: {exc.message}")
                run.retry_in = retry if run.retry_in is None else min(run.retry_in, retry)
                continue
            if not more:
                walk.close()
                run.walk = None
                self._provider_done(run, walk.summary)
                continue
            if deadline is not None and time.monotonic() >= deadline:
                self._renew(run)
                return

    def _provider_done(self, run: _PeriodRun, summary: Summary) -> None:
        run.lines.extend(summary.lines())
        if summary.stopped:
            # Due again at once: another worker (or this one, restarted) goes on.
            log.info("scheduled reconcile of %s stopped between pages", summary.label)
            run.retry_in = dt.timedelta(0)
            return
        log.info(
            "scheduled reconcile of %s: %d listed, %d queued",
            summary.label,
            summary.listed,
            summary.outcomes[QUEUED],
        )

    def _renew(self, run: _PeriodRun) -> None:
        with transaction(self.sessions) as session:
            held = work.renew(session, run.claim, PERIOD_LEASE)
        if not held:
            log.warning("lost the lease on reconciliation period %s; leaving it", run.claim.key)
            self._drop()

    def _end(self, run: _PeriodRun) -> None:
        text = "\n".join(run.lines) or "no provider configured"
        if run.retry_in is None:
            with transaction(self.sessions) as session:
                work.finish(session, run.claim, result=text)
            self._drop()
        else:
            self._let_go(run.retry_in, text)

    def _let_go(self, after: dt.timedelta, text: str) -> None:
        """Hand the period back: due again ``after`` from now (never more than a
        period): given back when it was a stop, failed (a try counted) otherwise."""
        run = self._run
        if run is None:
            return
        self._drop()
        again = utcnow() + min(after, self.every)
        try:
            with transaction(self.sessions) as session:
                if after:
                    work.fail(session, run.claim, text or "interrupted", again, result=text or None)
                else:
                    work.give_back(session, run.claim, again, result=text or None)
        except OperationalError as exc:
            log.warning(
                "could not give the reconciliation period back (%s): "
                "it is taken up again when its lease runs out",
                type(exc).__name__,
            )

    def _drop(self) -> None:
        if self._run is not None and self._run.walk is not None:
            self._run.walk.close()
        self._run = None


def _walk_name(api: ProviderApi, account: str | None) -> str:
    return f"{api.name} {account}" if account else api.name


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM (the platform stopping us) and SIGINT (Ctrl-C) set ``stop``."""
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may install handlers (tests run workers in threads)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info(
            "received %s: finishing or releasing the current recording",
            signal.Signals(signum).name,
        )
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def check_retention_at_start(store: ArchiveStore, stop: threading.Event) -> None:
    """Refuse to run (RetentionUnsupported) when retention is asked for and the
    bucket cannot keep it: archiving without it would break the promise made to
    whoever set it. A store that does not answer yet is waited for."""
    delay = 1.0
    while not stop.is_set():
        try:
            store.check_retention()
            return
        except StoreUnavailable as exc:
            log.warning(
                "cannot check the bucket's Object Lock yet (%s); again in %.0f s", exc, delay
            )
            stop.wait(delay)
            delay = min(delay * 2, 15.0)


def delivery_retention(settings: Settings) -> list[tuple[str, PruneStep, dt.timedelta]]:
    """DELIVERIES_RETENTION_DAYS as a prune step (the outbox sits above the history
    tables' pruning, so the worker, above both, hands it in)."""
    days = settings.deliveries_retention_days
    return [] if days is None else [("deliveries", prune_ended, dt.timedelta(days=days))]


def run_worker(
    settings: Settings,
    engine: Engine,
    stop: threading.Event | None = None,
    more_pruning: Sequence[tuple[str, PruneStep, dt.timedelta]] = (),
) -> None:
    """Archive recordings until ``stop`` is set (SIGTERM and SIGINT set it).

    An idle worker sleeps ``WORKER_POLL_SECONDS`` with jitter between polls, so
    many workers do not hit the database in step; a database outage backs off
    up to 30 s and keeps going. ``more_pruning``: the retention steps of layers
    above this one (the console's login failures), run with the history tables'.
    """
    stop = stop or threading.Event()
    bound_heap_growth()
    stop_on_signals(stop)
    store = make_store(settings)
    check_retention_at_start(store, stop)
    archiver = Archiver(settings, make_session_factory(engine), store, worker_id(), stop=stop)
    idle = IdleWait(engine, stop)
    try:
        idle.listen()  # before the first look for work, so no NOTIFY falls in between
    except psycopg.Error as exc:
        log.warning("LISTEN failed (%s); polling until it works", type(exc).__name__)
    log.info(
        "worker %s started: providers %s; %s",
        archiver.worker_id,
        ", ".join(archiver.providers) or "none configured",
        settings.archive_summary(),
    )
    # The kinds of work, each a bounded turn in the loop: one recording, or a few
    # seconds of a reconciliation period. Neither holds up the other for long.
    schedule = ReconcileSchedule(settings, archiver.sessions, stop, archiver.worker_id)
    scrubs = ScrubSchedule(
        archiver.sessions,
        store,
        settings.scrub_every_hours,
        settings.scrub_max_mb_per_second,
        archiver.worker_id,
        stop,
        settings,
    )
    deliverer = Deliverer(settings, archiver.sessions, archiver.worker_id, stop)
    call_details = CallDetailsWork(settings, archiver.sessions, archiver.worker_id)
    pruning = PruneSchedule(
        archiver.sessions,
        [*retention_steps(settings), *delivery_retention(settings), *more_pruning],
        archiver.worker_id,
        stop,
    )
    turns = [
        riding_out_database_outages(archiver.run_once, settings, stop),
        riding_out_database_outages(schedule.turn, settings, stop),
        riding_out_database_outages(scrubs.turn, settings, stop),
        riding_out_database_outages(deliverer.turn, settings, stop),
        riding_out_database_outages(call_details.turn, settings, stop),
        riding_out_database_outages(pruning.turn, settings, stop),
    ]
    try:
        while not stop.is_set():
            worked = [turn() for turn in turns]
            if not any(worked):
                idle.wait(settings.worker_poll_seconds * random.uniform(0.5, 1.5))
    finally:
        schedule.close()
        scrubs.close()
        pruning.close()
        idle.close()
        engine.dispose()
        log.info("worker %s stopped", archiver.worker_id)
