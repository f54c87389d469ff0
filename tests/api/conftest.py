"""The API's fixtures: a local archive folder, tokens of each role, recordings seeded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from app.people import tokens


@pytest.fixture
def archive_dir(tmp_path: Path) -> Path:
    return tmp_path / "archive"


@pytest.fixture
def settings_overrides(archive_dir: Path) -> dict[str, Any]:
    return {"local_archive_dir": str(archive_dir)}


def make_token(connection: Connection, name: str, role: str) -> str:
    with Session(bind=connection, join_transaction_mode="create_savepoint") as db:
        secret = tokens.create(db, name, role, created_by="test")
        db.commit()
    return secret


@pytest.fixture
def bearer(app: Flask, connection: Connection) -> dict[str, dict[str, str]]:
    """``Authorization`` headers for a token of each role."""
    return {
        role: {"Authorization": f"Bearer {make_token(connection, f'{role}-token', role)}"}
        for role in tokens.ROLES
    }
