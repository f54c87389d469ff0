"""Bearer tokens: every API request names its token; its role decides what it may do."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import g, has_request_context, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from app.audit import record
from app.extensions import session_factory
from app.people import tokens

F = TypeVar("F", bound=Callable[..., ResponseReturnValue])
RANK = {role: rank for rank, role in enumerate(tokens.ROLES)}


def error(status: int, message: str, **headers: str) -> ResponseReturnValue:
    response = jsonify(error=message)
    response.status_code = status
    response.headers.update(headers)
    return response


def require_token() -> ResponseReturnValue | None:
    """Installed on the API blueprint: a request without a live token goes no further."""
    given = request.headers.get("Authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return error(
            401,
            "send Authorization: Bearer <token> (make one with flask --app app tokens create)",
            **{"WWW-Authenticate": 'Bearer realm="recordings"'},
        )
    with session_factory()() as db:
        holder = tokens.holder_of(db, token.strip())
    if holder is None:
        return error(
            401,
            "the token is unknown or revoked",
            **{"WWW-Authenticate": 'Bearer realm="recordings", error="invalid_token"'},
        )
    g.token_holder = holder
    return None


def holder() -> tokens.TokenHolder:
    return cast(tokens.TokenHolder, g.token_holder)


def requires(role: str) -> Callable[[F], F]:
    """Refuse (403) a token whose role ranks below ``role``."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            if RANK.get(holder().role, -1) < RANK[role]:
                return error(403, f"this needs a token with the {role} role or above")
            return view(*args, **kwargs)

        return cast(F, checked)

    return decorate


def audit(
    db: Session, *, actor: str, action: str, recording_sid: str | None, detail: str = ""
) -> None:
    """Write the audit entry in ``db``'s transaction, before the answer goes out."""
    # As the trusted-proxy rules give it; a command run on the server has none.
    address = request.remote_addr if has_request_context() else None
    record(
        db, actor=actor, address=address, action=action, recording_sid=recording_sid, detail=detail
    )
