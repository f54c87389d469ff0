"""API tokens for admins: make one (shown once, on the page that made it) or revoke one.
Every change is audited in the transaction that makes it."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app.admin import bp
from app.admin.access import client_address, current_actor, requires
from app.audit import actions, record
from app.db import transaction
from app.extensions import session_factory
from app.people import tokens
from app.people.roles import ROLE_NAMES, Role


@bp.get("/tokens", endpoint="tokens")
@requires(Role.ADMIN)
def tokens_page() -> ResponseReturnValue:
    with session_factory()() as db:
        live = tokens.live_tokens(db)
    return render_template("admin/tokens.html", tokens=live, role_choices=ROLE_NAMES, made=None)


@bp.post("/tokens")
@requires(Role.ADMIN)
def create_token() -> ResponseReturnValue:
    name = request.form.get("name", "").strip()
    role = request.form.get("role", "")
    try:
        with transaction(session_factory()) as db:
            secret = tokens.create(db, name, role, created_by=current_actor())
            record(
                db,
                actor=current_actor(),
                address=client_address(),
                action=actions.TOKEN_CREATE,
                detail=f"{name} ({role})",
            )
    except tokens.TokenRefused as refused:
        flash(f"Token not made: {refused}.", "error")
        return redirect(url_for("admin.tokens"))
    with session_factory()() as db:
        live = tokens.live_tokens(db)
    # Shown on this answer only (no redirect: the secret is never stored, so a
    # reload cannot show it again; Cache-Control no-store is on every console page).
    return render_template(
        "admin/tokens.html", tokens=live, role_choices=ROLE_NAMES, made=(name, secret)
    )


@bp.post("/tokens/<name>/revoke")
@requires(Role.ADMIN)
def revoke_token(name: str) -> ResponseReturnValue:
    with transaction(session_factory()) as db:
        done = tokens.revoke(db, name)
        if done:
            record(
                db,
                actor=current_actor(),
                address=client_address(),
                action=actions.TOKEN_REVOKE,
                detail=name[:64],
            )
    if done:
        flash(f"Token {name!r} revoked: it stopped working at once.", "success")
    else:
        flash("No live token of that name; nothing was changed.", "error")
    return redirect(url_for("admin.tokens"))
