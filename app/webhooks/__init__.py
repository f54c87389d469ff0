"""Provider callbacks: verify, store, answer. Never download here."""

from __future__ import annotations

from flask import Blueprint, Response, abort, g
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from app.providers import PROVIDERS
from app.telemetry import CALLBACKS
from app.webhooks.receive import receive_recording_status

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@bp.route("/<provider>/recording-status", methods=["POST", "GET"])
def recording_status(provider: str) -> Response:
    source = PROVIDERS.get(provider)
    if source is None:
        abort(404, f"no provider named {provider!r}; known: {', '.join(PROVIDERS)}")
    code = 500
    try:
        response = receive_recording_status(source)
        code = response.status_code
        return response
    except HTTPException as exc:
        code = exc.code or 500
        raise
    except (OperationalError, PoolTimeout):
        code = 503  # answered by the app's handler: nothing stored, try again
        raise
    finally:
        CALLBACKS.labels(source.name, g.get("callback_status", "unknown"), str(code)).inc()
