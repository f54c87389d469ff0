"""The admin console under /admin/: find any recording, see why it failed, hear it,
put it back in the queue. Server-rendered pages, no script at all."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, request
from werkzeug.routing import BaseConverter, ValidationError

# Row ids are signed 64-bit (BIGINT on PostgreSQL, INTEGER on SQLite): a
# larger number names no row, and the drivers refuse it with a 500 rather
# than find nothing.
ID_MAX = 2**63 - 1


class RowIdConverter(BaseConverter):
    """``<row_id:...>``: ASCII digits within the column's range, else the route
    does not match (404). Werkzeug's ``int`` takes any script's digits and any
    length, and ``int()`` of 5,000 digits raises."""

    regex = r"[0-9]{1,19}"
    part_isolating = True
    weight = 50  # before a string in the same place (/recordings/<RecordingSid>), as int is

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > ID_MAX:
            raise ValidationError
        return number

    def to_url(self, value: int) -> str:
        return str(int(value))


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


@bp.after_app_request
def security_headers(response: Response) -> Response:
    # On the app, not the blueprint: a URL under /admin/ that matches no route
    # (an error page) is the console's too.
    if not request.path.startswith("/admin"):
        return response
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


from app.admin import auth, people, tokens, views  # noqa: E402, F401  (they register their routes on bp)


def init_admin(app: Flask) -> None:
    """Mount the console: its pages, its formats, the login gate and then CSRF."""
    from flask_wtf.csrf import CSRFError, CSRFProtect

    from app.admin.access import template_globals
    from app.admin.errors import csrf_refused
    from app.admin.formatting import register_filters
    from app.web import retry_reads_once_on_disconnect

    # Before the blueprint: its rules are compiled with the converters known then.
    app.url_map.converters["row_id"] = RowIdConverter
    app.register_blueprint(bp)
    retry_reads_once_on_disconnect(app, bp.name)
    from app.extensions import extensions

    register_filters(app, extensions(app).settings.display_timezone)
    app.context_processor(template_globals)
    # The login gate runs first, so a stranger always hears "log in", then every
    # form posted to the console must carry its CSRF token.
    app.before_request(auth.require_login)
    csrf = CSRFProtect()
    csrf.init_app(app)
    app.register_error_handler(CSRFError, csrf_refused)
    # Providers' callbacks and the operations endpoints are machines', which
    # prove themselves otherwise (signatures) or change nothing.
    for name, blueprint in app.blueprints.items():
        if name != bp.name:
            csrf.exempt(blueprint)
