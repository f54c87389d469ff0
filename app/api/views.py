"""``/api/v1/``: the recordings, their audio, and what may be done to them."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from flask import current_app, request, url_for
from flask.typing import ResponseReturnValue

from app.api import bp, params
from app.api.auth import audit, error, holder, requires
from app.api.media import serve_media
from app.api.representation import recording_json
from app.archive.retention import LegalHoldRefused, set_legal_hold
from app.db import transaction
from app.extensions import extensions, get_settings, session_factory
from app.recordings import queries, queue, shares
from app.storage import StorageError
from app.web import public_origin


def _absolute(path: str) -> str:
    return public_origin(request, get_settings().public_url) + path


def _unknown(sid: str) -> ResponseReturnValue:
    return error(404, f"no recording with SID {sid[:64]!r}")


def _json_body() -> dict[str, Any] | None:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


@bp.get("/recordings")
def list_recordings() -> ResponseReturnValue:
    try:
        read = params.read_listing(request.args)
    except params.ParameterRefused as refused:
        return error(400, str(refused))
    limit = read.get("limit", params.LIMIT_DEFAULT)
    try:
        where = params.listing_filter(read, get_settings().default_phone_region)
    except params.ParameterRefused as refused:
        return error(400, str(refused))
    with session_factory()() as db:
        page = queries.list_recordings(db, where, read.get("after"), limit)
    next_url = None
    if page.next is not None:
        kept: dict[str, Any] = {name: value for name, value in request.args.items()}
        kept["after"] = params.encode_cursor(page.next)
        next_url = _absolute(url_for("api.list_recordings", **kept))
    return {"recordings": [recording_json(row) for row in page.rows], "next": next_url}


@bp.get("/recordings/<sid>")
def one_recording(sid: str) -> ResponseReturnValue:
    with session_factory()() as db:
        recording = queries.recording_by_sid(db, sid)
    if recording is None:
        return _unknown(sid)
    return recording_json(recording)


@bp.get("/recordings/<sid>/media")
def media(sid: str) -> ResponseReturnValue:
    download = request.args.get("download") == "1"
    with transaction(session_factory()) as db:
        recording = queries.recording_by_sid(db, sid)
        if recording is None:
            return _unknown(sid)
        if recording.key:
            # Written (and committed) before the first byte or the redirect goes out.
            audit(
                db,
                actor=holder().actor,
                action="recording.download" if download else "recording.listen",
                recording_sid=recording.recording_sid,
                detail="api",
            )
    return serve_media(recording, download=download)


@bp.post("/recordings/<sid>/retry")
@requires("operator")
def retry(sid: str) -> ResponseReturnValue:
    with transaction(session_factory()) as db:
        recording = queries.recording_by_sid(db, sid)
        if recording is None:
            return _unknown(sid)
        if not queue.requeue_one(db, recording.id):
            db.rollback()
            return error(409, "only a failed recording can be retried; it was not changed")
        audit(db, actor=holder().actor, action="recording.retry", recording_sid=sid, detail="api")
    extensions().admin_overview.invalidate()
    with session_factory()() as db:
        again = queries.recording_by_sid(db, sid)
    assert again is not None
    return recording_json(again), 202


@bp.post("/recordings/<sid>/legal-hold")
@requires("operator")
def legal_hold(sid: str) -> ResponseReturnValue:
    body = _json_body()
    if body is None or set(body) != {"on"} or not isinstance(body["on"], bool):
        return error(400, 'the body must be JSON {"on": true} or {"on": false}')
    try:
        with transaction(session_factory()) as db:
            # The store acts first, then the row and the audit entry commit together
            # (set_legal_hold writes both, through the audit hook, in this transaction).
            recording = set_legal_hold(
                db,
                extensions().store,
                sid,
                body["on"],
                actor=holder().actor,
                address=request.remote_addr,
            )
            shown = recording_json(recording)
    except LegalHoldRefused as refused:
        return error(404 if refused.not_found else 409, refused.reason)
    except StorageError:
        return error(503, "the archive store did not answer; nothing was changed, try again")
    return shown


@bp.post("/recordings/<sid>/share")
@requires("viewer")
def share(sid: str) -> ResponseReturnValue:
    body = _json_body()
    if body is None or set(body) - {"expires_in"}:
        return error(400, 'the body must be JSON {"expires_in": seconds}')
    given = body.get("expires_in")
    longest = int(shares.LONGEST.total_seconds())
    # JSON has one number type: 38.0 is as whole as 38 (booleans are not numbers here).
    whole = (
        isinstance(given, int | float)
        and not isinstance(given, bool)
        and math.isfinite(given)
        and given == int(given)
    )
    seconds = int(given) if whole else 0  # type: ignore[arg-type]
    if not 1 <= seconds <= longest:
        return error(400, f"expires_in must be a whole number of seconds from 1 to {longest}")
    secret_key = str(current_app.secret_key)
    with transaction(session_factory()) as db:
        recording = queries.recording_by_sid(db, sid)
        if recording is None:
            return _unknown(sid)
        made = shares.make(db, recording, dt.timedelta(seconds=seconds), holder().actor, secret_key)
        audit(
            db,
            actor=holder().actor,
            action="share.create",
            recording_sid=sid,
            detail=f"link {made.id}, {seconds} s",
        )
    return {
        "id": made.id,
        "url": _absolute(url_for("share.page", token=made.token)),
        "expires_at": made.expires_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
    }, 201
