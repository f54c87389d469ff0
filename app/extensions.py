"""Per-app shared objects (settings, engine, session factory, caches, the store), kept
on ``app.extensions`` under one key: every per-app object is a field of ``Extensions``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from flask import Flask, current_app
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import (
    WORKER_POOL,
    GroupCommit,
    is_postgresql,
    make_engine,
    make_session_factory,
    run_retrying_once_on_disconnect,
    transaction,
)
from app.recordings.overview import OverviewCache
from app.storage import ArchiveStore, make_store

KEY = "recording_archiver"
T = TypeVar("T")


@dataclass
class Extensions:
    settings: Settings
    sessions: sessionmaker[Session]
    # PostgreSQL: the sessions' engine in autocommit, for work done in one
    # statement. Same pool: one process holds one pool's worth of connections.
    autocommit: Engine | None = None
    # The one engine of this process (None under a test's connection).
    engine: Engine | None = None

    # Made on first use, once per app.
    @cached_property
    def admin_overview(self) -> OverviewCache:
        """The console's overview figures."""
        return OverviewCache(self.sessions)

    @cached_property
    def metrics_overview(self) -> OverviewCache:
        """The overview figures /metrics reports (scrapes come often: kept 10 s)."""
        return OverviewCache(self.sessions, fresh_seconds=10.0)

    @cached_property
    def group_commit(self) -> GroupCommit | None:
        """Callbacks' writes committed together (PostgreSQL; None elsewhere and
        under a test's connection, where each is its own statement)."""
        if self.engine is None or self.autocommit is None:
            return None
        return GroupCommit(self.engine)

    @cached_property
    def store(self) -> ArchiveStore:
        """The archive store the console reads, serves and deletes through."""
        return make_store(self.settings)

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

    def run_one_statement(self, work: Callable[[Connection], T]) -> T:
        """``work`` on a ``one_statement`` connection, run once more on a fresh one when
        its pooled connection had died (a database restart): ``work`` must be one
        idempotent statement."""

        def attempt() -> T:
            with self.one_statement() as connection:
                return work(connection)

        return run_retrying_once_on_disconnect(attempt)


def init_extensions(
    app: Flask,
    settings: Settings,
    bind: Engine | Connection | None = None,
    *,
    for_worker: bool = False,
) -> Extensions:
    """Set up the database access for ``app``.

    ``bind`` is for tests: a connection inside an open transaction makes every
    request's commit a savepoint release, and the test rolls it all back.
    ``for_worker``: the app is built for ``flask worker``, whose loop uses this
    engine (the only one in its process), sized for a worker.
    """
    engine: Engine | None = None
    if isinstance(bind, Connection):
        sessions = sessionmaker(
            bind=bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        autocommit = None
    else:
        pool = WORKER_POOL if for_worker and settings.is_postgres else {}
        engine = bind or make_engine(settings.database_url, **pool)
        sessions = make_session_factory(engine)
        # Options on the same engine share its pool (each connection is put back
        # in its transactional mode when returned): two pools per process held
        # twice the connections a plan allows for nothing.
        autocommit = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if is_postgresql(engine)
            else None
        )
    ext = Extensions(settings=settings, sessions=sessions, autocommit=autocommit, engine=engine)
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
