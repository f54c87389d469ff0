"""A customer's handler as a real HTTP server: what it was sent, and whether the
checks a real handler makes accept it.

Forwarded Twilio-style callbacks are checked with Twilio's own
``RequestValidator`` (the check a customer's handler runs), Standard Webhooks
deliveries with the ``standardwebhooks`` package's ``Webhook.verify``.
Answers are scripted: ``answer`` gives the status for each request in turn.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self
from urllib.parse import parse_qsl, urlsplit

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from tests.fakes.server import Handler, ThreadedHTTPServer


@dataclass(frozen=True)
class Received:
    method: str
    url: str  # as the receiver's public URL names it (scheme, host, port, path, query)
    headers: dict[str, str]  # lower-case names
    body: bytes
    form: MultiDict[str, str]  # a POST's form, or a GET's query
    status: int  # what we answered

    def valid_for_twilio(self, token: str, header: str = "x-twilio-signature") -> bool:
        """Twilio's own validator, as a handler calls it."""
        validator = RequestValidator(token)
        params = self.form if self.method == "POST" else {}
        return bool(validator.validate(self.url, params, self.headers.get(header, "")))

    def verified_standard(self, secret: str) -> bool:
        try:
            Webhook(secret).verify(self.body, self.headers, json_parse=False)
        except WebhookVerificationError:
            return False
        return True


@dataclass
class Receiver:
    """``answer(request_number)`` is the status to answer (default 204)."""

    path: str = "/hooks/recording-status"
    port: int = 0
    answer: Callable[[int], int] = lambda _n: 204
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.server = ThreadedHTTPServer(self._handle, port=self.port, name="receiver")

    def start(self) -> Self:
        self.server.start()
        self.port = self.server.port
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def requests(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def _handle(self, handler: Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        query = urlsplit(handler.path).query
        pairs = parse_qsl(
            body.decode() if handler.command == "POST" else query, keep_blank_values=True
        )
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            status = self.answer(len(self.received))
            self.received.append(
                Received(
                    handler.command,
                    f"http://127.0.0.1:{self.port}{handler.path}",
                    headers,
                    body,
                    MultiDict(pairs),
                    status,
                )
            )
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
