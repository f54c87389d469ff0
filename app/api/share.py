"""``/share/<token>``: one recording, played and downloaded without a login while the
link lives. Each fetch of the audio is audited as the link (``share:<id>``): the
page alone is not a listen, and neither is each range request of one playback
(only a request from the first byte counts)."""

from __future__ import annotations

from flask import Response, current_app, render_template, request
from flask.typing import ResponseReturnValue

from app.api import share_bp
from app.api.auth import audit
from app.api.media import serve_media
from app.db import transaction
from app.extensions import session_factory
from app.recordings import shares

GONE = {
    shares.LinkState.EXPIRED: "This share link has expired. Ask whoever sent it for a new one.",
    shares.LinkState.REVOKED: "This share link was withdrawn. Ask whoever sent it for a new one.",
}
SECURITY = (
    "default-src 'none'; style-src 'unsafe-inline'; media-src 'self' https: http:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _plain(status: int, message: str) -> ResponseReturnValue:
    page = render_template("share/gone.html", message=message)
    return Response(page, status=status, mimetype="text/html")


def _secured(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = SECURITY
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _opened(token: str) -> shares.OpenedLink | ResponseReturnValue:
    with session_factory()() as db:
        opened = shares.open_link(db, token[:512], str(current_app.secret_key))
    if opened is None:
        return _plain(404, "There is no such share link. Check that the whole link was copied.")
    if opened.state is not shares.LinkState.LIVE:
        return _plain(410, GONE[opened.state])
    return opened


@share_bp.get("/<token>")
def page(token: str) -> ResponseReturnValue:
    opened = _opened(token)
    if not isinstance(opened, shares.OpenedLink):
        return _secured(current_app.make_response(opened))
    html = render_template(
        "share/page.html", token=token, link=opened.link, recording=opened.recording
    )
    return _secured(Response(html, mimetype="text/html"))


def _first_range() -> bool:
    given = request.headers.get("Range", "").replace(" ", "")
    return given in ("", "bytes=0-") or not given.startswith("bytes=")


@share_bp.get("/<token>/media")
def media(token: str) -> ResponseReturnValue:
    opened = _opened(token)
    if not isinstance(opened, shares.OpenedLink):
        return _secured(current_app.make_response(opened))
    download = request.args.get("download") == "1"
    recording = opened.recording
    if recording.key and (download or _first_range()):
        with transaction(session_factory()) as db:
            audit(
                db,
                actor=f"share:{opened.link.id}",
                action="recording.download" if download else "recording.listen",
                recording_sid=recording.recording_sid,
                detail="share link",
            )
    return _secured(current_app.make_response(serve_media(recording, download=download)))
