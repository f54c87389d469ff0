"""Retention of the history tables, on SQLite and PostgreSQL alike: old rows go,
in bounded batches, and nothing an unfinished recording still needs."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.admin.lockout import FORGET_AFTER, prune_forgotten
from app.admin.models import AdminLoginFailure
from app.config import Settings
from app.db import make_session_factory, transaction, utcnow
from app.recordings.models import (
    ArchiveAttempt,
    ArchiveState,
    AttemptOutcome,
    Recording,
    RecordingEvent,
)
from app.recordings.pruning import (
    PRUNE_KIND,
    PruneSchedule,
    prune_attempts,
    prune_events,
    retention_steps,
)
from app.work.models import WorkItem, WorkStatus
from tests.helpers import ACCOUNT_SID, recording_sid

NOW = utcnow()
OLD = NOW - dt.timedelta(days=40)
RECENT = NOW - dt.timedelta(days=1)
KEEP = dt.timedelta(days=30)


@pytest.fixture
def session(connection):
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        yield session


def add_recording(session: Session, n: int, state: ArchiveState) -> Recording:
    recording = Recording(
        provider="twilio",
        account_sid=ACCOUNT_SID,
        recording_sid=recording_sid(n),
        provider_status="completed",
        media_url="https://api.twilio.com/x",
        archive_state=state,
        attempts=1,
        created_at=OLD,
        updated_at=OLD,
    )
    session.add(recording)
    session.flush()
    return recording


def add_event(session: Session, n: int, received_at: dt.datetime, tag: str = "") -> None:
    session.add(
        RecordingEvent(
            provider="twilio",
            dedup_key=f"{n}-{received_at.isoformat()}-{tag}",
            account_sid=ACCOUNT_SID,
            recording_sid=recording_sid(n),
            recording_status="completed",
            params={},
            method="POST",
            received_at=received_at,
        )
    )
    session.flush()


def add_attempt(session: Session, recording: Recording, ended_at: dt.datetime) -> None:
    session.add(
        ArchiveAttempt(
            recording_id=recording.id,
            number=1,
            worker_id="w",
            started_at=ended_at,
            ended_at=ended_at,
            outcome=AttemptOutcome.DONE,
        )
    )
    session.flush()


def events_of(session: Session, n: int) -> int:
    return session.scalar(
        select(func.count())
        .select_from(RecordingEvent)
        .where(RecordingEvent.recording_sid == recording_sid(n))
    )


def attempts_of(session: Session, recording: Recording) -> int:
    return session.scalar(
        select(func.count())
        .select_from(ArchiveAttempt)
        .where(ArchiveAttempt.recording_id == recording.id)
    )


def test_old_callbacks_of_finished_recordings_go_and_recent_ones_stay(session):
    add_recording(session, 1, ArchiveState.DONE)
    add_recording(session, 2, ArchiveState.NO_MEDIA)
    for n in (1, 2, 3):  # 3: a callback of no recording we keep (an early status)
        add_event(session, n, OLD)
        add_event(session, n, RECENT)
    assert prune_events(session, NOW - KEEP) == 3
    assert [events_of(session, n) for n in (1, 2, 3)] == [1, 1, 1]


def test_callbacks_of_unfinished_recordings_are_kept_however_old(session):
    states = [ArchiveState.WAITING, ArchiveState.QUEUED, ArchiveState.RUNNING, ArchiveState.FAILED]
    for n, state in enumerate(states, 1):
        add_recording(session, n, state)
        add_event(session, n, OLD)
    assert prune_events(session, NOW - KEEP) == 0
    assert [events_of(session, n) for n in range(1, 5)] == [1, 1, 1, 1]


def test_callbacks_go_in_batches_of_the_limit(session):
    add_recording(session, 1, ArchiveState.DONE)
    for tag in "abcde":
        add_event(session, 1, OLD, tag)
    assert prune_events(session, NOW - KEEP, limit=2) == 2
    assert prune_events(session, NOW - KEEP, limit=2) == 2
    assert prune_events(session, NOW - KEEP, limit=2) == 1
    assert events_of(session, 1) == 0


def test_old_tries_of_done_recordings_go_and_a_failed_ones_tries_stay(session):
    done = add_recording(session, 1, ArchiveState.DONE)
    failed = add_recording(session, 2, ArchiveState.FAILED)
    queued = add_recording(session, 3, ArchiveState.QUEUED)
    for recording in (done, failed, queued):
        add_attempt(session, recording, OLD)
        add_attempt(session, recording, RECENT)
    assert prune_attempts(session, NOW - KEEP) == 1
    assert [attempts_of(session, r) for r in (done, failed, queued)] == [1, 2, 2]


def add_failure(session: Session, key: str, last: dt.datetime, locked_until: dt.datetime | None):
    session.add(
        AdminLoginFailure(key=key, failures=5, last_failed_at=last, locked_until=locked_until)
    )
    session.flush()


def test_login_failures_are_forgotten_only_once_old_and_unlocked(session):
    long_ago = NOW - FORGET_AFTER - dt.timedelta(hours=1)
    add_failure(session, "user:old", long_ago, long_ago + dt.timedelta(minutes=15))
    add_failure(session, "user:never-locked", long_ago, None)
    add_failure(session, "user:recent", NOW - dt.timedelta(hours=1), None)
    add_failure(session, "user:still-locked", long_ago, NOW + dt.timedelta(minutes=5))
    assert prune_forgotten(session, NOW, 100) == 2
    kept = session.scalars(select(AdminLoginFailure.key).order_by(AdminLoginFailure.key)).all()
    assert kept == ["user:recent", "user:still-locked"]


def test_unset_retention_asks_for_no_pruning_of_the_history_tables():
    assert retention_steps(Settings()) == []
    steps = retention_steps(Settings(events_retention_days=30, attempts_retention_days=90))
    assert [(name, keep.days) for name, _, keep in steps] == [
        ("recording_events", 30),
        ("archive_attempts", 90),
    ]


def test_one_scheduled_run_prunes_every_table_in_bounded_turns(live_engine: Engine):
    sessions = make_session_factory(live_engine)
    with transaction(sessions) as session:
        done = add_recording(session, 1, ArchiveState.DONE)
        for tag in "abcde":
            add_event(session, 1, OLD, tag)
        add_event(session, 1, RECENT)
        add_attempt(session, done, OLD)
        add_attempt(session, done, RECENT)
    settings = Settings(events_retention_days=30, attempts_retention_days=30)
    stop = threading.Event()
    first = PruneSchedule(sessions, retention_steps(settings), "w1", stop, batch=2)
    second = PruneSchedule(sessions, retention_steps(settings), "w2", stop, batch=2)
    assert first.turn()  # claims the period, one batch per table
    assert not second.turn()  # one worker of all
    turns = 1
    while first.turn():
        turns += 1
        assert turns < 10, "the run never finished"
    assert turns == 3  # 5 old callbacks in batches of 2; the last turn finishes
    with sessions() as session:
        assert events_of(session, 1) == 1
        assert attempts_of(session, session.get(Recording, done.id)) == 1
        item = session.scalars(select(WorkItem).where(WorkItem.kind == PRUNE_KIND)).one()
        assert item.status is WorkStatus.DONE
        assert item.result == "recording_events: 5 deleted, archive_attempts: 1 deleted"
