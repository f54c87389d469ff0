"""The admin console under /admin/: find any recording, see why it failed, hear it,
put it back in the queue. Server-rendered pages, no script at all."""

from __future__ import annotations

from flask import Blueprint, Flask, Response

bp = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
)

# No inline script or style may run; media may come from the store's
# presigned URLs (``media-src`` is widened per response when it does).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


@bp.after_request
def security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


from app.admin import auth, views  # noqa: E402, F401  (they register their routes on bp)


def init_admin(app: Flask) -> None:
    """Mount the console: its pages, its formats, the login gate and then CSRF."""
    from flask_wtf.csrf import CSRFProtect

    from app.admin.formatting import register_filters

    app.register_blueprint(bp)
    register_filters(app)
    # The login gate runs first, so a stranger always hears "log in", then every
    # form posted to the console must carry its CSRF token.
    app.before_request(auth.require_login)
    csrf = CSRFProtect()
    csrf.init_app(app)
    # Providers' callbacks and the operations endpoints are machines', which
    # prove themselves otherwise (signatures) or change nothing.
    for name, blueprint in app.blueprints.items():
        if name != bp.name:
            csrf.exempt(blueprint)
