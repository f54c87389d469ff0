"""Provider callbacks: verify, store, answer. Never download here."""

from __future__ import annotations

from flask import Blueprint, Response, abort

from app.providers import PROVIDERS
from app.webhooks.receive import receive_recording_status

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@bp.route("/<provider>/recording-status", methods=["POST", "GET"])
def recording_status(provider: str) -> Response:
    source = PROVIDERS.get(provider)
    if source is None:
        abort(404, f"no provider named {provider!r}; known: {', '.join(PROVIDERS)}")
    return receive_recording_status(source)
