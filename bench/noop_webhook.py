"""A webhook that does nothing but answer: what the server alone costs."""

from __future__ import annotations

from flask import Flask, Response

app = Flask(__name__)


@app.post("/webhooks/twilio/recording-status")
def nothing() -> Response:
    return Response(status=204)
