"""Our own outages: the store or the database away is never a recording's try.

``OutageBreaker`` is the worker's circuit breaker: once a try found the store or
the database away, the worker claims nothing more, probing with backoff until it
answers, says so once each way, and counts the outage for /metrics.
``riding_out_database_outages`` covers the worker's loop itself: a claim that
meets the database away is tried again, with backoff, for as long as it is away.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import tenacity
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.archive.errors import STORE
from app.archive.retry import interruptible_sleep, log_wait
from app.config import Settings
from app.db import run_retrying_once_on_disconnect
from app.storage import ArchiveStore, StorageError

log = logging.getLogger(__name__)

# The longest wait between two looks at a store or database that is away.
MAX_OUTAGE_WAIT = 15.0
# The longest wait between two tries of a worker's loop while the database is away.
MAX_IDLE_BACKOFF = 30.0
# What a probe raises when its dependency does not answer.
AWAY = (StorageError, OperationalError)


class OutageBreaker:
    """Probes the store and the database, and waits while one of them is away."""

    def __init__(
        self,
        store: ArchiveStore,
        sessions: sessionmaker[Session],
        stop: threading.Event,
        count_outage: Callable[[str], None],
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.stop = stop  # the worker's: a wait ends as soon as it is set
        self.count_outage = count_outage  # records one outage of a dependency

    def probe(self, dependency: str) -> None:
        """Raise one of ``AWAY`` unless ``dependency`` answers now."""
        if dependency == STORE:
            self.store.probe()
            return

        def select_1() -> None:
            with self.sessions() as session:
                session.execute(text("SELECT 1"))

        # A dead pooled connection says nothing about whether the database answers.
        run_retrying_once_on_disconnect(select_1)

    def answers(self, dependency: str) -> bool:
        try:
            self.probe(dependency)
        except AWAY:
            return False
        return True

    def ride_out(self, dependency: str, then: Callable[[], None] | None = None) -> None:
        """Claim nothing until ``dependency`` answers; then run ``then`` (unless the
        worker is stopping) and count the outage, if there was one."""
        away = self.wait_until_up(dependency)
        if then is not None and not self.stop.is_set():
            then()
        if away is not None:
            self.count_outage(dependency)

    def wait_until_up(self, dependency: str) -> float | None:
        """Wait, probing with backoff, until ``dependency`` answers (or the worker
        stops); how long it was away, or None when it answered at once."""
        if self.stop.is_set():
            return None
        started = time.monotonic()
        warned = False

        def warn_once(state: tenacity.RetryCallState) -> None:
            nonlocal warned
            if not warned:
                error = state.outcome.exception() if state.outcome else None
                log.warning(
                    "the %s is unavailable (%s): claiming nothing until it answers",
                    dependency,
                    type(error).__name__,
                )
                warned = True

        def probe_unless_stopping() -> None:
            if not self.stop.is_set():  # stopped during a wait: no more looks
                self.probe(dependency)

        tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(AWAY),
            wait=tenacity.wait_exponential(multiplier=0.5, max=MAX_OUTAGE_WAIT),
            stop=lambda _state: self.stop.is_set(),
            sleep=interruptible_sleep(self.stop),
            after=warn_once,  # before the stop check: a stopped worker still says it
            retry_error_callback=lambda _state: None,
        )(probe_unless_stopping)
        if not warned:
            return None
        away = time.monotonic() - started
        if not self.stop.is_set():
            log.warning("the %s answers again after %.1fs; claiming again", dependency, away)
        return away


def riding_out_database_outages(
    run_once: Callable[[], bool], settings: Settings, stop: threading.Event
) -> Callable[[], bool]:
    """``run_once``, waiting out a database outage for as long as it lasts: the
    worker is useless without the database and has nothing else to do. Returns
    True (as if work was done) when stopping, so the loop ends at once."""
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(OperationalError),
        wait=tenacity.wait_exponential(
            multiplier=settings.worker_poll_seconds,
            min=settings.worker_poll_seconds,
            max=MAX_IDLE_BACKOFF,
        ),
        stop=lambda _state: stop.is_set(),
        sleep=interruptible_sleep(stop),
        before_sleep=log_wait("database unavailable"),
        retry_error_callback=lambda _state: True,
    ).wraps(run_once)
