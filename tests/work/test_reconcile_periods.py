"""The scheduled reconciliation as work items: a period walked a turn at a time."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.db import make_session_factory
from app.recordings.models import ArchiveState, Recording
from app.work.models import WorkItem, WorkStatus
from app.worker import ReconcileSchedule
from tests.fakes.compat_api import Body
from tests.helpers import make_settings, recording_sid


@pytest.fixture
def sessions(live_engine):
    return make_session_factory(live_engine)


def test_a_long_period_is_walked_in_short_turns_each_going_on_where_the_last_stopped(
    fake_twilio, database_url, sessions
):
    for n in range(6):
        fake_twilio.add_recording(recording_sid(700 + n), mono=Body(10, n))
    fake_twilio.max_page_size = 1
    fake_twilio.list_delay = 0.2
    settings = make_settings(
        database_url=database_url,
        twilio_account_sid=fake_twilio.account_sid,
        twilio_auth_token=fake_twilio.auth_token,
        twilio_api_base_url=fake_twilio.base_url,
        reconcile_every_minutes=60.0,
    )
    schedule = ReconcileSchedule(settings, sessions, owner="w1")
    turns = 0
    while schedule.turn(budget=0.05):
        turns += 1
        with sessions() as session:
            item = session.execute(
                select(WorkItem).where(WorkItem.kind == "reconcile")
            ).scalar_one()
        if item.status is WorkStatus.DONE:
            break
        # Between turns (when the worker archives) the period stays held.
        assert item.status is WorkStatus.RUNNING and item.lease_owner == "w1"
    assert turns >= 3, turns
    with sessions() as session:
        item = session.execute(select(WorkItem).where(WorkItem.kind == "reconcile")).scalar_one()
        queued = session.execute(select(Recording.archive_state)).scalars().all()
    assert item.status is WorkStatus.DONE, item.result
    assert "twilio: 6 recordings listed in 6 page(s)" in (item.result or "")
    assert queued == [ArchiveState.QUEUED] * 6
    # One walk of the listing, not one per turn.
    assert len([r for r in fake_twilio.requests if r.kind == "list"]) <= 7
    # A period done is not run again within the period.
    assert not schedule.turn(budget=0.05)
    schedule.next_look = 0.0
    assert not schedule.turn(budget=0.05)


def test_a_worker_stopping_between_turns_gives_its_period_back_due_at_once(
    fake_twilio, database_url, sessions
):
    for n in range(6):
        fake_twilio.add_recording(recording_sid(720 + n), mono=Body(10, n))
    fake_twilio.max_page_size = 1
    fake_twilio.list_delay = 0.2
    settings = make_settings(
        database_url=database_url,
        twilio_account_sid=fake_twilio.account_sid,
        twilio_auth_token=fake_twilio.auth_token,
        twilio_api_base_url=fake_twilio.base_url,
        reconcile_every_minutes=60.0,
    )
    schedule = ReconcileSchedule(settings, sessions, owner="w1")
    assert schedule.turn(budget=0.05)
    schedule.close()
    with sessions() as session:
        item = session.execute(select(WorkItem).where(WorkItem.kind == "reconcile")).scalar_one()
    assert item.status is WorkStatus.QUEUED and item.tries == 0
    assert item.started_at is not None
    assert item.run_after <= item.started_at + dt.timedelta(seconds=5)
    assert "stopped early" in (item.result or "")
    other = ReconcileSchedule(settings, sessions, owner="w2")
    other.run_if_due()
    with sessions() as session:
        item = session.execute(select(WorkItem).where(WorkItem.kind == "reconcile")).scalar_one()
    assert item.status is WorkStatus.DONE and item.lease_owner is None
