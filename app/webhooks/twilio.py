"""``/webhooks/twilio/recording-status``."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Response, current_app, jsonify, request
from werkzeug.datastructures import MultiDict

from app.db import transaction
from app.extensions import get_settings, session_factory
from app.providers import twilio
from app.providers.callbacks import CallbackError, parse_compatibility_callback
from app.webhooks import bp
from app.webhooks.public_url import requested_url
from app.webhooks.store import Delivery, store_callback

log = logging.getLogger(__name__)


def flatten(params: MultiDict[str, str]) -> dict[str, Any]:
    """Every parameter as sent; a repeated name keeps all its values, in order."""
    return {k: (v[0] if len(v) == 1 else v) for k, v in params.to_dict(flat=False).items()}


def refuse(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


@bp.route("/twilio/recording-status", methods=["POST", "GET"])
def twilio_recording_status() -> Response:
    settings = get_settings()
    # Reading the form first lets the body limit answer 413 before anything else.
    params = request.form if request.method == "POST" else request.args
    signed_params = request.form if request.method == "POST" else {}

    if not settings.twilio_auth_token or not settings.twilio_account_sid:
        return refuse(
            403, "Twilio callbacks are not enabled: TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN unset"
        )
    signature = request.headers.get(twilio.SIGNATURE_HEADER, "")
    if not signature:
        return refuse(403, f"{twilio.SIGNATURE_HEADER} header is missing")
    if not twilio.signature_is_valid(
        requested_url(request), signed_params, signature, settings.twilio_auth_token
    ):
        log.warning("refused Twilio callback to %s: wrong signature", request.path)
        return refuse(403, f"{twilio.SIGNATURE_HEADER} does not match this request")

    try:
        callback = parse_compatibility_callback(twilio.NAME, params)
    except CallbackError as exc:
        return refuse(exc.status, exc.message)
    if callback.account_sid != settings.twilio_account_sid:
        return refuse(403, "AccountSid is not an account this deployment serves")

    delivery = Delivery(
        method=request.method,
        params=flatten(params),
        remote_addr=request.remote_addr,
        # Headers are the sender's to choose: keep them within their columns.
        request_id=(request.headers.get("X-Request-Id") or uuid.uuid4().hex)[:128],
        idempotency_token=(request.headers.get(twilio.IDEMPOTENCY_HEADER) or "")[:128] or None,
    )
    with transaction(session_factory()) as session:
        stored = store_callback(session, callback, delivery)
    current_app.logger.info(
        "twilio callback %s %s for %s: %s",
        delivery.request_id,
        callback.status,
        callback.recording_sid,
        "stored" if stored else "repeat, unchanged",
    )
    response = Response(status=204)
    response.headers["X-Request-Id"] = delivery.request_id or ""
    return response
