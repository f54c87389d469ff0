"""Fixtures shared by the suite.

The database under test is ``TEST_DATABASE_URL`` (the test command starts a
throwaway PostgreSQL and sets it); without it, a SQLite file in a temporary
folder. Each test runs inside a transaction that is rolled back, except the
``live_*`` tests, which commit for real across processes and clean up after.

Under pytest-xdist each worker has a database of its own (SQLite: its own temporary
folder; PostgreSQL: ``<database>_<worker>``, made here). With ``TEST_DATABASE_URL`` set,
only the tests that reach a database run: the rest ran in the SQLite pass already
(``--run-database-free`` runs them too). The tests marked ``one_database`` assert nothing
a database changes (what a browser shows, the OpenAPI document's promises) and cost whole
processes: with ``TEST_POSTGRESQL_PASS_FOLLOWS=1`` (scripts/test's SQLite pass) they are
deselected, to run once, on PostgreSQL, the production database.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from app.config import normalise_database_url
from app.db import make_engine
from tests.fakes.compat_api import FakeCompatApi, FakeTwilioApi
from tests.fakes.seaweed import SeaweedS3
from tests.fakes.telnyx_api import FakeTelnyx
from tests.helpers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SIGNALWIRE_PROJECT,
    SIGNALWIRE_TOKEN,
    TELNYX_ACCOUNT,
    TELNYX_API_KEY,
    alembic_config,
    base_settings,
)
from tests.procfile import process_env, run_release

# Every fixture that reaches a database (engine, connection, app, client, live_engine, the
# processes' environments...) depends on this one: a test whose fixture closure lacks it
# touches no database, and runs the same on SQLite and PostgreSQL.
DATABASE_FIXTURE = "database_url"
DATABASE_FREE_KEY = "database_free_deselected"
_database_free = pytest.StashKey[int]()
ONE_DATABASE_KEY = "one_database_deselected"
_one_database = pytest.StashKey[int]()


class SharedTemplates(BytecodeCache):
    """Compiled templates kept in memory for every app this process builds.

    Each test builds its own app, and each app its own Jinja environment, which compiled
    the console's templates from source again (about 8 ms a template, 5-10 ms of most
    console tests). Jinja checks the source's checksum before using a cached one, and
    every app here has the same Jinja options, so the compiled code is the same.
    """

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if (data := self.compiled.get(bucket.key)) is not None:
            bucket.bytecode_from_string(data)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


def pytest_configure(config: pytest.Config) -> None:
    # Flask reads jinja_options when an app first makes its environment.
    Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": SharedTemplates()}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-database-free",
        action="store_true",
        help="with TEST_DATABASE_URL, also run the tests that touch no database "
        "(scripts/test runs them once, in the SQLite pass)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    record_restarting_files(items)
    if not os.environ.get("TEST_DATABASE_URL"):
        if os.environ.get("TEST_POSTGRESQL_PASS_FOLLOWS") == "1":
            deselect_one_database(config, items)
        return
    if config.getoption("--run-database-free"):
        return
    kept, free = [], []
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        (kept if DATABASE_FIXTURE in fixtures else free).append(item)
    if free:
        config.hook.pytest_deselected(items=free)
        items[:] = kept
    config.stash[_database_free] = len(free)


def record_restarting_files(items: list[pytest.Item]) -> None:
    """With ``TEST_RESTARTS_DATABASE_FILES`` set (scripts/test's parallel PostgreSQL pass),
    write there the files that hold a ``restarts_database`` test of this collection.

    The pass that runs those tests alone then collects only these files, not the whole
    suite again for five tests; the list comes from the markers pytest itself resolved
    (tryfirst: before ``-m`` and ``-k`` deselect), so it cannot go stale as a hand-kept
    list would. Under xdist every worker collects the same items and writes the same list.
    """
    target = os.environ.get("TEST_RESTARTS_DATABASE_FILES")
    if not target:
        return
    files = sorted(
        {str(item.path) for item in items if item.get_closest_marker("restarts_database")}
    )
    partial = f"{target}.{os.getpid()}"
    with open(partial, "w") as out:
        out.writelines(f"{name}\n" for name in files)
    os.replace(partial, target)  # whole, even with two workers writing it at once


def deselect_one_database(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The SQLite pass of a run whose PostgreSQL pass follows leaves it the one_database
    tests (a plain ``pytest`` on SQLite, without the variable, runs them)."""
    kept, once = [], []
    for item in items:
        (kept if item.get_closest_marker("one_database") is None else once).append(item)
    if once:
        config.hook.pytest_deselected(items=once)
        config.stash[_one_database] = len(once)
        items[:] = kept


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)  # an xdist worker
    if workeroutput is not None:
        workeroutput[DATABASE_FREE_KEY] = session.config.stash.get(_database_free, 0)
        workeroutput[ONE_DATABASE_KEY] = session.config.stash.get(_one_database, 0)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist: each worker collects and deselects on its own; they all count the same."""
    output = getattr(node, "workeroutput", {})
    for key, stash_key in ((DATABASE_FREE_KEY, _database_free), (ONE_DATABASE_KEY, _one_database)):
        if output.get(key) is not None:
            node.config.stash[stash_key] = output[key]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    count = config.stash.get(_database_free, 0)
    if count:
        terminalreporter.write_line(
            f"{count} database-free tests deselected: with TEST_DATABASE_URL only the tests "
            f"that use the {DATABASE_FIXTURE} fixture run (the rest ran on SQLite; "
            "--run-database-free runs them here too)"
        )
    count = config.stash.get(_one_database, 0)
    if count:
        terminalreporter.write_line(
            f"{count} one_database tests deselected: TEST_POSTGRESQL_PASS_FOLLOWS=1 leaves "
            "them to the PostgreSQL pass"
        )


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("TEST_DATABASE_URL")
    if not given:
        # Under xdist, tmp_path_factory is per worker already: one SQLite file each.
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
        return
    url = normalise_database_url(given)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or not url.startswith("postgresql"):
        yield url
        return
    yield from worker_database(url, worker)


def worker_database(url: str, worker: str) -> Iterator[str]:
    """A database of this xdist worker's own next to the given one, dropped after, so
    that workers' live commits and migrations never meet."""
    given = make_url(url)
    name = f"{given.database}_{worker}"
    admin = create_engine(given, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield given.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """The schema exactly as the migrations build it (not ``create_all``)."""
    command.upgrade(alembic_config(database_url), "head")
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        outer = connection.begin()
        yield connection
        outer.rollback()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change the app's settings."""
    return {}


@pytest.fixture
def app(connection: Connection, database_url: str, settings_overrides: dict[str, Any]) -> Flask:
    settings = base_settings(database_url, **settings_overrides)
    app = create_app({"settings": settings, "bind": connection})
    app.config.update(TESTING=True)
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def live_engine(engine: Engine) -> Iterator[Engine]:
    """For tests whose writes must be seen by other connections and processes."""
    yield engine
    with engine.begin() as connection:
        for table in (
            "archive_attempts",
            "recording_events",
            "recordings",
            "admin_login_failures",
            "work_items",
            "metric_totals",
            "provider_accounts",
            "deliveries",
            "console_sessions",
            "users",
            "audit_entries",
        ):
            connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608


_buckets = itertools.count(1)


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    # boto3 reads credentials from the environment, in-process and in workers alike.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server = SeaweedS3(tmp_path_factory.mktemp("seaweed"))
    server.start()
    yield server
    # SIGTERM makes weed wait ~15 s for its own subscriptions; nothing is lost by SIGKILL.
    server.kill()


@pytest.fixture
def bucket(seaweed: SeaweedS3) -> str:
    name = f"archive-{os.getpid()}-{next(_buckets)}"
    seaweed.create_bucket(name)
    return name


@pytest.fixture
def s3(seaweed: SeaweedS3) -> Any:
    return seaweed.client()


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilioApi]:
    with FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN) as api:
        yield api


@pytest.fixture
def fake_signalwire() -> Iterator[FakeCompatApi]:
    with FakeCompatApi(SIGNALWIRE_PROJECT, SIGNALWIRE_TOKEN, path_prefix="/api/laml") as api:
        yield api


@pytest.fixture
def fake_telnyx() -> Iterator[FakeTelnyx]:
    with FakeTelnyx(TELNYX_ACCOUNT, TELNYX_API_KEY) as api:
        yield api


@pytest.fixture(scope="module")
def released(engine: Engine, database_url: str) -> None:
    """The Procfile's ``release`` once per module, for the tests that start its processes:
    it only migrates, and the schema does not change between tests (each one's rows are
    deleted after it, by ``live_engine``)."""
    result = run_release(process_env({"DATABASE_URL": database_url, "SECRET_KEY": "release"}))
    assert result.returncode == 0, result.stderr
