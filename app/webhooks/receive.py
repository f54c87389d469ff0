"""The one way a recording-status callback is received, whichever provider sent it.

Verify, store, answer: the provider says how its callbacks are signed,
parsed and whose they are; everything else (the body limit, the refusals and
their wording, the single transaction, the answer) is the same for all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Response, abort, g, jsonify, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from app.deliveries.outbox import forward_row
from app.extensions import extensions, get_settings
from app.providers.base import IncomingCallback, Provider, RecordingReport, not_configured
from app.providers.errors import CallbackError, SigningKeyUnavailable
from app.recordings.lifecycle import STATUS_RANK
from app.recordings.reports import (
    CallbackEvent,
    OutboxRow,
    callback_lock_order,
    callback_writes,
    record_callback,
)
from app.telemetry import SIGNATURE_REFUSALS
from app.webhooks.public_url import requested_url

log = logging.getLogger(__name__)


def flatten(params: MultiDict[str, str]) -> dict[str, Any]:
    """Every parameter as sent; a repeated name (refused before storing, see
    ``repeated_parameter``) would keep all its values, in order."""
    return {k: (v[0] if len(v) == 1 else v) for k, v in params.to_dict(flat=False).items()}


def unstorable_parameter(params: MultiDict[str, str]) -> str | None:
    """Why a parameter cannot be stored as sent, or None.

    Every parameter is kept as the provider sent it. The one thing no
    database column takes is a NUL character (PostgreSQL refuses it in text
    and JSON; SQLite would take it, and both must behave the same), and no
    real provider sends one: refuse it, naming the parameter.
    """
    for name, value in params.items(multi=True):
        if "\x00" in name:
            return "a parameter name contains a NUL character, which cannot be stored"
        if "\x00" in value:
            return f"{name} contains a NUL character, which cannot be stored"
    return None


def repeated_parameter(params: MultiDict[str, str]) -> str | None:
    """Why a parameter sent more than once is refused, or None.

    No provider repeats a recording-status parameter (Twilio, SignalWire and
    Telnyx each send every one once). And a Twilio-style signature covers
    each name's distinct values only, so ``RecordingStatus=completed`` sent
    twice carries the same signature as sent once: a captured callback,
    replayed with a parameter repeated 1, 2, 3... times, would be a new event
    each time (the events are de-duplicated on the parameters as stored).
    Refused, then, before anything is stored.
    """
    for name, values in params.lists():
        if len(values) > 1:
            return f"{name} is repeated: a provider sends each parameter once"
    return None


def refuse(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def read_body() -> bytes:
    """The whole body, once; 413 beyond the limit, whether or not its length was given.

    A chunked body has no Content-Length: Werkzeug then stops reading at the
    limit without a word, and the truncated form fails its signature (a 403
    where a 413 is due). One more byte from the server's stream tells.
    """
    try:
        body = request.get_data(cache=True)
    except ClientDisconnected:
        # Cut off, or too slow (BODY_READ_SECONDS): nothing was stored.
        abort(408, "the request body did not arrive in time; nothing was stored")
    limit = request.max_content_length
    at_limit = limit is not None and request.content_length is None and len(body) >= limit
    if at_limit and request.environ["wsgi.input"].read(1):  # exactly the limit, or beyond?
        raise RequestEntityTooLarge()
    return body


@dataclass(frozen=True)
class Arrival:
    """One callback request as it arrived, whichever way it is served (the Flask
    view, or ``app.webhooks.fast``): the signed parts, and what is stored and
    logged with it."""

    callback: IncomingCallback
    # The form of a POST, the query string of a GET: what is checked and stored.
    params: MultiDict[str, str]
    path: str
    remote_addr: str | None
    request_id: str


def incoming_callback() -> IncomingCallback:
    """The request as a provider's signature sees it; the body is read once, here.

    Reading it first also lets the body limit answer 413 before anything else,
    and no database connection is held while a slow client sends it.
    """
    body = read_body()
    form = request.form if request.method == "POST" else MultiDict[str, str]()
    return IncomingCallback(
        method=request.method,
        url=requested_url(request, get_settings().public_url),
        headers={name.lower(): value for name, value in request.headers.items()},
        body=body,
        params=form if request.method == "POST" else request.args,
        form=form,
    )


def current_arrival() -> Arrival:
    """The Flask request being served, as an ``Arrival`` (its body read here)."""
    callback = incoming_callback()
    return Arrival(
        callback=callback,
        params=request.form if request.method == "POST" else request.args,
        path=request.path,
        remote_addr=request.remote_addr,
        request_id=g.request_id,
    )


def store_callback(
    report: RecordingReport, event: CallbackEvent, also: OutboxRow | None = None
) -> bool:
    """Commit the callback; False when it repeated one already stored.

    Idempotent (a repeat changes nothing), so safe to run again after a dead
    connection. On PostgreSQL it is committed together with the callbacks that
    arrive meanwhile in this process (one round trip and one COMMIT for the lot,
    measured in bench/RESULTS.md), and this returns once that COMMIT has.
    """
    ext = extensions()
    if ext.group_commit is not None:
        (first, *_rest) = ext.group_commit.run(
            callback_writes(report, event, also), order=callback_lock_order(report)
        )
        return bool(first[0])
    return ext.run_one_statement(lambda c: record_callback(c, report, event, also))


def receive_recording_status(provider: Provider) -> Response:
    """Handle the current request as a recording-status callback from ``provider``."""
    return receive(provider, current_arrival())


def receive(provider: Provider, arrival: Arrival) -> Response:
    """Answer ``arrival`` as a recording-status callback from ``provider`` (in an app
    context; no request context needed)."""
    settings = get_settings()
    callback = arrival.callback

    status = callback.params.get("RecordingStatus", "")
    g.callback_status = status if status in STATUS_RANK else "other"
    problem = not_configured(provider, settings)
    if problem is None:
        try:
            problem = provider.verify(settings, callback)
        except SigningKeyUnavailable as exc:
            # The key is the provider's to give and it did not: we cannot tell a good
            # callback from a forged one, so nothing is stored; the sender may retry,
            # and reconciliation finds the recording anyway.
            log.warning("could not check %s callback to %s: %s", provider.name, arrival.path, exc)
            response = refuse(503, exc.message)
            response.headers["Retry-After"] = str(round(exc.retry_after))
            return response
        if problem is not None:
            SIGNATURE_REFUSALS.labels(provider.name).inc()
            log.warning("refused %s callback to %s: %s", provider.name, arrival.path, problem)
    if problem is not None:
        return refuse(403, problem)

    params = arrival.params
    problem = unstorable_parameter(params) or repeated_parameter(params)
    if problem is not None:
        return refuse(400, problem)
    try:
        report = provider.parse_callback(callback.params)
    except CallbackError as exc:
        return refuse(exc.status, exc.message)
    if not provider.serves(settings, report.account_sid):
        return refuse(403, "AccountSid is not an account this deployment serves")

    header = provider.idempotency_header
    event = CallbackEvent(
        method=callback.method,
        params=flatten(params),
        remote_addr=arrival.remote_addr,
        request_id=arrival.request_id,
        # The sender's to choose: kept within its column.
        idempotency_token=((callback.headers.get(header.lower()) if header else None) or "")[:128]
        or None,
    )
    # With FORWARD_URL the forward is written with the callback, or neither is
    # (then the provider retries); in the same one statement on PostgreSQL.
    forward = (
        forward_row(
            provider=provider.name,
            account_sid=report.account_sid,
            recording_sid=report.recording_sid,
            method=callback.method,
            params=list(params.items(multi=True)),
        )
        if settings.forward_url
        else None
    )
    stored = store_callback(report, event, forward)
    log.info(
        "%s callback %s %s for %s: %s",
        provider.name,
        event.request_id,
        report.status,
        report.recording_sid,
        "stored" if stored else "repeat, unchanged",
    )
    return Response(status=204)
