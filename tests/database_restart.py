"""Restart the test PostgreSQL for real (``TEST_DATABASE_RESTART``, set by scripts/test
under pg_virtualenv) and wait until it answers again."""

from __future__ import annotations

import os
import shlex
import subprocess
import time

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool


def restart_command(database_url: str) -> list[str]:
    """The restart command; skips the test where there is none (SQLite, a bare run)."""
    restart = os.environ.get("TEST_DATABASE_RESTART")
    if not database_url.startswith("postgresql") or not restart:
        pytest.skip("needs PostgreSQL and TEST_DATABASE_RESTART (scripts/test sets both)")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Every xdist worker's database is on this one server: a restart would break the
        # other workers' tests at random, so such a test must run alone.
        pytest.fail(
            "this test restarts the shared PostgreSQL under other xdist workers: mark it "
            "@pytest.mark.restarts_database (scripts/test runs those alone, after the rest)"
        )
    return shlex.split(restart)


def restart_database(database_url: str, *shared: Engine, timeout: float = 60) -> None:
    """Restart the server, wait until a new connection answers, and empty the pools
    of the suite's own ``shared`` engines (the engines under test keep theirs)."""
    subprocess.run(restart_command(database_url), check=True, timeout=timeout)
    probe = create_engine(database_url, poolclass=NullPool)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with probe.connect() as connection:
                    connection.execute(text("SELECT 1"))
                break
            except OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # still starting: poll again
    finally:
        probe.dispose()
    for engine in shared:
        engine.dispose()
