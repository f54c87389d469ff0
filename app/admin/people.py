"""The admins' pages: users (add, role, reset password, remove; who is signed in)
and the audit log. Every change is audited in its own transaction."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from app.admin import bp
from app.admin.access import client_address, current_actor, lifetimes, requires
from app.audit import actions, queries
from app.db import transaction, utcnow
from app.extensions import get_settings, session_factory
from app.people import sessions, users
from app.people.models import NAME_LENGTH
from app.people.passwords import MAX_LENGTH, PasswordRefused
from app.people.roles import ROLE_NAMES, Role

AUDIT_PAGE_SIZE = 100
_SID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_ACTOR = re.compile(r"(user|token|share):[^\s]{1,150}|cli|anonymous")
ROLE_CHOICES = list(ROLE_NAMES)


class AddUserForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF has no type hints
    name = StringField("Name", validators=[DataRequired(), Length(max=NAME_LENGTH)])
    role = SelectField("Role", choices=ROLE_CHOICES)
    password = PasswordField("Password", validators=[DataRequired(), Length(max=MAX_LENGTH)])


class RoleForm(FlaskForm):  # type: ignore[misc]
    role = SelectField("Role", choices=ROLE_CHOICES)


class PasswordForm(FlaskForm):  # type: ignore[misc]
    password = PasswordField("Password", validators=[DataRequired(), Length(max=MAX_LENGTH)])


class EmptyForm(FlaskForm):  # type: ignore[misc]
    """Only the CSRF token."""


@bp.get("/users", endpoint="users")
@requires(Role.ADMIN)
def users_page() -> ResponseReturnValue:
    with session_factory()() as db:
        everyone = users.all_users(db)
        signed_in_now = sessions.signed_in_now(db, lifetimes(), utcnow())
    return render_template(
        "admin/users.html",
        users=everyone,
        signed_in_now=signed_in_now,
        add_form=AddUserForm(formdata=None),
        role_choices=ROLE_NAMES,
    )


def _back() -> ResponseReturnValue:
    return redirect(url_for("admin.users"))


def _change(work: str, run: Callable[[Session], object]) -> ResponseReturnValue:
    """Run one audited change; a refusal is flashed, naming the reason."""
    try:
        with transaction(session_factory()) as db:
            run(db)
    except (users.UserRefused, PasswordRefused) as refused:
        flash(f"{work}: {refused}; nothing was changed.", "error")
        return _back()
    flash(f"{work}: done.", "success")
    return _back()


@bp.post("/users/add")
@requires(Role.ADMIN)
def add_user() -> ResponseReturnValue:
    form = AddUserForm()
    if not form.validate_on_submit():
        flash(f"Add a user: {_form_problem(form)}; nothing was changed.", "error")
        return _back()
    name, role, password = form.name.data.strip(), Role(form.role.data), form.password.data
    return _change(
        f"Add {name}",
        lambda db: users.add(
            db,
            name,
            role,
            password,
            actor=current_actor(),
            address=client_address(),
            hash_profile=get_settings().password_hash_profile,
        ),
    )


@bp.post("/users/<name>/role")
@requires(Role.ADMIN)
def set_user_role(name: str) -> ResponseReturnValue:
    form = RoleForm()
    if not form.validate_on_submit():
        flash(f"Change {name}'s role: {_form_problem(form)}; nothing was changed.", "error")
        return _back()
    role = Role(form.role.data)
    return _change(
        f"{name}'s role to {role}",
        lambda db: users.set_role(db, name, role, actor=current_actor(), address=client_address()),
    )


@bp.post("/users/<name>/password")
@requires(Role.ADMIN)
def set_user_password(name: str) -> ResponseReturnValue:
    form = PasswordForm()
    if not form.validate_on_submit():
        flash(f"Reset {name}'s password: {_form_problem(form)}; nothing was changed.", "error")
        return _back()
    password = form.password.data
    return _change(
        f"Reset {name}'s password",
        lambda db: users.set_password(
            db,
            name,
            password,
            actor=current_actor(),
            address=client_address(),
            hash_profile=get_settings().password_hash_profile,
        ),
    )


@bp.post("/users/<name>/remove")
@requires(Role.ADMIN)
def remove_user(name: str) -> ResponseReturnValue:
    if not EmptyForm().validate_on_submit():
        abort(400, "the form expired; try again")
    return _change(
        f"Remove {name}",
        lambda db: users.remove(db, name, actor=current_actor(), address=client_address()),
    )


def _form_problem(form: FlaskForm) -> str:
    return "; ".join(
        f"{getattr(form, field).label.text.lower()}: {' '.join(errors)}"
        for field, errors in form.errors.items()
    )


def _audit_filter(args: dict[str, str]) -> tuple[queries.AuditFilter, dict[str, str], str | None]:
    problems = []
    query: dict[str, str] = {}
    fields: dict[str, object] = {}
    for name in ("user", "action", "sid", "from", "to"):
        value = args.get(name, "").strip()
        if not value:
            continue
        if name == "user":
            actor = value if ":" in value or value in ("cli", "anonymous") else f"user:{value}"
            if not _ACTOR.fullmatch(actor):
                problems.append("user is a name, or an actor such as token:NAME or cli")
                continue
            fields["actor"] = actor
        elif name == "action":
            if value not in actions.ALL:
                problems.append(f"no action called {value!r}")
                continue
            fields["action"] = value
        elif name == "sid":
            if not _SID.fullmatch(value):
                problems.append("a SID has only letters, digits and - _ . :")
                continue
            fields["recording_sid"] = value
        else:
            try:
                day = dt.date.fromisoformat(value)
            except ValueError:
                problems.append(f"{name} must be a date such as 2026-12-02")
                continue
            if day >= dt.date.max:
                problems.append(f"{name} must be a date before {dt.date.max}")
                continue
            fields["since" if name == "from" else "until"] = day
        query[name] = value
    return queries.AuditFilter(**fields), query, "; ".join(problems) or None  # type: ignore[arg-type]


def _audit_url(**query: str) -> str:
    values: dict[str, Any] = dict(query)
    return url_for("admin.audit_log", **values)


@bp.get("/audit")
@requires(Role.ADMIN)
def audit_log() -> ResponseReturnValue:
    where, query, problem = _audit_filter(request.args.to_dict())
    before = None
    if raw := request.args.get("before"):
        if raw.isascii() and raw.isdigit() and len(raw) <= 19:
            before = int(raw)
        else:
            problem = "; ".join(filter(None, [problem, "before= is not a page link of ours"]))
    rows = []
    next_url = None
    if not problem:
        with session_factory()() as db:
            found = queries.page(db, where, before, AUDIT_PAGE_SIZE)
        rows = list(found.rows)
        if found.next_before is not None:
            next_url = _audit_url(**query, before=str(found.next_before))
    return render_template(
        "admin/audit.html",
        rows=rows,
        query=query,
        problem=problem,
        action_names=actions.ALL,
        next_page_url=next_url,
        first_page_url=_audit_url(**query) if before else None,
    ), 400 if problem else 200
