"""A worker whose pooled connections died in a database restart goes on at once: it
claims and archives on fresh connections, spending no try and not waiting as if the
database were away."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine

from app.archive.pipeline import Archiver
from app.db import WORKER_POOL, make_engine, make_session_factory
from app.recordings.models import ArchiveState
from app.storage import make_store
from tests.archive.helpers import queue_recording, recording
from tests.database_restart import restart_database
from tests.fakes.compat_api import Body
from tests.helpers import recording_sid


@pytest.mark.postgres_only
@pytest.mark.restarts_database
def test_a_worker_claims_and_archives_right_after_a_restart_without_a_try_or_a_wait(
    archive_settings,
    database_url,
    engine: Engine,
    live_engine: Engine,
    sessions,
    fake_twilio,
    caplog,
) -> None:
    # The worker's own engine, as `flask worker` makes it; the suite's are emptied.
    worker_engine = make_engine(database_url, **WORKER_POOL)
    archiver = Archiver(
        archive_settings,
        make_session_factory(worker_engine),
        make_store(archive_settings),
        "restart-test",
    )
    try:
        first, second = recording_sid(8101), recording_sid(8102)
        for sid in (first, second):
            fake_twilio.add_recording(sid, mono=Body(size=20_000, seed=81))
        queue_recording(sessions, fake_twilio, first, channels=1)
        assert archiver.run_once()  # its pool now holds connections
        assert not archiver.run_once()
        restart_database(database_url, engine, live_engine)
        queue_recording(sessions, fake_twilio, second, channels=1)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert archiver.run_once()
    finally:
        worker_engine.dispose()
    row = recording(sessions, second)
    assert row.archive_state is ArchiveState.DONE, row.last_error
    assert row.attempts == 1
    said = [r.getMessage() for r in caplog.records]
    assert not any("database unavailable" in line for line in said), said
    # (and it did meet a dead connection: the test restarted under a warm pool)
    assert any("pooled database connection was dead" in line for line in said), said
