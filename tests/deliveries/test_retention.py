"""DELIVERIES_RETENTION_DAYS: ended deliveries older than the retention go, in bounded
batches; a pending one (still to be sent) never does."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.deliveries.models import Delivery, DeliveryKind, DeliveryStatus
from app.deliveries.outbox import prune_ended
from app.worker import delivery_retention
from tests.helpers import make_settings

NOW = utcnow()


def add(session: Session, status: DeliveryStatus, finished: dt.datetime | None) -> Delivery:
    delivery = Delivery(
        kind=DeliveryKind.NOTIFICATION,
        event_type="recording.archived",
        recording_sid="RE" + uuid.uuid4().hex,
        method="POST",
        content={"sid": "x"},
        message_id=f"msg_{uuid.uuid4().hex}",
        status=status,
        run_after=NOW,
        give_up_at=NOW + dt.timedelta(days=1),
        attempts=1,
        created_at=NOW - dt.timedelta(days=60),
        finished_at=finished,
    )
    session.add(delivery)
    session.flush()
    return delivery


def test_old_ended_deliveries_go_and_pending_or_recent_ones_stay(connection) -> None:
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        old = NOW - dt.timedelta(days=40)
        gone = [
            add(session, DeliveryStatus.DELIVERED, old).id,
            add(session, DeliveryStatus.FAILED, old).id,
            add(session, DeliveryStatus.DELIVERED, old).id,
        ]
        kept = [
            add(session, DeliveryStatus.PENDING, None).id,
            add(session, DeliveryStatus.DELIVERED, NOW - dt.timedelta(days=1)).id,
        ]
        before = NOW - dt.timedelta(days=30)
        assert prune_ended(session, before, limit=2) == 2, "bounded batches"
        assert prune_ended(session, before, limit=2) == 1
        assert prune_ended(session, before, limit=2) == 0
        left = set(session.execute(select(Delivery.id)).scalars())
        assert left >= set(kept)
        assert not left & set(gone)


def test_the_setting_adds_the_step_and_unset_keeps_everything(database_url: str) -> None:
    assert delivery_retention(make_settings(database_url=database_url)) == []
    [(table, step, keep)] = delivery_retention(
        make_settings(database_url=database_url, deliveries_retention_days=14)
    )
    assert (table, step, keep) == ("deliveries", prune_ended, dt.timedelta(days=14))
