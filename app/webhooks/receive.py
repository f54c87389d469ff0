"""The one way a recording-status callback is received, whichever provider sent it.

Verify, store, answer: the provider says how its callbacks are signed,
parsed and whose they are; everything else (the body limit, the refusals and
their wording, the single transaction, the answer) is the same for all.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Response, jsonify, request
from werkzeug.datastructures import MultiDict

from app.db import transaction
from app.extensions import get_settings, session_factory
from app.providers.base import IncomingCallback, Provider, not_configured
from app.providers.errors import CallbackError
from app.recordings.reports import CallbackEvent, record_callback
from app.webhooks.public_url import requested_url

log = logging.getLogger(__name__)


def flatten(params: MultiDict[str, str]) -> dict[str, Any]:
    """Every parameter as sent; a repeated name keeps all its values, in order."""
    return {k: (v[0] if len(v) == 1 else v) for k, v in params.to_dict(flat=False).items()}


def refuse(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def incoming_callback() -> IncomingCallback:
    """The request as a provider's signature sees it; the body is read once, here.

    Reading it first also lets the body limit answer 413 before anything else.
    """
    body = request.get_data(cache=True)
    form = request.form if request.method == "POST" else MultiDict[str, str]()
    return IncomingCallback(
        method=request.method,
        url=requested_url(request),
        headers={name.lower(): value for name, value in request.headers.items()},
        body=body,
        params=form if request.method == "POST" else request.args,
        form=form,
    )


def receive_recording_status(provider: Provider) -> Response:
    """Handle the current request as a recording-status callback from ``provider``."""
    settings = get_settings()
    callback = incoming_callback()

    problem = not_configured(provider, settings)
    if problem is None:
        problem = provider.verify(settings, callback)
        if problem is not None:
            log.warning("refused %s callback to %s: %s", provider.name, request.path, problem)
    if problem is not None:
        return refuse(403, problem)

    try:
        report = provider.parse_callback(callback.params)
    except CallbackError as exc:
        return refuse(exc.status, exc.message)
    if not provider.serves(settings, report.account_sid):
        return refuse(403, "AccountSid is not an account this deployment serves")

    header = provider.idempotency_header
    event = CallbackEvent(
        method=request.method,
        params=flatten(request.form if request.method == "POST" else request.args),
        remote_addr=request.remote_addr,
        # Headers are the sender's to choose: keep them within their columns.
        request_id=(request.headers.get("X-Request-Id") or uuid.uuid4().hex)[:128],
        idempotency_token=((request.headers.get(header) if header else None) or "")[:128] or None,
    )
    with transaction(session_factory()) as session:
        stored = record_callback(session, report, event)
    log.info(
        "%s callback %s %s for %s: %s",
        provider.name,
        event.request_id,
        report.status,
        report.recording_sid,
        "stored" if stored else "repeat, unchanged",
    )
    response = Response(status=204)
    response.headers["X-Request-Id"] = event.request_id or ""
    return response
