"""The send step: the worker's turn at the outbox.

Each turn claims due deliveries one at a time for up to a couple of seconds,
sends each with short timeouts, and records the answer:

- 2xx: delivered;
- 408, 429, 5xx, a time-out or a refused/broken connection: tried again after
  an exponential backoff with jitter, for ``RETRY_WINDOW`` (24 h), then failed;
- any other answer (a 4xx, or a redirect, which is not followed): failed.

Nothing is sent on a webhook's request path; what is logged names the
delivery, its recording and the answer, never the receiver's URL or a body
(which carry phone numbers) or a signature.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import urlencode

import requests
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import transaction, utcnow
from app.deliveries import outbox
from app.deliveries.models import DeliveryKind
from app.deliveries.outbox import DeliveryClaim
from app.deliveries.signing import (
    forward_signing_key,
    provider_signature_headers,
    provider_signer,
    standard_webhook_headers,
)
from app.providers.errors import SigningKeyUnavailable
from app.work.items import backoff

log = logging.getLogger(__name__)
T = TypeVar("T")
Settle = Callable[[Session], None]

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 10.0
LEASE = dt.timedelta(seconds=60)  # well beyond one try's time-outs
TURN_SECONDS = 2.0
FIRST_RETRY = dt.timedelta(seconds=5)
LONGEST_RETRY = dt.timedelta(hours=1)
USER_AGENT = "recording-archiver/0.1 (delivery)"


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


@dataclass(frozen=True)
class Answer:
    """How one try went: ``outcome`` is delivered, retry or failed."""

    outcome: str
    code: int | None
    text: str


class CannotSend(Exception):
    """The delivery cannot be made now as configured (a missing key or secret)."""


def _with_query(url: str, pairs: list[tuple[str, str]]) -> str:
    if not pairs:
        return url
    return f"{url}{'&' if '?' in url else '?'}{urlencode(pairs)}"


def build_request(settings: Settings, delivery: DeliveryClaim, now: dt.datetime) -> Request:
    """The HTTP request for ``delivery``, signed now for its receiver."""
    headers = {"User-Agent": USER_AGENT}
    if delivery.kind is DeliveryKind.NOTIFICATION:
        if not settings.notify_url or not settings.notify_secret:
            raise CannotSend("NOTIFY_URL and NOTIFY_SECRET must be set")
        body = json.dumps(
            {
                "type": delivery.event_type,
                "timestamp": now.isoformat().replace("+00:00", "Z"),
                "data": delivery.content,
            },
            separators=(",", ":"),
        )
        headers["Content-Type"] = "application/json"
        headers.update(
            standard_webhook_headers(settings.notify_secret, delivery.message_id, body, now)
        )
        return Request("POST", settings.notify_url, headers, body.encode())

    if not settings.forward_url:
        raise CannotSend("FORWARD_URL is not set")
    pairs = [(str(name), str(value)) for name, value in delivery.content]
    post = delivery.method == "POST"
    url = settings.forward_url if post else _with_query(settings.forward_url, pairs)
    form = urlencode(pairs)
    signer = provider_signer(delivery.provider or "")
    if signer is not None:
        key = forward_signing_key(settings, delivery.provider or "", delivery.account_sid or "")
        if key is None:
            raise CannotSend(f"no signing key is set for {delivery.provider} any more")
        headers.update(provider_signature_headers(signer, url, pairs if post else None, key))
    else:
        # The provider signs with a key only it holds: Standard Webhooks instead,
        # over what is sent (the form for a POST, the query string for a GET).
        secret = settings.forward_secret or settings.notify_secret
        if secret is None:
            raise CannotSend("FORWARD_SECRET (or NOTIFY_SECRET) must be set to forward these")
        headers.update(standard_webhook_headers(secret, delivery.message_id, form, now))
    if post:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return Request("POST", url, headers, form.encode())
    return Request(delivery.method, url, headers, None)


def classify(code: int) -> str:
    if 200 <= code < 300:
        return "delivered"
    if code in (408, 429) or code >= 500:
        return "retry"
    return "failed"


def _phrase(code: int) -> str:
    try:
        return f"HTTP {code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"


def send(http: requests.Session, request: Request) -> Answer:
    """One try; every failure becomes an Answer (nothing here raises)."""
    try:
        response = http.request(
            request.method,
            request.url,
            headers=request.headers,
            data=request.body,
            timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            allow_redirects=False,
        )
        response.close()
    except requests.Timeout:
        return Answer("retry", None, "timed out")
    except requests.ConnectionError as exc:
        refused = "refused" in str(exc).lower()
        return Answer("retry", None, "connection refused" if refused else "connection failed")
    except requests.RequestException as exc:
        return Answer("retry", None, f"request failed ({type(exc).__name__})")
    outcome = classify(response.status_code)
    text = _phrase(response.status_code)
    if 300 <= response.status_code < 400:
        text += " (redirects are not followed)"
    return Answer(outcome, response.status_code, text)


class Deliverer:
    """The worker's turn at the outbox (one per worker process)."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        owner: str,
        stop: threading.Event | None = None,
        *,
        first_retry: dt.timedelta = FIRST_RETRY,
        longest_retry: dt.timedelta = LONGEST_RETRY,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.owner = owner
        self.stop = stop or threading.Event()
        self.first_retry = first_retry
        self.longest_retry = longest_retry
        self.http = requests.Session()
        # Only the receivers that are set: a kind whose URL is unset waits.
        self.kinds = [
            kind
            for kind, url in (
                (DeliveryKind.FORWARD, settings.forward_url),
                (DeliveryKind.NOTIFICATION, settings.notify_url),
            )
            if url
        ]

    def _write(self, step: Callable[[Session], T]) -> T:
        with transaction(self.sessions) as session:
            return step(session)

    def turn(self, budget: float = TURN_SECONDS) -> bool:
        """Send due deliveries for about ``budget`` seconds; whether there was one.

        Each try's answer is recorded in the same transaction that claims the
        next delivery: one commit per delivery rather than two.
        """
        if not self.kinds:
            return False
        deadline = time.monotonic() + budget
        worked = False
        settle: Settle | None = None
        while True:
            go_on = not self.stop.is_set() and time.monotonic() < deadline

            def step(session: Session, settle: Settle | None = settle, go_on: bool = go_on) -> Any:
                if settle is not None:
                    settle(session)
                return outbox.claim(session, self.owner, LEASE, self.kinds) if go_on else None

            held = self._write(step)
            if held is None:
                return worked
            worked = True
            settle = self.deliver(held)

    def deliver(self, held: DeliveryClaim) -> Settle:
        """Send ``held`` once; what to record of it (in the caller's transaction)."""
        now = utcnow()
        try:
            answer = send(self.http, build_request(self.settings, held, now))
        except CannotSend as exc:
            answer = Answer("retry", None, str(exc))
        except SigningKeyUnavailable as exc:  # a subaccount's token, not answered for now
            answer = Answer("retry", None, f"signing key unavailable: {exc.message}")
        what = f"delivery {held.id} ({held.kind.value} {held.event_type}"
        what += f" for {held.recording_sid})" if held.recording_sid else ")"
        record: Callable[[Session], bool]
        if answer.outcome == "delivered":
            record = lambda s: outbox.delivered(s, held, answer.code or 0, answer.text)  # noqa: E731
            log.info("%s delivered on try %d: %s", what, held.attempts, answer.text)
        elif answer.outcome == "failed" or now >= held.give_up_at:
            why = answer.text if answer.outcome == "failed" else f"{answer.text}; retried for 24 h"
            record = lambda s: outbox.failed(s, held, answer.code, why)  # noqa: E731
            log.warning("%s failed on try %d: %s", what, held.attempts, why)
        else:
            wait = backoff(held.attempts, self.first_retry, self.longest_retry)
            wait *= random.uniform(0.5, 1.5)  # jitter: many retries do not arrive in step
            at = min(now + wait, max(held.give_up_at, now))
            record = lambda s: outbox.retry_at(s, held, answer.code, answer.text, at)  # noqa: E731
            log.warning(
                "%s try %d: %s; next try in %.0f s",
                what,
                held.attempts,
                answer.text,
                (at - now).total_seconds(),
            )

        def settle(session: Session) -> None:
            if not record(session):
                log.warning("%s: the lease ran out during the try; its new holder sends it", what)

        return settle
