"""Who is signed in to the console, and what their role lets them do.

``current_user()`` resolves the request's server-side session once (cached on
``g``); ``@requires(Role.X)`` refuses everyone below X with ``403`` (the
console's page for a browser, JSON for a script); templates get
``signed_in`` and ``Role`` to leave out what the role may not use.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import abort, g, request, session

from app.audit import actions
from app.db import run_retrying_once_on_disconnect, transaction, utcnow
from app.extensions import get_settings, session_factory
from app.people import sessions
from app.people.roles import Role

F = TypeVar("F", bound=Callable[..., Any])
SESSION_KEY = "sid"  # the Flask session's field holding the console session's token


def lifetimes() -> sessions.Lifetimes:
    settings = get_settings()
    return sessions.Lifetimes(
        idle=dt.timedelta(minutes=settings.session_idle_minutes),
        absolute=dt.timedelta(hours=settings.session_max_hours),
    )


def env_admin_binding() -> str | None:
    settings = get_settings()
    return sessions.credential_binding(
        settings.secret_key or "", settings.admin_username, settings.admin_password
    )


def current_user() -> sessions.SignedIn | None:
    """The signed-in person of this request, or None (never signed in, or their
    session ended: logout, password or role change, removal, expiry)."""
    if "signed_in" in g:
        return cast(sessions.SignedIn | None, g.signed_in)
    token = session.get(SESSION_KEY)
    who = None
    if isinstance(token, str):

        def resolve() -> sessions.SignedIn | None:
            with transaction(session_factory()) as db:
                return sessions.resolve(db, token, lifetimes(), env_admin_binding(), utcnow())

        # The first query of every console request: after a database restart its
        # pooled connection is dead, and the look-up (which only touches the
        # session's last use) is safe to run again.
        who = run_retrying_once_on_disconnect(resolve)
    g.signed_in = who
    return who


def current_actor() -> str:
    """The audit log's actor for this request (``user:<name>``)."""
    who = current_user()
    return who.actor if who else "anonymous"


def client_address() -> str | None:
    """The client's address as the trusted-proxy rules give it (``app.web``)."""
    return request.remote_addr


def requires(role: Role) -> Callable[[F], F]:
    """A view only ``role`` and above may use; anyone else gets ``403``."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            who = current_user()
            if who is None or not who.allows(role):
                have = who.role if who else "none"
                abort(403, f"this needs the {role} role; your login has {have}")
            return view(*args, **kwargs)

        return cast(F, guarded)

    return decorate


def template_globals() -> dict[str, Any]:
    return {"signed_in": current_user(), "Role": Role, "audit_actions": actions}
