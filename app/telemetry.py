"""What the processes tell their operators: counters for /metrics, and log lines.

Counters the web workers keep (callbacks by provider, status and answer,
signature refusals) live here, so the webhook that counts and the endpoint
that reports need not know each other. Under gunicorn they are shared by all
workers of a machine through prometheus_client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, set by ``deploy/gunicorn.conf.py``).

Logs: one JSON object per line on stdout with ``LOG_FORMAT=json``, plain
text otherwise; every line carries the request id (the callback's, carried
into the worker's lines for the same recording) when there is one, and
nothing that could be a secret (see ``redact``).
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter
from pythonjsonlogger.json import JsonFormatter

CALLBACKS = Counter(
    "recording_archiver_callbacks",
    "Recording-status callbacks received, by provider, status and the answer given.",
    ["provider", "status", "code"],
)
SIGNATURE_REFUSALS = Counter(
    "recording_archiver_signature_refusals",
    "Callbacks refused because their signature was missing, stale or wrong.",
    ["provider"],
)
ACCOUNT_LOOKUPS = Counter(
    "recording_archiver_account_lookups",
    "Look-ups of a Twilio subaccount's auth token (TWILIO_SUBACCOUNTS), by what Twilio said.",
    ["outcome"],  # subaccount, not_ours, unanswered
)
PASSWORD_CHECKS = Counter(
    "recording_archiver_password_checks",
    "Console passwords checked (the lock-out lets at most one try through per lock).",
)

# -- logs -------------------------------------------------------------------------------

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
RECORDING: contextvars.ContextVar[str | None] = contextvars.ContextVar("recording", default=None)

# Query parameters that authorise (presigned URLs: AWS's, and anyone's
# "signature"/"token"/"key"), and Basic credentials in URLs.
_SECRET_QUERY = re.compile(
    r"((?:X-Amz-(?:Signature|Credential|Security-Token)|Signature|signature|sig|token|"
    r"access_token|api_key|key|Expires|GoogleAccessId)=)[^&\s\"'<>]+"
)
_URL_CREDENTIALS = re.compile(r"(://)[^/@\s:]+:[^/@\s]+@")
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+")


def redact(text: str) -> str:
    """``text`` without presigned query strings, URL credentials or bearer keys."""
    if "=" not in text and "@" not in text and "Bearer" not in text:
        # None of the three can match (each needs one of these): most log lines,
        # a callback's included, skip the three searches.
        return text
    text = _SECRET_QUERY.sub(r"\1[redacted]", text)
    text = _URL_CREDENTIALS.sub(r"\1[redacted]@", text)
    return _BEARER.sub(r"\1[redacted]", text)


@contextmanager
def recording_context(request_id: str | None, recording: str | None) -> Iterator[None]:
    """Log lines within carry this request id and recording."""
    tokens = (REQUEST_ID.set(request_id), RECORDING.set(recording))
    try:
        yield
    finally:
        REQUEST_ID.reset(tokens[0])
        RECORDING.reset(tokens[1])


class ContextFilter(logging.Filter):
    """Adds the request id and recording, and redacts what must not be logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        record.recording = getattr(record, "recording", None) or RECORDING.get()
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # Exception texts carry URLs too: render and redact them here.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(recording)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        timestamp=False,
    )


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Characters that could end a line or redraw a terminal: C0 and C1 controls,
# DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """``text`` on one line: each control character as ``\\n``, ``\\x1b``, ``\\u2028``..."""

    def escaped(match: re.Match[str]) -> str:
        char = match.group()
        if char in _SHORT:
            return _SHORT[char]
        return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"

    return _CONTROL.sub(escaped, text)


class TextFormatter(logging.Formatter):
    """Plain text where no line can pass for one of ours.

    A request path or header with ``%0a`` in it, logged as it came, would
    otherwise start a line of its own ("2026-... ERROR app...: anything"). The
    message is kept on its line, control characters escaped; a traceback's
    lines follow, each indented, so only our own lines start at the margin.
    """

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            line = escape_controls(super().format(record))
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved
        exc_info, exc_text, stack_info = saved
        if exc_info and not exc_text:
            exc_text = self.formatException(exc_info)
        extra = [text for text in (exc_text, stack_info and self.formatStack(stack_info)) if text]
        continuation = [
            "    " + escape_controls(part) for text in extra for part in text.split("\n")
        ]
        return "\n".join([line, *continuation])


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """One handler on stdout for the whole process, in ``log_format``."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_recording_archiver", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    handler._recording_archiver = True  # type: ignore[attr-defined]
    handler.setFormatter(json_formatter() if log_format == "json" else TextFormatter(TEXT_FORMAT))
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level)
