"""Logging in and out; every other admin page and action refuses anyone else."""

from __future__ import annotations

import hmac
import math
import re

from flask import jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from app.admin import bp, lockout
from app.db import transaction, utcnow
from app.extensions import get_settings, session_factory

OPEN_ENDPOINTS = {"admin.login", "admin.static"}
# Control characters cannot go in a Location header (CR/LF would end it):
# such a ``next`` is refused before the login, not found unsendable after it.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class LoginForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF has no type hints
    username = StringField("Username", validators=[DataRequired(), Length(max=128)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


def wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "text/html"


def require_login() -> ResponseReturnValue | None:
    """Installed on the app, ahead of the CSRF check: a stranger is told to log in,
    whatever else is wrong with the request."""
    if request.blueprint != "admin" or request.endpoint in OPEN_ENDPOINTS:
        return None
    if session.get("admin"):
        return None
    if wants_html():
        return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
    response = jsonify(error="log in at /admin/login first")
    response.status_code = 401
    return response


def credentials_match(username: str, password: str) -> bool:
    """Both compared in constant time, both always compared."""
    settings = get_settings()
    if not settings.admin_username or not settings.admin_password:
        return False
    user_ok = hmac.compare_digest(username.encode(), settings.admin_username.encode())
    password_ok = hmac.compare_digest(password.encode(), settings.admin_password.encode())
    return user_ok and password_ok


def safe_next(target: str | None) -> str:
    """Only back into the console: never an open redirect."""
    if target and target.startswith("/admin/") and not target.startswith("//"):
        return target
    return url_for("admin.listing")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    settings = get_settings()
    configured = bool(settings.admin_username and settings.admin_password)
    form = LoginForm()
    next_page = request.args.get("next")
    if next_page and _CONTROL.search(next_page):
        error = "next must be a page of the console, without control characters; log in here"
        return render_template(
            "admin/login.html", form=form, configured=configured, error=error, next=None
        ), 400
    if request.method == "GET":
        return render_template(
            "admin/login.html", form=form, configured=configured, error=None, next=next_page
        )
    if not form.validate_on_submit():
        error = "the form expired or was incomplete; try again"
        return render_template(
            "admin/login.html", form=form, configured=configured, error=error, next=next_page
        ), 400
    keys = lockout.keys_for(request.remote_addr, form.username.data or "")
    now = utcnow()
    with transaction(session_factory()) as db:
        wait = lockout.locked_for(db, keys, now)
        if wait > 0:
            error = f"too many failed logins; try again in {math.ceil(wait)} s"
            return render_template(
                "admin/login.html", form=form, configured=configured, error=error, next=next_page
            ), 429
        ok = credentials_match(form.username.data or "", form.password.data or "")
        if ok:
            lockout.clear(db, keys)
        else:
            lockout.record_failure(db, keys, now)
    if not ok:
        error = "wrong username or password"
        return render_template(
            "admin/login.html", form=form, configured=configured, error=error, next=next_page
        ), 401
    session.clear()  # a fresh session: nothing from before the login survives it
    session["admin"] = form.username.data
    session.permanent = True
    return redirect(safe_next(next_page))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    session.clear()
    return redirect(url_for("admin.login"))
