"""Engine, sessions and the declarative base.

Transactions begin and end at the edge: one per web request, one per worker
step. Code below the edge receives a ``Session`` and never commits by itself.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    DateTime,
    Dialect,
    Engine,
    Enum,
    MetaData,
    Table,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)
T = TypeVar("T")

# Alembic autogenerate and `alembic check` compare names, so every constraint and
# index gets a deterministic one.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The advisory lock `release` holds while migrating (PostgreSQL). Any fixed
# 64-bit number works; this one spells "recarchv" in ASCII.
MIGRATION_LOCK_ID = 0x7265636172636876


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no time zones and hands back naive values; this stores UTC and
    always returns an aware UTC datetime, so comparisons never mix the two.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def string_enum(states: type[enum.Enum], name: str) -> Enum:
    """A column of ``states`` stored as their values in a checked VARCHAR(16).

    Not a native PostgreSQL enum: adding a state is then a new CHECK, not an
    ALTER TYPE, and SQLite stores and checks it the same way.
    """
    return Enum(
        states,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Where the code differs by backend, it asks these: the service runs on
# PostgreSQL in production and on SQLite for development and most tests.
Bind = Session | Connection | Engine


def dialect_of(bind: Bind) -> str:
    """The backend ``bind`` talks to: ``"postgresql"`` or ``"sqlite"``."""
    engine_or_connection = bind.get_bind() if isinstance(bind, Session) else bind
    return engine_or_connection.dialect.name


def is_postgresql(bind: Bind) -> bool:
    return dialect_of(bind) == "postgresql"


def upsert_insert(bind: Bind | str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into ``table`` that can say ON CONFLICT, for ``bind``'s backend (or a
    dialect name). Both backends spell ON CONFLICT the same way; only the
    construct's home differs."""
    dialect = bind if isinstance(bind, str) else dialect_of(bind)
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; take
    # it over (SQLAlchemy's documented recipe). BEGIN IMMEDIATE takes the write
    # lock up front, so two writers queue on busy_timeout instead of one failing
    # half-way with "database is locked".
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    """Create the engine for ``database_url`` with the settings this service relies on."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    # No ping before each use: it costs a round trip on every request. A
    # connection the server dropped (a restart) fails its first statement;
    # SQLAlchemy then discards every connection the pool held from before, and
    # callers run the work once more on a fresh one (run_retrying_once_on_disconnect).
    kwargs.setdefault("pool_pre_ping", False)
    # A web worker serves many requests at once (gevent); connections opened
    # beyond the pool and closed again cost more than waiting a moment for one.
    kwargs.setdefault("pool_size", 8)
    kwargs.setdefault("max_overflow", 2)
    kwargs.setdefault("pool_timeout", 10)
    return create_engine(url, **kwargs)


# A worker does one recording at a time: two connections are all it ever holds
# at once (PostgreSQL; SQLite keeps its defaults).
WORKER_POOL: dict[str, Any] = {"pool_size": 2, "max_overflow": 0}


def connection_was_dead(exc: BaseException) -> bool:
    """Whether ``exc`` failed because its connection was gone (a server restart or
    fail-over), as opposed to the database refusing or not answering now."""
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def run_retrying_once_on_disconnect(work: Callable[[], T]) -> T:
    """Run ``work``; once more if it failed because its pooled connection was dead.

    With no ping before each use, every connection that was idle in the pool
    through a database restart fails its first statement. SQLAlchemy then
    invalidates that connection and, with it, every one the pool held from
    before the failure (``invalidate_pool_on_disconnect``, on by default), so
    the second run gets a fresh connection. A second failure is the database
    itself being away: it is raised (a 503 on the web, a wait in the worker).

    ``work`` must be safe to run twice: one idempotent statement, a read, or a
    transaction of its own (the dead connection committed nothing).
    """
    try:
        return work()
    except DBAPIError as exc:
        if not connection_was_dead(exc):
            raise
        log.warning(
            "a pooled database connection was dead (%s); running it once more on a fresh one",
            type(exc.orig).__name__,
        )
    return work()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with factory() as session, session.begin():
        yield session
