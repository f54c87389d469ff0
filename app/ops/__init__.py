"""Operations endpoints: liveness, readiness, metrics."""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import extensions
from app.ops.metrics import CONTENT_TYPE, exposition
from app.ops.openapi import document

bp = Blueprint("ops", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz() -> Response:
    return Response("ok\n", mimetype="text/plain")


@bp.get("/readyz")
def readyz() -> Response:
    try:
        with extensions().sessions() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("readiness check failed: %s", type(exc).__name__)
        return Response("database unavailable\n", status=503, mimetype="text/plain")
    return Response("ok\n", mimetype="text/plain")


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format: the web workers' counters, and figures read from the
    database so every process (and every worker machine) agrees."""
    token = extensions().settings.metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            response = jsonify(error="/metrics wants Authorization: Bearer <METRICS_TOKEN>")
            response.status_code = 401
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
    try:
        body = exposition(extensions().sessions, extensions().metrics_overview)
    except SQLAlchemyError as exc:
        log.warning("metrics query failed: %s", type(exc).__name__)
        return Response("database unavailable\n", status=503, mimetype="text/plain")
    return Response(body, content_type=CONTENT_TYPE)


@bp.get("/openapi.json")
def openapi() -> Response:
    """The webhook and operations endpoints, described (OpenAPI 3.1)."""
    return jsonify(document(current_app.extensions.get("openapi.parts", [])))
