"""How a provider's API can fail, and whether trying again can help.

Neutral on purpose: the archive decides what a failure costs a recording;
the provider only says what happened.
"""

from __future__ import annotations


class ProviderError(Exception):
    """A provider request failed; ``retryable`` says whether another try may succeed."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


class CallbackError(Exception):
    """A refused callback; ``status`` is the HTTP answer, the message names the field."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class SigningKeyUnavailable(Exception):
    """The key that would check a callback cannot be had right now (the provider's
    API did not answer the look-up): we cannot tell a good callback from a forged
    one, so nothing is stored and the sender is asked to try again (503)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
