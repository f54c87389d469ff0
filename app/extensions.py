"""Per-app shared objects (settings, engine, session factory), kept on ``app.extensions``."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import make_engine, make_session_factory

KEY = "recording_archiver"


@dataclass
class Extensions:
    settings: Settings
    sessions: sessionmaker[Session]


def init_extensions(
    app: Flask, settings: Settings, bind: Engine | Connection | None = None
) -> Extensions:
    """Set up the database access for ``app``.

    ``bind`` is for tests: a connection inside an open transaction makes every
    request's commit a savepoint release, and the test rolls it all back.
    """
    if isinstance(bind, Connection):
        sessions = sessionmaker(
            bind=bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
    else:
        sessions = make_session_factory(bind or make_engine(settings.database_url))
    ext = Extensions(settings=settings, sessions=sessions)
    app.extensions[KEY] = ext
    return ext


def extensions(app: Flask | None = None) -> Extensions:
    target = app or current_app
    ext: Extensions = target.extensions[KEY]
    return ext


def get_settings() -> Settings:
    return extensions().settings


def session_factory() -> sessionmaker[Session]:
    return extensions().sessions
