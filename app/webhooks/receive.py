"""The one way a recording-status callback is received, whichever provider sent it.

Verify, store, answer: a provider module says how its callbacks are signed
and whose they are; everything else (the body limit, the refusals and their
wording, the single transaction, the answer) is the same for all of them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from flask import Request, Response, jsonify, request
from werkzeug.datastructures import MultiDict

from app.config import Settings
from app.db import transaction
from app.extensions import get_settings, session_factory
from app.providers.callbacks import CallbackError, RecordingCallback
from app.webhooks.store import Delivery, store_callback

log = logging.getLogger(__name__)


class CallbackSource(Protocol):
    """What the receiving end needs to know about one provider."""

    name: str
    idempotency_header: str | None

    def not_configured(self, settings: Settings) -> str | None:
        """Why this deployment refuses every callback of this provider, or None."""
        ...

    def signature_problem(
        self, request: Request, signed_params: Mapping[str, Any], settings: Settings
    ) -> str | None:
        """Why the request's signature does not hold, or None when it does."""
        ...

    def parse(self, params: MultiDict[str, str]) -> RecordingCallback:
        """The callback's fields; raises CallbackError naming a bad one."""
        ...

    def serves(self, settings: Settings, account_sid: str) -> bool:
        """Whether ``account_sid`` is an account of this deployment."""
        ...


def flatten(params: MultiDict[str, str]) -> dict[str, Any]:
    """Every parameter as sent; a repeated name keeps all its values, in order."""
    return {k: (v[0] if len(v) == 1 else v) for k, v in params.to_dict(flat=False).items()}


def refuse(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def receive_recording_status(source: CallbackSource) -> Response:
    """Handle the current request as a recording-status callback from ``source``."""
    settings = get_settings()
    # Reading the form first lets the body limit answer 413 before anything else.
    params = request.form if request.method == "POST" else request.args
    signed_params: Mapping[str, Any] = request.form if request.method == "POST" else {}

    problem = source.not_configured(settings)
    if problem is None:
        problem = source.signature_problem(request, signed_params, settings)
        if problem is not None:
            log.warning("refused %s callback to %s: %s", source.name, request.path, problem)
    if problem is not None:
        return refuse(403, problem)

    try:
        callback = source.parse(params)
    except CallbackError as exc:
        return refuse(exc.status, exc.message)
    if not source.serves(settings, callback.account_sid):
        return refuse(403, "AccountSid is not an account this deployment serves")

    header = source.idempotency_header
    delivery = Delivery(
        method=request.method,
        params=flatten(params),
        remote_addr=request.remote_addr,
        # Headers are the sender's to choose: keep them within their columns.
        request_id=(request.headers.get("X-Request-Id") or uuid.uuid4().hex)[:128],
        idempotency_token=((request.headers.get(header) if header else None) or "")[:128] or None,
    )
    with transaction(session_factory()) as session:
        stored = store_callback(session, callback, delivery)
    log.info(
        "%s callback %s %s for %s: %s",
        source.name,
        delivery.request_id,
        callback.status,
        callback.recording_sid,
        "stored" if stored else "repeat, unchanged",
    )
    response = Response(status=204)
    response.headers["X-Request-Id"] = delivery.request_id or ""
    return response
