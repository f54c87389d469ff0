"""Recording Archiver: keeps every call recording in storage its owner controls."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import Settings
from app.extensions import init_extensions


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``test_config`` overrides fields of the environment's settings.

    Tests that need no environment at all pass ``{"settings": Settings(...)}``, and
    may pass ``{"bind": connection}`` to run every request inside their transaction.
    """
    test_config = dict(test_config or {})
    bind = test_config.pop("bind", None)
    settings = test_config.pop("settings", None) or Settings.from_env()
    if test_config:
        settings = settings.with_overrides(test_config)

    app = Flask(__name__, instance_relative_config=True)
    configure_app(app, settings)
    register_extensions(app, settings, bind)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def configure_app(app: Flask, settings: Settings) -> None:
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        # Form fields are small; a flood of parts is refused as well as a big body.
        MAX_FORM_PARTS=1000,
    )
    if settings.trusted_proxies:
        # Heroku's router (and most load balancers) terminate TLS and pass the
        # public scheme and host on; the signature is over the public URL.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=0
        )
    if not app.debug:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )


def register_extensions(app: Flask, settings: Settings, bind: Any = None) -> None:
    init_extensions(app, settings, bind)


def register_blueprints(app: Flask) -> None:
    from app.ops import bp as ops_bp
    from app.webhooks import bp as webhooks_bp

    app.register_blueprint(webhooks_bp)
    app.register_blueprint(ops_bp)


def register_errorhandlers(app: Flask) -> None:
    def json_error(error: HTTPException) -> tuple[Response, int]:
        code = error.code or 500
        message = error.description or error.name
        if code == 413:
            message = (
                f"request body is larger than the {app.config['MAX_CONTENT_LENGTH']} byte limit"
            )
        return jsonify(error=message), code

    for code in (400, 404, 405, 413):
        app.register_error_handler(code, json_error)

    def database_unavailable(error: OperationalError) -> tuple[Response, int]:
        # Nothing was stored: say so with a 503, which providers retry, and
        # keep the driver's message (it may name hosts or users) in the log only.
        app.logger.error("database unavailable: %s", type(error.orig).__name__)
        return jsonify(error="database unavailable; nothing was stored, try again"), 503

    app.register_error_handler(OperationalError, database_unavailable)


def register_commands(app: Flask) -> None:
    from app.cli import register

    register(app)
