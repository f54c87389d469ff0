"""How a step of the pipeline can fail, and whether trying again can help."""

from __future__ import annotations


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
