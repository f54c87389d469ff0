"""The recordings API under /api/v1/ (JSON, bearer tokens) and the share links' pages
under /share/ (no login: the signed link is the permission)."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("api", __name__, url_prefix="/api/v1")
share_bp = Blueprint("share", __name__, url_prefix="/share", template_folder="templates")

from app.api import auth, share, views  # noqa: E402, F401  (they register their routes)

bp.before_request(auth.require_token)


def init_api(app: Flask) -> None:
    from app.api.openapi import PART

    app.extensions.setdefault("openapi.parts", []).append(PART)
    app.register_blueprint(bp)
    app.register_blueprint(share_bp)
