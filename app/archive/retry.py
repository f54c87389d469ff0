"""How long to wait: a recording's next try, and the database coming back."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import TypeVar

import tenacity
from sqlalchemy.exc import OperationalError

from app.config import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


def backoff_seconds(settings: Settings, attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter, capped; never sooner than ``Retry-After``."""
    base = settings.archive_retry_base_seconds * 2.0 ** max(0, attempts - 1)
    delay = min(settings.archive_retry_max_seconds, base) * random.uniform(0.5, 1.5)
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.archive_retry_max_seconds))
    return delay


def interruptible_sleep(stop: threading.Event) -> Callable[[float], None]:
    """A sleep for tenacity that ends early when ``stop`` is set."""

    def sleep(seconds: float) -> None:
        stop.wait(seconds)

    return sleep


def log_wait(what: str) -> Callable[[tenacity.RetryCallState], None]:
    """Say why and how long tenacity waits, once per wait."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s (%s); waiting %.1fs", what, type(error).__name__, delay)

    return before_sleep


def riding_out_database_restarts(
    step: Callable[[], T], stop: threading.Event, *, attempts: int = 6, longest: float = 8.0
) -> T:
    """Run ``step``, trying again while the database is unreachable (a restart, a
    fail-over), for about 15 s; the lease then hands the recording to whoever
    comes next. Waits end early when the worker is stopping.
    """
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(OperationalError),
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_exponential(multiplier=0.5, max=longest),
        sleep=interruptible_sleep(stop),
        before_sleep=log_wait("database unavailable"),
        reraise=True,
    )
    return retrying(step)
