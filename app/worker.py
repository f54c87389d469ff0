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
from collections.abc import Callable
from types import FrameType
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.archive.outage import riding_out_database_outages
from app.archive.pipeline import Archiver
from app.config import Settings
from app.db import (
    make_engine,
    make_session_factory,
    run_retrying_once_on_disconnect,
    transaction,
    utcnow,
)
from app.providers import PROVIDERS
from app.providers.errors import ProviderError
from app.recordings.queue import WAKE_CHANNEL
from app.recordings.reconcile import (
    QUEUED,
    claim_scheduled_run,
    give_back_scheduled_run,
    reconcile,
    record_run_end,
)
from app.storage import make_store

log = logging.getLogger(__name__)

# A scheduled reconciliation the provider's answer broke is due again this soon
# (or at the next period, if sooner), not a whole period later.
RETRY_FAILED_RUN = dt.timedelta(minutes=5)


def bound_heap_growth() -> None:
    """Make glibc return large buffers to the system as soon as they are freed.

    Upload parts are 8 MiB buffers allocated and freed over and over by several
    threads. glibc's default raises its mmap threshold after the first free, so
    later parts come from per-thread heaps that keep the memory: the worker's
    RSS then grows with each recording (seen as 203 MB after three 500 MB
    recordings, against 128 MB with this). A fixed 1 MiB threshold keeps every
    part in its own mapping, unmapped on free.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_mmap_threshold = -3
        if not libc.mallopt(m_mmap_threshold, 1024 * 1024):
            log.warning("mallopt(M_MMAP_THRESHOLD) refused; memory may grow with each recording")
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
        if self.engine.dialect.name != "postgresql":
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
        if self.engine.dialect.name != "postgresql":
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


class ReconcileSchedule:
    """Recent history reconciled every ``RECONCILE_EVERY_MINUTES`` by one worker of all.

    Each worker looks now and then (every few seconds at most); whichever first
    finds the period over claims the run in the database, with one conditional
    UPDATE, so exactly one worker runs it per period, on any number of
    machines, on PostgreSQL and SQLite alike. A run is safe to overlap with
    callbacks and with another run anyway (see ``app.recordings.reconcile``).
    """

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        stop: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.stop = stop or threading.Event()  # the worker's SIGTERM: ends a run between pages
        self.every = dt.timedelta(minutes=settings.reconcile_every_minutes)
        self.look_every = min(30.0, self.every.total_seconds() / 3)
        self.next_look = 0.0

    def run_if_due(self) -> None:
        if time.monotonic() < self.next_look:
            return
        self.next_look = time.monotonic() + self.look_every

        def claim() -> bool:
            with transaction(self.sessions) as session:
                return claim_scheduled_run(session, self.every, utcnow())

        # The first statement after a quiet spell: the one to meet a connection
        # that died in a restart (then once more, or this look is skipped).
        if not run_retrying_once_on_disconnect(claim):
            return
        try:
            lines, retry_in = self._run_all()
        except BaseException:
            # The database went away mid-run, say: the period was claimed, so
            # hand it back (if the database lets us) rather than lose it.
            self._give_back(RETRY_FAILED_RUN)
            raise
        if retry_in is not None:
            self._give_back(retry_in)
        with transaction(self.sessions) as session:
            record_run_end(session, "\n".join(lines) or "no provider configured")

    def _run_all(self) -> tuple[list[str], dt.timedelta | None]:
        """Each configured provider's run: the summary's lines, and when the period
        is due again if it did not get through (None: it did)."""
        since = utcnow() - dt.timedelta(hours=self.settings.reconcile_lookback_hours)
        lines: list[str] = []
        retry_in: dt.timedelta | None = None
        for name, provider in PROVIDERS.items():
            api = provider.api(self.settings)
            if api is None:
                continue
            if self.stop.is_set():
                lines.append(f"{name}: not run: the worker was asked to stop")
                retry_in = dt.timedelta(0)
                continue
            try:
                summary = reconcile(self.sessions, api, since, stop=self.stop)
            except ProviderError as exc:
                log.warning(
                    "scheduled reconcile of %s failed: %s; trying the period again in %.0f s",
                    name,
                    exc.message,
                    min(RETRY_FAILED_RUN, self.every).total_seconds(),
                )
                lines.append(f"{name}: failed: {exc.message}")
                retry_in = RETRY_FAILED_RUN if retry_in is None else min(retry_in, RETRY_FAILED_RUN)
                continue
            lines.extend(summary.lines())
            if summary.stopped:
                # Due again at once: another worker (or this one, restarted) goes on.
                log.info("scheduled reconcile of %s stopped between pages", name)
                retry_in = dt.timedelta(0)
                continue
            log.info(
                "scheduled reconcile of %s: %d listed, %d queued",
                name,
                summary.listed,
                summary.outcomes[QUEUED],
            )
        return lines, retry_in

    def _give_back(self, after: dt.timedelta) -> None:
        try:
            with transaction(self.sessions) as session:
                give_back_scheduled_run(session, utcnow(), min(after, self.every))
        except OperationalError as exc:
            log.warning(
                "could not give the reconciliation period back (%s): it runs next period",
                type(exc).__name__,
            )


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _scheduled(schedule: ReconcileSchedule) -> Callable[[], bool]:
    def run() -> bool:
        schedule.run_if_due()
        return True

    return run


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


def run_worker(settings: Settings, stop: threading.Event | None = None) -> None:
    """Archive recordings until ``stop`` is set (SIGTERM and SIGINT set it).

    An idle worker sleeps ``WORKER_POLL_SECONDS`` with jitter between polls, so
    many workers do not hit the database in step; a database outage backs off
    up to 30 s and keeps going.
    """
    stop = stop or threading.Event()
    bound_heap_growth()
    stop_on_signals(stop)
    engine = (
        make_engine(settings.database_url, pool_size=2, max_overflow=0)
        if settings.is_postgres
        else make_engine(settings.database_url)
    )
    archiver = Archiver(
        settings, make_session_factory(engine), make_store(settings), worker_id(), stop=stop
    )
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
    run_once = riding_out_database_outages(archiver.run_once, settings, stop)
    reconcile_if_due = riding_out_database_outages(
        _scheduled(ReconcileSchedule(settings, archiver.sessions, stop)), settings, stop
    )
    try:
        while not stop.is_set():
            reconcile_if_due()
            if not run_once():
                idle.wait(settings.worker_poll_seconds * random.uniform(0.5, 1.5))
    finally:
        idle.close()
        engine.dispose()
        log.info("worker %s stopped", archiver.worker_id)
