"""Operations endpoints: liveness, readiness, metrics."""

from __future__ import annotations

import logging

from flask import Blueprint, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import extensions
from app.recordings.models import ArchiveState
from app.recordings.queries import counts_by_state

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
    """Prometheus text format, read from the database so every process agrees."""
    lines = [
        "# HELP recording_archiver_recordings Recordings by archive state.",
        "# TYPE recording_archiver_recordings gauge",
    ]
    try:
        with extensions().sessions() as session:
            counts = counts_by_state(session)
    except SQLAlchemyError as exc:
        log.warning("metrics query failed: %s", type(exc).__name__)
        return Response("database unavailable\n", status=503, mimetype="text/plain")
    for state in ArchiveState:
        lines.append(
            f'recording_archiver_recordings{{state="{state.value}"}} {counts.get(state, 0)}'
        )
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")
