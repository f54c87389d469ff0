"""The URL a provider called, as it called it: what its signature covers."""

from __future__ import annotations

from urllib.parse import quote

from flask import Request

from app.web import public_origin


def requested_url(request: Request, public_url: str | None) -> str:
    """The origin from ``PUBLIC_URL`` when set (then no header can choose the URL
    a signature is checked against: a callback signed for another deployment
    on the same account, sent here with that deployment's ``Host``, fails);
    otherwise scheme and host as the public saw them (ProxyFix applies the
    trusted ``X-Forwarded-*``). Path and query string byte for byte as sent.

    ``request.url`` would not do: Werkzeug decodes the query string (``%2C``
    becomes ``,``), and providers sign the encoded form.
    """
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw and raw.startswith("/"):
        path_and_query = raw  # already includes any SCRIPT_NAME prefix
    else:
        path_and_query = quote(request.script_root + request.path)
        query = request.environ.get("QUERY_STRING", "")
        if query:
            path_and_query += "?" + query
    return f"{public_origin(request, public_url)}{path_and_query}"
