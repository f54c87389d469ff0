"""Claims, leases and the retry command, on the real database."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from app.db import make_session_factory, transaction, utcnow
from app.recordings import queue
from app.recordings.models import ArchiveState, Recording
from tests.helpers import ACCOUNT_SID, recording_sid


def add_recordings(session: Session, count: int, state=ArchiveState.QUEUED, start: int = 1) -> None:
    now = utcnow()
    for n in range(start, start + count):
        session.add(
            Recording(
                provider="twilio",
                account_sid=ACCOUNT_SID,
                recording_sid=recording_sid(n),
                provider_status="completed",
                media_url="https://api.twilio.com/x",
                archive_state=state,
                attempts=0,
                next_attempt_at=now - dt.timedelta(seconds=1)
                if state is ArchiveState.QUEUED
                else None,
                created_at=now,
                updated_at=now,
            )
        )
    session.flush()


@pytest.fixture
def session(connection):
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        yield session


def test_a_claim_takes_a_lease_and_counts_an_attempt(session):
    add_recordings(session, 1)
    claim = queue.claim_next(session, "w1", lease_seconds=60)
    assert claim is not None and claim.attempts == 1
    row = session.get(Recording, claim.id)
    assert row.archive_state is ArchiveState.RUNNING
    assert row.lease_holder == "w1"
    assert row.lease_expires_at == row.next_attempt_at
    assert queue.claim_next(session, "w2", lease_seconds=60) is None


def test_an_expired_lease_is_taken_over(session):
    add_recordings(session, 1)
    first = queue.claim_next(session, "w1", lease_seconds=60)
    later = utcnow() + dt.timedelta(seconds=61)
    second = queue.claim_next(session, "w2", lease_seconds=60, now=later)
    assert second is not None and second.id == first.id and second.attempts == 2
    # The old holder can no longer write.
    assert not queue.mark_done(session, first.id, "w1")
    assert queue.mark_done(session, first.id, "w2")


def test_a_retry_waits_until_its_time(session):
    add_recordings(session, 1)
    claim = queue.claim_next(session, "w1", lease_seconds=60)
    at = utcnow() + dt.timedelta(seconds=30)
    assert queue.schedule_retry(session, claim.id, "w1", "HTTP 500", at)
    assert queue.claim_next(session, "w1", lease_seconds=60) is None
    again = queue.claim_next(session, "w1", 60, now=at + dt.timedelta(seconds=1))
    assert again is not None and again.attempts == 2


def test_waiting_and_finished_recordings_are_never_claimed(session):
    for n, state in enumerate(
        [ArchiveState.WAITING, ArchiveState.DONE, ArchiveState.FAILED, ArchiveState.NO_MEDIA], 1
    ):
        add_recordings(session, 1, state=state, start=n)
    assert queue.claim_next(session, "w1", lease_seconds=60) is None


def test_release_gives_the_recording_back_without_counting_an_attempt(session):
    add_recordings(session, 1)
    claim = queue.claim_next(session, "w1", lease_seconds=60)
    assert queue.release(session, claim.id, "w1")
    again = queue.claim_next(session, "w2", lease_seconds=60)
    assert again is not None and again.attempts == 1


def test_retry_failed_requeues_every_failed_recording(app, runner, connection):
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        add_recordings(session, 3, state=ArchiveState.FAILED)
        add_recordings(session, 1, state=ArchiveState.DONE, start=10)
        session.commit()
    result = runner.invoke(args=["retry-failed"])
    assert result.exit_code == 0, result.output
    assert "requeued 3" in result.output
    states = connection.execute(select(Recording.archive_state, Recording.attempts)).all()
    assert sorted(s.value for s, _ in states) == ["done", "queued", "queued", "queued"]


def test_concurrent_claims_never_hand_one_recording_to_two_workers(live_engine: Engine):
    sessions = make_session_factory(live_engine)
    with transaction(sessions) as session:
        add_recordings(session, 60)
    barrier = Barrier(4)

    def claim_all(worker: str) -> list[int]:
        barrier.wait(timeout=30)
        claimed = []
        while True:
            with transaction(sessions) as session:
                claim = queue.claim_next(session, worker, lease_seconds=60)
            if claim is None:
                return claimed
            claimed.append(claim.id)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(claim_all, ["w1", "w2", "w3", "w4"]))
    every = [rid for ids in results for rid in ids]
    assert len(every) == 60
    assert len(set(every)) == 60
    with live_engine.begin() as connection:
        holders = connection.execute(select(Recording.lease_holder)).scalars().all()
        connection.execute(update(Recording).values(lease_holder=None))
    assert None not in holders
