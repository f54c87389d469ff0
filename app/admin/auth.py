"""Signing in and out; every other admin page and action refuses anyone else.

A sign-in starts a server-side session (``app.people.sessions``); the cookie
holds only its random token."""

from __future__ import annotations

import hmac
import math
import re
from dataclasses import dataclass

from flask import jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from app import audit
from app.admin import bp, lockout
from app.admin.access import (
    SESSION_KEY,
    client_address,
    current_actor,
    current_user,
    env_admin_binding,
)
from app.audit import actions
from app.db import transaction, utcnow
from app.extensions import get_settings, session_factory
from app.people import passwords, sessions, users
from app.people.models import User
from app.people.roles import Role

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
    if current_user() is not None:
        return None
    if wants_html():
        return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
    response = jsonify(error="log in at /admin/login first")
    response.status_code = 401
    return response


@dataclass(frozen=True)
class Checked:
    """What one password check found: the user (None: the env admin, or nobody)."""

    ok: bool
    user_id: int | None
    known_name: bool


def check_credentials(username: str, password: str) -> Checked:
    """Exactly one password check, whoever the name is (an unknown name costs as
    much as a known one). A user in the database is checked against their
    Argon2id hash; otherwise ADMIN_USERNAME's password, in constant time."""
    settings = get_settings()
    profile = settings.password_hash_profile
    with session_factory()() as db:
        user = users.find(db, username)
    if user is not None:
        return Checked(
            passwords.password_matches(user.password_hash, password, profile), user.id, True
        )
    if settings.admin_username and settings.admin_password:
        name_ok = hmac.compare_digest(username.encode(), settings.admin_username.encode())
        password_ok = passwords.configured_password_matches(settings.admin_password, password)
        return Checked(name_ok and password_ok, None, name_ok)
    return Checked(passwords.password_matches(None, password, profile), None, False)


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
    username = form.username.data or ""
    address = client_address()
    with transaction(session_factory()) as db:
        # Counted (and committed) before the password is checked: a simultaneous
        # try then finds the lock this one set (see lockout).
        verdict = lockout.claim(db, address, username, utcnow())
        if not verdict.allowed:
            audit.record(
                db,
                actor="anonymous",
                address=address,
                action=actions.LOGIN_FAILED,
                detail="refused: locked out",
            )
    if not verdict.allowed:
        error = f"too many failed logins; try again in {math.ceil(verdict.wait)} s"
        return render_template(
            "admin/login.html", form=form, configured=configured, error=error, next=next_page
        ), 429
    checked = check_credentials(username, form.password.data or "")
    # A name nobody has is not written down: it may be a password typed in
    # the wrong field.
    actor = actions.user_actor(username) if checked.known_name else "anonymous"
    with transaction(session_factory()) as db:
        if not checked.ok:
            audit.record(
                db,
                actor=actor,
                address=address,
                action=actions.LOGIN_FAILED,
                detail="wrong password" if checked.known_name else "no such user",
            )
        else:
            lockout.clear(db, address, username)
            user = db.get(User, checked.user_id) if checked.user_id is not None else None
            token = sessions.start(db, user=user, name=username, binding=env_admin_binding())
            role = user.role if user else Role.ADMIN
            audit.record(
                db, actor=actor, address=address, action=actions.LOGIN, detail=f"as {role}"
            )
    if not checked.ok:
        error = "wrong username or password"
        return render_template(
            "admin/login.html", form=form, configured=configured, error=error, next=next_page
        ), 401
    session.clear()  # a fresh session: nothing from before the login survives it
    session[SESSION_KEY] = token
    session.permanent = True
    return redirect(safe_next(next_page))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    token = session.get(SESSION_KEY)
    if isinstance(token, str):
        with transaction(session_factory()) as db:
            sessions.end(db, token)
            audit.record(db, actor=current_actor(), address=client_address(), action=actions.LOGOUT)
    session.clear()
    return redirect(url_for("admin.login"))
