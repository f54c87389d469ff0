"""What every request gets, whatever blueprint serves it: proxy headers believed only
from peers that can be a proxy, and one request id shared by the log lines and the
access log."""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, Response, g, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

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


def bound_body_reads() -> None:
    connection = request.environ.get("gunicorn.socket")
    if connection is not None:
        connection.settimeout(BODY_READ_SECONDS)


def assign_request_id() -> None:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given[:128] if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    REQUEST_ID.set(g.request_id)  # every log line of this request carries it


def echo_request_id(response: Response) -> Response:
    # The access log prints this response header: one id in both logs.
    response.headers[REQUEST_ID_HEADER] = g.get("request_id") or ""
    return response


class ConsoleSessions(SecureCookieSessionInterface):
    """Sessions only where there is someone to remember: the admin console.

    A provider's callback (or a scrape) never carries the cookie; unpacking
    and signing a session for each one costs the webhook for nothing.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith("/admin"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def init_web(app: Flask, hops: int, networks: Iterable[Network]) -> None:
    app.session_interface = ConsoleSessions()
    if hops:
        app.wsgi_app = TrustedProxies(app.wsgi_app, hops, networks)  # type: ignore[method-assign]
    app.before_request(bound_body_reads)
    app.before_request(assign_request_id)
    app.after_request(echo_request_id)
