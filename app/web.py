"""What every request gets, whatever blueprint serves it: proxy headers believed only
from peers that can be a proxy, and one request id shared by the log lines and the
access log."""

from __future__ import annotations

import functools
import ipaddress
import re
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from flask import Flask, Request, Response, g, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import RequestRedirect

from app.db import run_retrying_once_on_disconnect
from app.telemetry import REQUEST_ID

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

REQUEST_ID_HEADER = "X-Request-Id"
# A request id the sender chose (a proxy's, say) is kept, cut to the column's
# 128 characters, when it is printable ASCII; otherwise we make one.
_REQUEST_ID = re.compile(r"[\x21-\x7e]+")


class TrustedProxies:
    """Apply ``X-Forwarded-*`` only when the connection comes from a proxy network.

    A platform's router (Heroku's) or a local TLS proxy connects from a
    private or loopback address; a client on the internet connecting straight
    to the port does not, and then cannot choose the address we store nor the
    scheme and host its signature is checked against.
    """

    def __init__(self, app: WSGIApplication, hops: int, networks: Iterable[Network]) -> None:
        self.direct = app
        self.proxied = ProxyFix(app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
        self.networks = tuple(networks)

    def peer_is_proxy(self, peer: str | None) -> bool:
        if not peer:
            return False
        try:
            address = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        if self.peer_is_proxy(environ.get("REMOTE_ADDR")):
            return self.proxied(environ, start_response)
        return self.direct(environ, start_response)


# How long a client may take to send its body once it has sent its headers
# (gunicorn bounds the headers). A stalled sender then gets a 408 and its
# connection is freed, instead of being held open for ever.
BODY_READ_SECONDS = 10.0


def public_origin(request: Request, public_url: str | None) -> str:
    """``scheme://host[:port]`` that absolute URLs name: signature checks, redirects, links.

    ``PUBLIC_URL`` when set (``Settings.public_url``), whatever ``Host`` or
    ``X-Forwarded-*`` say: a request cannot choose it. Unset: the request's
    scheme and host, after the trusted proxy headers (``TrustedProxies``).
    Webhooks and the console both use this one (they may not import each other).
    """
    return public_url or f"{request.scheme}://{request.host}"


def bound_body_reads() -> None:
    bound_body_reads_of(request.environ)


def bound_body_reads_of(wsgi_env: WSGIEnvironment) -> None:
    connection = wsgi_env.get("gunicorn.socket")
    if connection is not None:
        connection.settimeout(BODY_READ_SECONDS)


def assign_request_id() -> None:
    g.request_id = assign_request_id_from(request.headers.get(REQUEST_ID_HEADER, ""))


def assign_request_id_from(given: str) -> str:
    """The request id for a request whose ``X-Request-Id`` is ``given`` ("" when it
    has none), set for every log line of this request to carry."""
    request_id = given[:128] if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    REQUEST_ID.set(request_id)
    return request_id


def echo_request_id(response: Response) -> Response:
    # The access log prints this response header: one id in both logs.
    response.headers[REQUEST_ID_HEADER] = g.get("request_id") or ""
    return response


class ConsoleSessions(SecureCookieSessionInterface):
    """Sessions only where there is someone to remember: the admin console.

    A provider's callback (or a scrape) never carries the cookie; unpacking
    and signing a session for each one costs the webhook for nothing.
    """

    def __init__(self, public_https: bool = False) -> None:
        self.public_https = public_https

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith("/admin"):
            return self.make_null_session(app)
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        """``Secure`` when this request came by https (as the trusted proxy says)
        or the public origin is https. One app-wide answer cannot be right: a
        browser drops a Secure cookie set over plain http to another machine
        (``HOST=0.0.0.0``), and then no login survives to its CSRF check."""
        return self.public_https or request.is_secure


SAFE_METHODS = frozenset({"GET", "HEAD"})


def retry_reads_once_on_disconnect(app: Flask, blueprint: str) -> None:
    """Every GET and HEAD page of ``blueprint`` runs once more when its pooled database
    connection had died (a restart): such a page changes nothing, so it can be run
    again whole, whichever query met the dead connection. Other methods are left
    alone: a form's second run could do its work twice."""
    prefix = f"{blueprint}."
    for endpoint, view in list(app.view_functions.items()):
        if endpoint.startswith(prefix):
            app.view_functions[endpoint] = _reads_retried(view)


def _reads_retried(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def retried(**kwargs: Any) -> Any:
        if request.method not in SAFE_METHODS:
            return view(**kwargs)
        return run_retrying_once_on_disconnect(lambda: view(**kwargs))

    return retried


class RedirectsHome:
    """A redirect to our own origin names ``PUBLIC_URL``, or only the path.

    Werkzeug's slash redirect (``/admin`` to ``/admin/``) is absolute, built
    from whatever ``Host`` the request gave, and Flask sends it past every
    error handler: without this a request (or a cache in front) could send a
    browser to a host of its choosing. Redirects elsewhere (a store's
    presigned URL) are left alone.
    """

    def __init__(self, public_url: str | None) -> None:
        self.public_url = public_url

    def __call__(self, response: Response) -> Response:
        location = response.headers.get("Location")
        if not (300 <= response.status_code < 400 and location):
            return response
        parts = urlsplit(location)
        if not parts.scheme and not parts.netloc:
            return response  # already a path
        given = f"{request.scheme}://{request.host}".lower()
        # Werkzeug's own redirect is always to us, even when it could not
        # spell the host (an invalid one gives "http:///admin/").
        slash_redirect = isinstance(request.routing_exception, RequestRedirect)
        if not slash_redirect and f"{parts.scheme}://{parts.netloc}".lower() != given:
            return response
        # "//x" would be read as another host: one leading slash only.
        path = "/" + urlunsplit(("", "", parts.path, parts.query, parts.fragment)).lstrip("/")
        response.headers["Location"] = (self.public_url or "") + path
        return response


def init_web(app: Flask, *, public_url: str | None = None) -> None:
    app.session_interface = ConsoleSessions(
        public_https=bool(public_url and public_url.startswith("https:"))
    )
    app.after_request(RedirectsHome(public_url))
    app.before_request(bound_body_reads)
    app.before_request(assign_request_id)
    app.after_request(echo_request_id)


def trust_proxies(app: Flask, hops: int, networks: Iterable[Network]) -> None:
    """The outermost WSGI layer (after any other is in place): every layer inside,
    Flask's and ``app.webhooks.fast``'s, sees the request as the proxy forwarded it."""
    if hops:
        app.wsgi_app = TrustedProxies(app.wsgi_app, hops, networks)  # type: ignore[method-assign]
