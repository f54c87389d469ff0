"""The URL a provider called, as it called it: what its signature covers."""

from __future__ import annotations

from urllib.parse import quote

from flask import Request


def requested_url(request: Request) -> str:
    """Scheme and host as the public saw them (ProxyFix applies the trusted
    ``X-Forwarded-*``), path and query string byte for byte as sent.

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
    return f"{request.scheme}://{request.host}{path_and_query}"
