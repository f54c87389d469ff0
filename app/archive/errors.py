"""How a step of the pipeline can fail, and whether trying again can help."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from app.providers.errors import ProviderError
from app.storage import StorageError, StoreUnavailable


class ArchiveError(Exception):
    """A failed step; ``retryable`` says whether another try may succeed."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class RetryableError(ArchiveError):
    """Worth another try after a backoff: not ready yet, throttled, a 5xx, a time-out."""


class PermanentError(ArchiveError):
    """Another try cannot help until someone changes something (a token, a URL)."""

    retryable = False


class LeaseLost(Exception):
    """Another worker took the recording over; stop touching it."""


class WorkerStopping(Exception):
    """SIGTERM arrived mid-transfer: give the recording back and exit."""


def as_archive_error(exc: BaseException) -> ArchiveError | None:
    """What a failure means for the recording, found in ``exc`` or what it wraps.

    None for a failure that is not about the recording (a lease lost, a
    shutdown) or that nobody foresaw.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ArchiveError):
            return seen
        if isinstance(seen, WorkerStopping | LeaseLost):
            return None
        if isinstance(seen, ProviderError):
            kind = RetryableError if seen.retryable else PermanentError
            return kind(seen.message, retry_after=seen.retry_after)
        if isinstance(seen, StorageError):
            return RetryableError(str(seen))
        seen = seen.__cause__ or seen.__context__
    return None


STORE = "store"
DATABASE = "database"


def _database_error(exc: BaseException) -> OperationalError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OperationalError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def statement_failure(exc: BaseException) -> RetryableError | None:
    """When the database answered but refused the statement (a statement or lock
    time-out, a deadlock, a busy SQLite file), the recording's failure, as a real
    try; None when the connection itself was lost (the database was away).

    Only to be asked once a probe has shown the database answering: a failure
    that recurs on every try must spend tries, or it cycles forever.
    """
    error = _database_error(exc)
    if error is None or error.connection_invalidated:
        return None
    # The driver's first line ("canceling statement due to lock timeout"), never
    # SQLAlchemy's text, which carries the statement and its parameters.
    reason = str(error.orig).strip().splitlines()[0][:200] if str(error.orig).strip() else ""
    return RetryableError(
        f"the database refused a statement: {type(error.orig).__name__}"
        + (f" ({reason})" if reason else "")
    )


def dependency_down(exc: BaseException) -> str | None:
    """``"store"`` or ``"database"`` when ``exc`` (or what it wraps) says one of our
    own dependencies is away: not the recording's fault, so no try is spent on it."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OperationalError):
            return DATABASE
        if isinstance(seen, StoreUnavailable):
            return STORE
        if isinstance(seen, ArchiveError | ProviderError | WorkerStopping | LeaseLost):
            return None
        seen = seen.__cause__ or seen.__context__
    return None
