"""What a try came to: the pure classifier, one row per way a try can end."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.exc import OperationalError

from app.archive.attempt import (
    Archived,
    DependencyDown,
    Facts,
    GiveUp,
    LeaseGone,
    Outcome,
    RetryLater,
    Stopping,
    classify,
    dependency_to_probe,
)
from app.archive.errors import (
    DATABASE,
    STORE,
    LeaseLost,
    PermanentError,
    RetryableError,
    WorkerStopping,
)
from app.archive.outage import OutageBreaker
from app.providers.errors import ProviderError
from app.storage import StorageError, StoreUnavailable


class LockTimeout(Exception):
    """Stands in for the driver's error (psycopg's LockNotAvailable, say)."""


def connection_lost() -> OperationalError:
    return OperationalError(
        "SELECT 1", {}, ConnectionError("server closed"), connection_invalidated=True
    )


def statement_refused() -> OperationalError:
    return OperationalError(
        "UPDATE recordings SET x = 1", {}, LockTimeout("canceling statement due to lock timeout")
    )


def wrapped(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


TRIES_LEFT = Facts(attempts=2, max_attempts=5)
LAST_TRY = Facts(attempts=5, max_attempts=5)
STOPPING = Facts(attempts=2, max_attempts=5, stopping=True)

CASES: list[tuple[str, BaseException | None, Facts, Outcome]] = [
    ("every step done", None, TRIES_LEFT, Archived()),
    ("lease taken over", LeaseLost("x"), TRIES_LEFT, LeaseGone()),
    ("lease taken over, even when stopping", LeaseLost("x"), STOPPING, LeaseGone()),
    ("SIGTERM mid-transfer", WorkerStopping("x"), TRIES_LEFT, Stopping()),
    ("SIGTERM on the last try", WorkerStopping("x"), LAST_TRY, Stopping()),
    (
        "provider 503 with tries left",
        ProviderError("503 from the media URL", retryable=True, retry_after=30.0),
        TRIES_LEFT,
        RetryLater("503 from the media URL", 30.0),
    ),
    (
        "provider 503 on the last try",
        ProviderError("503 from the media URL", retryable=True),
        LAST_TRY,
        GiveUp("503 from the media URL"),
    ),
    (
        "provider 401: another try cannot help",
        ProviderError("401: bad token", retryable=False),
        TRIES_LEFT,
        GiveUp("401: bad token"),
    ),
    (
        "our own permanent error",
        PermanentError("twilio is not configured"),
        TRIES_LEFT,
        GiveUp("twilio is not configured"),
    ),
    (
        "our own retryable error",
        RetryableError("the copy vanished"),
        TRIES_LEFT,
        RetryLater("the copy vanished"),
    ),
    (
        "the store refusing this object while it answers",
        StoreUnavailable("503 SlowDown"),
        Facts(attempts=2, max_attempts=5, store_answers=True),
        RetryLater("503 SlowDown"),
    ),
    (
        "the store away",
        StoreUnavailable("connect timeout"),
        Facts(attempts=2, max_attempts=5, store_answers=False),
        DependencyDown(STORE, "the store was unavailable (StoreUnavailable)"),
    ),
    (
        "the store away on the last try: still no try",
        StoreUnavailable("connect timeout"),
        Facts(attempts=5, max_attempts=5, store_answers=False),
        DependencyDown(STORE, "the store was unavailable (StoreUnavailable)"),
    ),
    (
        "the store away, even when stopping",
        StoreUnavailable("connect timeout"),
        Facts(attempts=2, max_attempts=5, stopping=True, store_answers=False),
        DependencyDown(STORE, "the store was unavailable (StoreUnavailable)"),
    ),
    (
        "a store error that is not an outage",
        StorageError("size mismatch"),
        TRIES_LEFT,
        RetryLater("size mismatch"),
    ),
    (
        "the database connection lost",
        connection_lost(),
        TRIES_LEFT,
        DependencyDown(DATABASE, "the database was unavailable (OperationalError)"),
    ),
    (
        "a statement refused while the database answers: the recording's try",
        statement_refused(),
        Facts(attempts=2, max_attempts=5, database_answers=True),
        RetryLater(
            "the database refused a statement: LockTimeout "
            "(canceling statement due to lock timeout)"
        ),
    ),
    (
        "a statement refused and the database away",
        statement_refused(),
        Facts(attempts=2, max_attempts=5, database_answers=False),
        DependencyDown(DATABASE, "the database was unavailable (OperationalError)"),
    ),
    (
        "the database away under a wrapper",
        wrapped(RuntimeError("heartbeat failed"), connection_lost()),
        TRIES_LEFT,
        DependencyDown(DATABASE, "the database was unavailable (RuntimeError)"),
    ),
    (
        "a read cut short by the shutdown",
        ProviderError("read timed out", retryable=True),
        STOPPING,
        Stopping(interrupted_by="read timed out"),
    ),
    (
        "a permanent failure while stopping is still spent",
        PermanentError("bad URL"),
        STOPPING,
        GiveUp("bad URL"),
    ),
    (
        "a bug: retried, and said to be unexpected",
        KeyError("fmt"),
        TRIES_LEFT,
        RetryLater("KeyError: 'fmt'", unexpected=True),
    ),
    (
        "a bug on the last try",
        KeyError("fmt"),
        LAST_TRY,
        GiveUp("KeyError: 'fmt'", unexpected=True),
    ),
    ("a bug while stopping", KeyError("fmt"), STOPPING, Stopping(interrupted_by="'fmt'")),
    (
        "a worker that died on the last try, claimed once more",
        PermanentError("gave up after 5 tries (the last worker did not finish)"),
        Facts(attempts=6, max_attempts=5),
        GiveUp("gave up after 5 tries (the last worker did not finish)"),
    ),
]


@pytest.mark.parametrize(
    ("failure", "facts", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_classify(failure, facts, expected):
    assert classify(failure, facts) == expected


@pytest.mark.parametrize(
    ("failure", "probe"),
    [
        (StoreUnavailable("x"), STORE),
        (wrapped(RuntimeError("x"), StoreUnavailable("x")), STORE),
        (statement_refused(), DATABASE),
        (connection_lost(), None),  # a lost connection says so itself
        (StorageError("size mismatch"), None),
        (ProviderError("503", retryable=True), None),
        (LeaseLost("x"), None),
        (WorkerStopping("x"), None),
        (KeyError("x"), None),
    ],
)
def test_only_a_failure_that_may_be_ours_is_probed_for(failure, probe):
    assert dependency_to_probe(failure) == probe


class FlakyStore:
    """Answers a probe only after ``failures`` refusals."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.probes = 0

    def probe(self) -> None:
        self.probes += 1
        if self.probes <= self.failures:
            raise StoreUnavailable("connect timeout")


