"""The recording-status callback served without Flask's per-request machinery.

A callback is the one request the service gets by the thousand per second, and
under wrk Flask's request context, URL matching, before/after-request hooks and
response object cost about a sixth of its CPU (py-spy; bench/RESULTS.md). This
WSGI layer answers exactly ``POST /webhooks/<provider>/recording-status`` with
a form body of known length itself, and hands every other request (other
paths and methods, a chunked or oversized body, another content type, a
``TRUSTED_HOSTS`` deployment) to Flask untouched, before reading anything.

What it serves behaves as the Flask view would, because it is the same code
(``app.webhooks.receive.receive``), run in an app context: the same checks,
refusals, writes and log lines. What the app does around the view for such a
request is done here too, in the same order: the body read bounded in time
(``app.web.bound_body_reads``), the request id (``assign_request_id``), its
echo in ``X-Request-Id`` (``echo_request_id``; the app's other after-request
hooks leave a webhook's answer alone), the ``CALLBACKS`` count. An exception
(a 408 for a body that did not arrive, a 503 for the database) is answered by
the app's own error handlers and after-request hooks, in a request context
made for it; the test of all this is tests/webhooks, which goes through here.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, abort, g
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.datastructures import EnvironHeaders, MultiDict
from werkzeug.exceptions import ClientDisconnected, HTTPException
from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header
from werkzeug.wsgi import get_host, get_input_stream

from app.extensions import KEY, Extensions
from app.providers import PROVIDERS
from app.providers.base import IncomingCallback, Provider
from app.telemetry import CALLBACKS
from app.web import REQUEST_ID_HEADER, assign_request_id_from, bound_body_reads_of
from app.webhooks.receive import Arrival, receive

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

FORM = "application/x-www-form-urlencoded"
PREFIX = "/webhooks/"
SUFFIX = "/recording-status"


class FastWebhook:
    """``app.wsgi_app`` for callbacks, ``flask`` (the app's own) for everything else."""

    def __init__(self, app: Flask, flask: WSGIApplication) -> None:
        self.app = app
        self.flask = flask
        self.parser = FormDataParser(cls=MultiDict)

    def provider_for(self, wsgi_env: WSGIEnvironment) -> Provider | None:
        """The provider this request is a callback from, when it is one served here."""
        if wsgi_env.get("REQUEST_METHOD") != "POST" or wsgi_env.get("SCRIPT_NAME"):
            return None
        path: str = wsgi_env.get("PATH_INFO", "")
        if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
            return None
        provider = PROVIDERS.get(path[len(PREFIX) : -len(SUFFIX)])
        if provider is None or wsgi_env.get("HTTP_TRANSFER_ENCODING"):
            return None
        mimetype, _options = parse_options_header(wsgi_env.get("CONTENT_TYPE", ""))
        if mimetype != FORM or self.app.config.get("TRUSTED_HOSTS"):
            return None
        try:
            length = int(wsgi_env.get("CONTENT_LENGTH", ""))
        except ValueError:
            return None
        limit = self.app.config.get("MAX_CONTENT_LENGTH")
        if length < 0 or (limit is not None and length > limit):
            return None  # Flask's 413
        return provider

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        provider = self.provider_for(environ)
        if provider is None:
            return self.flask(environ, start_response)
        ext: Extensions = self.app.extensions[KEY]
        with self.app.app_context():
            bound_body_reads_of(environ)
            g.request_id = assign_request_id_from(self.given_request_id(environ))
            body = b""
            try:
                body = self.read_body(environ)
                response = receive(provider, self.arrival(environ, body, ext, g.request_id))
            except Exception as exc:  # noqa: BLE001 - answered as Flask would (handle_error)
                return self.handle_error(environ, start_response, provider, body, exc)
            self.count(provider, response.status_code)
            response.headers[REQUEST_ID_HEADER] = g.request_id
            return response(environ, start_response)

    @staticmethod
    def given_request_id(wsgi_env: WSGIEnvironment) -> str:
        return str(wsgi_env.get("HTTP_X_REQUEST_ID", ""))

    def read_body(self, wsgi_env: WSGIEnvironment) -> bytes:
        # As Flask's request.get_data: under gunicorn (wsgi.input_terminated) the limit
        # is what wraps the stream in Werkzeug's, which turns a read that fails or
        # times out into ClientDisconnected.
        limit = self.app.config.get("MAX_CONTENT_LENGTH")
        try:
            return get_input_stream(wsgi_env, max_content_length=limit).read()
        except ClientDisconnected:
            # As app.webhooks.receive.read_body: cut off, or too slow (BODY_READ_SECONDS).
            abort(408, "the request body did not arrive in time; nothing was stored")

    def arrival(
        self, wsgi_env: WSGIEnvironment, body: bytes, ext: Extensions, request_id: str
    ) -> Arrival:
        """What ``app.webhooks.receive.current_arrival`` makes of a Flask request, from
        the wsgi_env (Werkzeug's own parsers, so the same form and host)."""
        mimetype, options = parse_options_header(wsgi_env.get("CONTENT_TYPE", ""))
        _stream, form, _files = self.parser.parse(io.BytesIO(body), mimetype, len(body), options)
        path = wsgi_env.get("PATH_INFO", "")
        raw = wsgi_env.get("RAW_URI") or wsgi_env.get("REQUEST_URI")
        # app.webhooks.public_url.requested_url, for a request with no SCRIPT_NAME
        # and an ASCII path (the only ones served here).
        if not (raw and raw.startswith("/")):
            raw = path + (f"?{wsgi_env['QUERY_STRING']}" if wsgi_env.get("QUERY_STRING") else "")
        origin = ext.settings.public_url or f"{wsgi_env['wsgi.url_scheme']}://{get_host(wsgi_env)}"
        callback = IncomingCallback(
            method="POST",
            url=origin + raw,
            headers={name.lower(): value for name, value in EnvironHeaders(wsgi_env).items()},
            body=body,
            params=form,
            form=form,
        )
        return Arrival(
            callback=callback,
            params=form,
            path=path,
            remote_addr=wsgi_env.get("REMOTE_ADDR"),
            request_id=request_id,
        )

    def count(self, provider: Provider, code: int) -> None:
        CALLBACKS.labels(provider.name, g.get("callback_status", "unknown"), str(code)).inc()

    def handle_error(
        self,
        wsgi_env: WSGIEnvironment,
        start_response: StartResponse,
        provider: Provider,
        body: bytes,
        exc: Exception,
    ) -> Iterable[bytes]:
        """What Flask's ``full_dispatch_request`` and ``handle_exception`` do with an
        exception raised by the view: its handler (or the 500 one), then the
        after-request hooks; and the count, as the view's ``finally`` makes it."""
        app = self.app
        if isinstance(exc, HTTPException):
            code = exc.code or 500
        elif isinstance(exc, (OperationalError, PoolTimeout)):
            code = 503
        else:
            code = 500
        self.count(provider, code)
        wsgi_env["wsgi.input"] = io.BytesIO(body)  # what was read, for any handler
        wsgi_env["CONTENT_LENGTH"] = str(len(body))
        with app.request_context(wsgi_env):  # joins the app context (and its g)
            try:
                rv: Any = app.handle_user_exception(exc)
                response: Response = app.finalize_request(rv)
            except Exception as unhandled:  # noqa: BLE001 - no handler: Flask's 500 (raised when testing)
                response = app.handle_exception(unhandled)
            return response(wsgi_env, start_response)
