"""Engine, sessions and the declarative base.

Transactions begin and end at the edge: one per web request, one per worker
step. Code below the edge receives a ``Session`` and never commits by itself.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import (
    Connection,
    DateTime,
    Dialect,
    Engine,
    Enum,
    Executable,
    MetaData,
    Table,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    import psycopg

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


# One write a caller wants committed: a statement and its parameters. A unit of
# work that must commit together (one callback, say) is a list of these.
Write = tuple[Executable, Mapping[str, Any]]


@dataclass
class _Pending:
    writes: list[Write]
    order: tuple[str, ...]
    done: threading.Event = field(default_factory=threading.Event)
    # The first row of each write, once committed; None: not committed here
    # (the caller then runs its writes on its own).
    rows: list[Any] | None = None


class _DriverStatement:
    """A statement compiled once to the driver's SQL, with its parameters' conversions,
    so a batch runs on the psycopg connection without SQLAlchemy per execution."""

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        self.compiled = compiled
        self.sql: str = compiled.string
        self.processors = {
            key: processor
            for key, bind in compiled.binds.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect))
        }

    def parameters(self, values: Mapping[str, Any]) -> dict[str, Any]:
        built: dict[str, Any] = self.compiled.construct_params(dict(values))
        for key, processor in self.processors.items():
            if key in built:
                built[key] = processor(built[key])
        return built


class GroupCommit:
    """Many callers' small units of work, committed together: one transaction, one
    round trip and one COMMIT for whatever arrived while the last batch was in flight.

    Each caller waits until its batch's COMMIT has returned, so what it answers
    still means "committed". A batch that fails for any reason (a database
    restart, a deadlock, a refusal) commits nothing, and each of its callers then
    runs its own writes alone (``run``), exactly as without group commit: one
    caller's bad write, or a batch's bad luck, is never another caller's error.

    PostgreSQL only (psycopg's pipeline mode sends BEGIN, every statement and
    COMMIT without waiting between them). One committer thread per process,
    started on first use (after gunicorn's fork and gevent's patching: under
    gevent the thread, its lock and events are greenlets and gevent's, and its
    database waits cooperate like a request's). It holds one pooled connection
    while a batch runs.
    """

    def __init__(self, engine: Engine, *, max_batch: int = 100) -> None:
        # ``engine`` as made (not in autocommit): a unit run alone is a transaction.
        self._engine = engine
        self._max_batch = max_batch
        self._condition = threading.Condition()
        self._queue: list[_Pending] = []
        self._statements: dict[int, tuple[Executable, _DriverStatement]] = {}
        self._committer_pid: int | None = None

    def run(self, writes: list[Write], *, order: tuple[str, ...] = ()) -> list[Any]:
        """Commit ``writes`` (one unit: all or nothing) with whatever else is pending;
        the first row of each write's result (None when it returned none).

        ``order`` sorts the units of a batch, so that two processes' batches take
        their row locks in the same order and cannot deadlock each other (pass the
        keys of the rows the writes lock, e.g. provider and recording SID).
        ``writes`` must be idempotent: a batch whose COMMIT was lost with its
        connection may have committed, and its units are then run once more alone.
        """
        pending = _Pending(writes, order)
        with self._condition:
            self._start_committer()
            self._queue.append(pending)
            self._condition.notify()
        pending.done.wait()
        if pending.rows is not None:
            return pending.rows
        return run_retrying_once_on_disconnect(lambda: self._run_alone(writes))

    def prepare(self, statements: list[Executable]) -> None:
        """Compile ``statements`` now (a few hundred ms for the callback's), not in the
        first caller's wait."""
        for statement in statements:
            self._driver_statement(statement)

    def waiting(self) -> int:
        """How many units wait for the next batch (the one in flight not counted)."""
        with self._condition:
            return len(self._queue)

    def _run_alone(self, writes: list[Write]) -> list[Any]:
        with self._engine.begin() as connection:
            return [connection.execute(s, dict(values)).first() for s, values in writes]

    def _start_committer(self) -> None:
        if self._committer_pid == os.getpid():
            return
        # (A fork copies this object but not its thread.)
        self._committer_pid = os.getpid()
        threading.Thread(target=self._commit_forever, name="group-commit", daemon=True).start()

    def _commit_forever(self) -> None:
        while True:
            with self._condition:
                while not self._queue:
                    self._condition.wait()
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
            try:
                self._commit(batch)
            except Exception:
                # A bug, not the database (those are handled in _commit): said loudly,
                # and the thread goes on, or every later caller would wait forever.
                log.exception("group commit: a batch of %d failed unexpectedly", len(batch))
            finally:
                # Whatever happened, nobody is left waiting: an uncommitted unit
                # (rows still None) is run by its own caller.
                for pending in batch:
                    pending.done.set()

    def _driver_statement(self, statement: Executable) -> _DriverStatement:
        known = self._statements.get(id(statement))
        if known is None or known[0] is not statement:
            known = (statement, _DriverStatement(statement, self._engine.dialect))
            self._statements[id(statement)] = known
        return known[1]

    def _commit(self, batch: list[_Pending]) -> None:
        import psycopg  # (not at import time: gevent patches first, see gunicorn.conf.py)

        batch = sorted(batch, key=lambda pending: pending.order)
        try:
            prepared = [
                [(self._driver_statement(s), values) for s, values in pending.writes]
                for pending in batch
            ]
            with self._engine.connect() as connection:
                try:
                    rows = self._pipeline(connection, prepared)
                except psycopg.Error:
                    # Outside SQLAlchemy's view: the connection may be dead or in
                    # an unknown state, so it is not given back to the pool.
                    connection.invalidate()
                    raise
        except (psycopg.Error, SQLAlchemyError) as exc:
            log.warning(
                "a group commit of %d failed (%s); each is run on its own",
                len(batch),
                type(exc).__name__,
            )
            return
        for pending, unit_rows in zip(batch, rows, strict=True):
            pending.rows = unit_rows

    @staticmethod
    def _pipeline(
        connection: Connection, prepared: list[list[tuple[_DriverStatement, Mapping[str, Any]]]]
    ) -> list[list[Any]]:
        driver = cast("psycopg.Connection[Any]", connection.connection.driver_connection)
        cursors: list[list[psycopg.Cursor[Any]]] = []
        with driver.pipeline(), driver.transaction():
            for unit in prepared:
                unit_cursors = []
                for statement, values in unit:
                    cursor = driver.cursor()
                    cursor.execute(statement.sql, statement.parameters(values))
                    unit_cursors.append(cursor)
                cursors.append(unit_cursors)
        # The transaction's end has waited for COMMIT: every result is in.
        return [
            [cursor.fetchone() if cursor.description else None for cursor in unit]
            for unit in cursors
        ]
