"""The console's error pages: the console's look, what went wrong, and what to do next.

A browser gets these for every refusal outside the machines' paths (which
answer JSON); the message names the field or reason, the advice says what a
person can do about it.
"""

from __future__ import annotations

import logging

from flask import g, render_template, url_for
from flask_wtf.csrf import CSRFError
from markupsafe import escape

log = logging.getLogger(__name__)

ADVICE = {
    400: "Check the address or the form, correct what the message names, and try again.",
    401: "Log in, then try again.",
    403: "Your login does not allow this. Ask an admin, or go back to the recordings.",
    404: "Check the address, or find the recording from the listing.",
    405: "This address does not take that kind of request: use the console's own links "
    "and buttons.",
    409: "The store cannot do this for this recording, for the reason above; nothing was changed.",
    408: "Your browser took too long to send the request; try again.",
    413: "Send less at once, then try again.",
    429: "Too many requests: wait a minute, then try again.",
    500: "Something went wrong on our side. Try again; if it happens again, give whoever "
    "runs this service the request id below: the log has the details.",
    503: "Try again in a minute. If it lasts, whoever runs this service should check the "
    "database (/readyz says whether it answers).",
}
CSRF_ADVICE = (
    "Your session expired, or this browser did not keep the console's cookie (cookies "
    "blocked for this site, or a Secure cookie on a plain-http address). Sign in again; if "
    "this keeps happening, allow cookies for this site or open it with https."
)


def error_page(code: int, title: str, message: str, advice: str | None = None) -> str:
    """The console's page for an error; a bare page if even that cannot be drawn
    (the error may be in the templates themselves)."""
    links = [("Recordings", url_for("admin.listing"))]
    if code in (400, 401) or not g.get("signed_in"):
        links.insert(0, ("Sign in", url_for("admin.login")))
    try:
        return render_template(
            "admin/error.html",
            code=code,
            title=title,
            message=message,
            advice=advice or ADVICE.get(code, ADVICE[500 if code >= 500 else 400]),
            links=links,
            request_id=g.get("request_id"),
        )
    except Exception:  # any failure to draw the page must still answer the error
        log.exception("the %s error page could not be drawn", code)
        return (
            "<!doctype html><html lang=en><meta charset=utf-8>"
            f"<title>{code} {escape(title)}</title>"
            f"<h1>{code} {escape(title)}</h1><p>{escape(message)}</p></html>"
        )


def csrf_refused(error: CSRFError) -> tuple[str, int]:
    # Flask-WTF's reason ("The CSRF session token is missing.") stays in the
    # message: it is what a search engine knows.
    message = f"The form could not be checked: {error.description}"
    log.info("form refused: %s", error.description)
    return error_page(400, "Bad Request", message, CSRF_ADVICE), 400