def breaker(store: FlakyStore, stop: threading.Event, counted: list[str]) -> OutageBreaker:
    return OutageBreaker(store, None, stop, counted.append)  # type: ignore[arg-type]


def test_the_breaker_waits_with_backoff_until_the_store_answers_and_counts_the_outage(
    monkeypatch, caplog
):
    waits: list[float] = []
    stop = threading.Event()
    monkeypatch.setattr(stop, "wait", lambda seconds: waits.append(seconds) or False)
    store, counted, then = FlakyStore(failures=7), [], []
    caplog.set_level("WARNING", logger="app.archive.outage")
    breaker(store, stop, counted).ride_out(STORE, then=lambda: then.append(True))
    assert store.probes == 8
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    assert then == [True] and counted == [STORE]
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2  # once each way
    assert said[0] == (
        "the store is unavailable (StoreUnavailable): claiming nothing until it answers"
    )
    assert said[1].startswith("the store answers again after ")


def test_a_store_that_answers_at_once_is_no_outage():
    counted: list[str] = []
    store = FlakyStore(failures=0)
    breaker(store, threading.Event(), counted).ride_out(STORE)
    assert store.probes == 1 and counted == []


def test_the_breaker_stops_probing_when_the_worker_stops(monkeypatch):
    stop = threading.Event()
    monkeypatch.setattr(stop, "wait", lambda seconds: stop.set())
    store, counted, then = FlakyStore(failures=100), [], []
    breaker(store, stop, counted).ride_out(STORE, then=lambda: then.append(True))
    assert store.probes == 1  # none after the stop
    assert then == []  # nothing given back on a database that may still be away
    assert counted == [STORE]  # it was away, however briefly
