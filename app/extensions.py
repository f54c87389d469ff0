"""Per-app shared objects (settings, engine, session factory), kept on ``app.extensions``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import make_engine, make_session_factory, transaction

KEY = "recording_archiver"


@dataclass
class Extensions:
    settings: Settings
    sessions: sessionmaker[Session]
    # PostgreSQL: connections in autocommit, for work done in one statement.
    autocommit: Engine | None = None

    @contextmanager
    def one_statement(self) -> Iterator[Connection]:
        """A connection for work that is a single, self-contained statement.

        On PostgreSQL it runs in autocommit (the statement is atomic by itself,
        and BEGIN and COMMIT would cost two more round trips); elsewhere, and
        under a test's open transaction, in a transaction of its own.
        """
        if self.autocommit is not None:
            with self.autocommit.connect() as connection:
                yield connection
            return
        with transaction(self.sessions) as session:
            yield session.connection()


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
        autocommit = None
    else:
        engine = bind or make_engine(settings.database_url)
        sessions = make_session_factory(engine)
        autocommit = (
            make_engine(settings.database_url, isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else None
        )
    ext = Extensions(settings=settings, sessions=sessions, autocommit=autocommit)
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
