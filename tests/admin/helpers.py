"""Helpers for the admin console's tests: log in as a browser would, seed recordings."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from app.recordings.models import ArchiveState, Recording

USERNAME = "operator"
PASSWORD = "correct horse battery staple"
HTML = {"Accept": "text/html"}
_numbers = itertools.count(1)


def csrf_token(client: FlaskClient, path: str = "/admin/login") -> str:
    page = client.get(path, headers=HTML).get_data(as_text=True)
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    assert match, page
    return match.group(1)


def log_in(client: FlaskClient, username: str = USERNAME, password: str = PASSWORD) -> Any:
    token = csrf_token(client)
    return client.post(
        "/admin/login",
        data={"csrf_token": token, "username": username, "password": password},
        headers=HTML,
    )


def seed(connection: Connection, **fields: Any) -> Recording:
    """One recording row, as the webhook and worker would have left it."""
    n = next(_numbers)
    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
    values: dict[str, Any] = {
        "provider": "twilio",
        "account_sid": "AC" + "0" * 32,
        "recording_sid": f"RE{n:032x}",
        "call_sid": f"CA{n:032x}",
        "provider_status": "completed",
        "archive_state": ArchiveState.DONE,
        "channels": 2,
        "duration_seconds": 42,
        "recorded_at": now + dt.timedelta(minutes=n),
        "created_at": now,
        "updated_at": now,
    }
    values.update(fields)
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        recording = Recording(**values)
        session.add(recording)
        session.commit()
        session.refresh(recording)
        session.expunge(recording)
    return recording
