"""``/webhooks/twilio/recording-status``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Request, Response
from werkzeug.datastructures import MultiDict

from app.config import Settings
from app.providers import twilio
from app.providers.callbacks import RecordingCallback, parse_compatibility_callback
from app.webhooks import bp
from app.webhooks.public_url import requested_url
from app.webhooks.receive import receive_recording_status


class TwilioCallbacks:
    """Twilio's callbacks: ``X-Twilio-Signature`` made with the account's auth token."""

    name = twilio.NAME
    idempotency_header: str | None = twilio.IDEMPOTENCY_HEADER

    def not_configured(self, settings: Settings) -> str | None:
        if not settings.twilio_auth_token or not settings.twilio_account_sid:
            return "Twilio callbacks are not enabled: TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN unset"
        return None

    def signature_problem(
        self, request: Request, signed_params: Mapping[str, Any], settings: Settings
    ) -> str | None:
        signature = request.headers.get(twilio.SIGNATURE_HEADER, "")
        if not signature:
            return f"{twilio.SIGNATURE_HEADER} header is missing"
        assert settings.twilio_auth_token is not None
        url = requested_url(request)
        if not twilio.signature_is_valid(url, signed_params, signature, settings.twilio_auth_token):
            return f"{twilio.SIGNATURE_HEADER} does not match this request"
        return None

    def parse(self, params: MultiDict[str, str]) -> RecordingCallback:
        return parse_compatibility_callback(twilio.NAME, params)

    def serves(self, settings: Settings, account_sid: str) -> bool:
        return account_sid == settings.twilio_account_sid


TWILIO = TwilioCallbacks()


@bp.route("/twilio/recording-status", methods=["POST", "GET"])
def twilio_recording_status() -> Response:
    return receive_recording_status(TWILIO)
