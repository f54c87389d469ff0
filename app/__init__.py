"""Recording Archiver: keeps every call recording in storage its owner controls."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

import click
from flask import Flask, Response, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from app.config import PASSWORD_HASH_PROFILES, Settings
from app.extensions import init_extensions
from app.telemetry import configure_logging
from app.web import init_web, trust_proxies


def load_settings(env: Mapping[str, str] | None = None, *, serving: bool = True) -> Settings:
    """Every setting: the core ones and each provider's section (``None``: ``os.environ``).

    ``serving=False`` is for commands, which sign no sessions: they run
    without ``SECRET_KEY``.
    """
    from app.providers import SETTINGS_SECTIONS

    return Settings.from_env(env, sections=SETTINGS_SECTIONS, require_secret_key=serving)


def running_a_command() -> bool:
    """Whether the app is being built for a ``flask`` command other than ``run``.

    ``flask --app app --help`` builds the app to list the project's commands,
    and ``worker`` or ``retry-failed`` serve no pages: none of them needs the
    key that signs admin sessions, so a missing one must not hide them.
    """
    context = click.get_current_context(silent=True)
    return context is not None and context.info_name != "run"


def running_the_worker() -> bool:
    """Whether the app is being built for ``flask worker``."""
    context = click.get_current_context(silent=True)
    return context is not None and context.info_name == "worker"


def startup_report(settings: Settings) -> list[str]:
    """What a newcomer needs to hear once at start-up: what is not set up yet."""
    from app.providers import PROVIDERS
    from app.providers.base import not_configured

    lines = [
        f"{problem}; its callbacks get 403"
        for provider in PROVIDERS.values()
        if (problem := not_configured(provider, settings))
    ]
    if len(lines) == len(PROVIDERS):
        lines.append("no provider is configured: every callback will be refused (see README)")
    lines.append(f"archive: {settings.archive_summary()}")
    if settings.password_hash_profile != PASSWORD_HASH_PROFILES[0]:
        # A profile meant for test suites: said at every start, so it cannot go to
        # production unnoticed.
        lines.append(
            f"PASSWORD_HASH_PROFILE={settings.password_hash_profile}: new console passwords "
            "get a hash made for test suites, cheap to guess; unset it for real users"
        )
    return lines


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``test_config`` overrides fields of the environment's settings.

    Tests that need no environment at all pass ``{"settings": Settings(...)}``, and
    may pass ``{"bind": connection}`` to run every request inside their transaction.
    """
    test_config = dict(test_config or {})
    bind = test_config.pop("bind", None)
    settings = test_config.pop("settings", None) or load_settings(serving=not running_a_command())
    if test_config:
        settings = settings.with_overrides(test_config)

    app = Flask(__name__, instance_relative_config=True)
    configure_app(app, settings)
    register_extensions(app, settings, bind)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_wsgi_layers(app, settings)
    return app


def configure_app(app: Flask, settings: Settings) -> None:
    app.debug = settings.debug
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        # Form fields are small; a flood of parts is refused as well as a big body.
        MAX_FORM_PARTS=1000,
        SESSION_COOKIE_NAME="archiver_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Secure is decided per request (app.web.ConsoleSessions): https, or
        # an https PUBLIC_URL.
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=None,  # tied to the session, which expires by itself
    )
    # Heroku's router (and most load balancers) terminate TLS and pass the
    # public scheme and host on; the signature is over the public URL.
    init_web(app, public_url=settings.public_url)
    configure_logging(settings.log_format, logging.DEBUG if settings.debug else logging.INFO)


def register_extensions(app: Flask, settings: Settings, bind: Any = None) -> None:
    ext = init_extensions(app, settings, bind, for_worker=running_the_worker())
    if ext.group_commit is not None and not running_the_worker():
        from app.recordings.reports import callback_statements

        # Before the first callback arrives, not during its wait.
        ext.group_commit.prepare(callback_statements())


def register_blueprints(app: Flask) -> None:
    from app.admin import init_admin
    from app.api import init_api
    from app.ops import bp as ops_bp
    from app.webhooks import bp as webhooks_bp

    app.register_blueprint(webhooks_bp)
    app.register_blueprint(ops_bp)
    init_api(app)  # before the console's: it exempts every blueprint it finds from CSRF
    init_admin(app)

    @app.get("/")
    def index() -> ResponseReturnValue:
        """A browser at the root is looking for the console."""
        return redirect(url_for("admin.listing"))


# What a 503 for the database asks the sender to wait: a restart or a burst is over
# in seconds, and providers give up on a callback after about 15.
DATABASE_RETRY_AFTER_SECONDS = 5

# Machines (providers, scrapers, API clients) read these paths: they get JSON.
JSON_PATHS = ("/webhooks/", "/api/", "/healthz", "/readyz", "/metrics", "/openapi.json")


def wants_json() -> bool:
    return request.path.startswith(JSON_PATHS)


def register_errorhandlers(app: Flask) -> None:
    """Refusals as JSON on the webhook and operations paths, as HTML pages elsewhere."""

    def http_error(error: HTTPException) -> Response | tuple[Response | str, int]:
        code = error.code or 500
        message = error.description or error.name
        if code == 413:
            message = (
                f"request body is larger than the {app.config['MAX_CONTENT_LENGTH']} byte limit"
            )
        if wants_json():
            return jsonify(error=message), code
        return error_page(code, error.name, message), code

    app.register_error_handler(HTTPException, http_error)

    def database_unavailable(
        error: OperationalError | PoolTimeout,
    ) -> tuple[Response | str, int, dict[str, str]]:
        # Nothing was stored: say so with a 503, which providers retry, and
        # keep the driver's message (it may name hosts or users) in the log only.
        # Every pooled connection busy for pool_timeout (a burst larger than the
        # pool) is the same for the sender: not its fault, try again shortly.
        if isinstance(error, PoolTimeout):
            app.logger.error("database unavailable: every pooled connection is busy")
        else:
            app.logger.error("database unavailable: %s", type(error.orig).__name__)
        message = "database unavailable; nothing was stored, try again"
        headers = {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}
        if wants_json():
            return jsonify(error=message), 503, headers
        return error_page(503, "Service Unavailable", message), 503, headers

    app.register_error_handler(OperationalError, database_unavailable)
    app.register_error_handler(PoolTimeout, database_unavailable)


def error_page(code: int, title: str, message: str) -> str:
    """The console's styled page: what went wrong and what to do (escaped)."""
    from app.admin.errors import error_page as console_error_page

    return console_error_page(code, title, message)


def register_wsgi_layers(app: Flask, settings: Settings) -> None:
    """Callbacks answered ahead of Flask (app.webhooks.fast), then the trusted proxy
    headers applied ahead of both."""
    from app.webhooks.fast import FastWebhook

    app.wsgi_app = FastWebhook(app, app.wsgi_app)  # type: ignore[method-assign]
    trust_proxies(app, settings.trusted_proxies, settings.trusted_proxy_networks)


def register_commands(app: Flask) -> None:
    from app.cli import register

    register(app)
