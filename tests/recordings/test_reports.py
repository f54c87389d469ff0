"""``record_callback`` under real concurrency: separate connections, released at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

from sqlalchemy import Engine, func, select

from app.db import make_session_factory, transaction
from app.providers import PROVIDERS
from app.recordings.models import ArchiveState, Recording, RecordingEvent
from app.recordings.reports import CallbackEvent, record_callback
from tests.helpers import recording_params, recording_sid

RACERS = 4


def test_identical_callbacks_racing_on_separate_connections_store_one_of_each(live_engine: Engine):
    sessions = make_session_factory(live_engine)
    sids = [recording_sid(n) for n in range(100, 130)]
    barrier = Barrier(RACERS)

    def race(sid: str) -> list[bool]:
        params = recording_params("completed", sid=sid)
        callback = PROVIDERS["twilio"].parse_callback(params)
        delivery = CallbackEvent("POST", params, "127.0.0.1", None, None)

        def one(_: int) -> bool:
            barrier.wait(timeout=30)
            with transaction(sessions) as session:
                return record_callback(session, callback, delivery)

        with ThreadPoolExecutor(RACERS) as pool:
            return list(pool.map(one, range(RACERS)))

    for sid in sids:
        results = race(sid)
        assert results.count(True) == 1, f"{sid}: {results}"

    with live_engine.connect() as connection:
        recordings = connection.execute(
            select(Recording.recording_sid, Recording.archive_state)
        ).all()
        events = connection.execute(select(func.count()).select_from(RecordingEvent)).scalar_one()
    assert sorted(r.recording_sid for r in recordings) == sids
    assert {r.archive_state for r in recordings} == {ArchiveState.QUEUED}
    assert events == len(sids)


def test_completed_racing_in_progress_always_ends_completed(live_engine: Engine):
    sessions = make_session_factory(live_engine)
    barrier = Barrier(2)
    sids = [recording_sid(n) for n in range(200, 220)]
    for sid in sids:
        deliveries = []
        for status in ("in-progress", "completed"):
            params = recording_params(status, sid=sid)
            deliveries.append(
                (
                    PROVIDERS["twilio"].parse_callback(params),
                    CallbackEvent("POST", params, None, None, None),
                )
            )

        def one(pair):  # type: ignore[no-untyped-def]
            barrier.wait(timeout=30)
            with transaction(sessions) as session:
                return record_callback(session, *pair)

        with ThreadPoolExecutor(2) as pool:
            assert all(pool.map(one, deliveries))

    with live_engine.connect() as connection:
        rows = connection.execute(select(Recording.provider_status, Recording.archive_state)).all()
    assert len(rows) == len(sids)
    assert set(rows) == {("completed", ArchiveState.QUEUED)}
