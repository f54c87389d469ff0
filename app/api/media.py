"""Serving archived audio to the API and to share links."""

from __future__ import annotations

from flask import redirect, send_file
from flask.typing import ResponseReturnValue

from app.api.auth import error
from app.archive.naming import CONTENT_TYPES
from app.extensions import extensions
from app.recordings.models import Recording
from app.storage import StorageError

PRESIGNED_SECONDS = 300


def serve_media(recording: Recording, *, download: bool) -> ResponseReturnValue:
    """The archived audio: a redirect to a short-lived presigned URL (S3), or the bytes
    with Range support (the local folder). The caller has written the audit entry."""
    key = recording.key
    if not key:
        return error(404, "this recording has no archived audio yet")
    name = key.rsplit("/", 1)[-1]
    store = extensions().store
    try:
        url = store.presigned_url(key, PRESIGNED_SECONDS, download_name=name if download else None)
        path = None if url else store.local_path(key)
    except StorageError:
        return error(503, "the archive store did not answer; try again")
    if url:
        return redirect(url, 302)
    if path is None or not path.is_file():
        return error(404, "the archived audio is missing from the store")
    extension = name.rsplit(".", 1)[-1]
    return send_file(
        path,
        mimetype=CONTENT_TYPES.get(extension, "application/octet-stream"),
        conditional=True,
        as_attachment=download,
        download_name=name,
        max_age=0,
    )
