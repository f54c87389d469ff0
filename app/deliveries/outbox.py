"""Write deliveries, claim them, record how each try went.

Enqueueing is a plain INSERT in the caller's transaction: the callback stored
or the archive step settled commits its delivery with it, or neither.

A delivery is claimable when it is polled (``pending``, or ``sending`` with
its lease run out: ``run_after`` is then the lease's expiry, as in
``app.work.items``), due, and

- nothing earlier of its kind for the same recording is still to be sent:
  a receiver sees a recording's events in the order they happened, whatever
  the retries (per kind, so a handler that is down does not hold up the
  notifications to another system, and the other way round);
- fewer than ``IN_FLIGHT_PER_RECEIVER`` of its kind are being sent, so a slow
  receiver holds at most that many workers, and only between their archive
  turns.

Claims use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite's write lock
serialises them instead); every later write checks the lease owner.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from app.config import Settings
from app.db import UTCDateTime, utcnow
from app.deliveries.models import POLLED, Delivery, DeliveryKind, DeliveryStatus
from app.recordings import stats
from app.recordings.models import Recording
from app.recordings.reports import OutboxRow

# Retryable answers are retried for this long after the delivery was written
# (or redelivered): the contract's "at least a day".
RETRY_WINDOW = dt.timedelta(hours=24)
IN_FLIGHT_PER_RECEIVER = 4
FORWARD_EVENT = "callback"
ARCHIVED = "recording.archived"
FAILED = "recording.failed"
DELIVERIES_TOTAL = "deliveries_total"  # running totals by kind and outcome (metric_totals)


def _polled(column: Any) -> Any:
    """``column IN ('pending', 'sending')`` written with literals: only then can the
    planner see that it implies the partial index's condition (bound parameters
    hide it, on PostgreSQL and SQLite alike)."""
    return column.in_([literal_column(f"'{status.value}'") for status in POLLED])


def _target(db: Session | Connection) -> Connection:
    return db.connection() if isinstance(db, Session) else db


def _row(
    kind: DeliveryKind,
    event_type: str,
    recording_sid: str | None,
    provider: str | None,
    account_sid: str | None,
    method: str,
    content: Any,
) -> dict[str, Any]:
    """Every column of a new delivery, always in this order (the webhook's
    statement is built once per set of columns)."""
    now = utcnow()
    return {
        "kind": kind.value,
        "event_type": event_type,
        "recording_sid": recording_sid,
        "provider": provider,
        "account_sid": account_sid,
        "method": method,
        "content": content,
        "message_id": f"msg_{uuid.uuid4().hex}",
        "status": DeliveryStatus.PENDING.value,
        "run_after": now,
        "give_up_at": now + RETRY_WINDOW,
        "attempts": 0,
        "created_at": now,
    }


def _insert(db: Session | Connection, values: dict[str, Any]) -> None:
    _target(db).execute(insert(cast(Table, Delivery.__table__)).values(values))


def forward_row(
    *,
    provider: str,
    account_sid: str,
    recording_sid: str,
    method: str,
    params: Sequence[tuple[str, str]],
) -> OutboxRow:
    """A callback as received (method, every parameter in order, repeats kept), to go
    on to FORWARD_URL, as a row for ``record_callback`` to write with the callback
    when it is new (in the same statement on PostgreSQL). Signed when sent, with
    the key of the time."""
    values = _row(
        DeliveryKind.FORWARD,
        FORWARD_EVENT,
        recording_sid,
        provider,
        account_sid,
        method,
        [[name, value] for name, value in params],
    )
    return OutboxRow(cast(Table, Delivery.__table__), values)


def enqueue_forward(
    db: Session | Connection,
    *,
    provider: str,
    account_sid: str,
    recording_sid: str,
    method: str,
    params: Sequence[tuple[str, str]],
) -> None:
    """``forward_row`` written now, in the caller's transaction."""
    row = forward_row(
        provider=provider,
        account_sid=account_sid,
        recording_sid=recording_sid,
        method=method,
        params=params,
    )
    _insert(db, dict(row.values))


def enqueue_notification(
    db: Session | Connection,
    event_type: str,
    payload: Mapping[str, Any],
    recording_sid: str | None,
    *,
    settings: Settings,
) -> bool:
    """An event (``recording.archived``, ``recording.integrity_failed``...) with its
    JSON-able ``payload``, to NOTIFY_URL; False (nothing written) when NOTIFY_URL
    is not set. Call it in the transaction that makes the event happen."""
    if not settings.notify_url:
        return False
    _insert(
        db,
        _row(
            DeliveryKind.NOTIFICATION, event_type, recording_sid, None, None, "POST", dict(payload)
        ),
    )
    return True


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


def archived_payload(recording: Recording) -> dict[str, Any]:
    """``recording.archived``'s data, as the contract names it."""
    return {
        "sid": recording.recording_sid,
        "provider": recording.provider,
        "account_sid": recording.account_sid,
        "call_sid": recording.call_sid,
        "bucket": recording.bucket,
        "key": recording.key,
        "size": recording.size_bytes,
        "sha256": recording.sha256,
        "archived_at": _iso(recording.archived_at),
    }


def notify_settled(
    session: Session, settings: Settings, recording_id: int, event_type: str
) -> bool:
    """``recording.archived`` or ``recording.failed`` for the recording just settled, in
    the same transaction (the caller's ``_settle`` step)."""
    if not settings.notify_url:
        return False
    recording = session.get(Recording, recording_id)
    if recording is None:
        return False
    if event_type == ARCHIVED:
        payload = archived_payload(recording)
    else:
        payload = {"sid": recording.recording_sid, "error": recording.last_error}
    return enqueue_notification(
        session, event_type, payload, recording.recording_sid, settings=settings
    )


@dataclass(frozen=True)
class DeliveryClaim:
    """A claimed delivery, safe to use outside the session that claimed it."""

    id: int
    kind: DeliveryKind
    event_type: str
    recording_sid: str | None
    provider: str | None
    account_sid: str | None
    method: str
    content: Any
    message_id: str
    attempts: int  # this one included
    give_up_at: dt.datetime
    owner: str


@functools.cache
def _claim_statement() -> Any:
    """The claim as one statement (an UPDATE of the chosen row, RETURNING it), built
    once: building this statement per claim cost more than running it."""
    table = cast(Table, Delivery.__table__)
    candidate = aliased(Delivery, name="candidate")
    earlier = aliased(Delivery, name="earlier")
    sending = aliased(Delivery, name="in_flight")
    now = bindparam("p_now", type_=UTCDateTime())
    waits_for_earlier = exists().where(
        earlier.recording_sid == candidate.recording_sid,
        earlier.kind == candidate.kind,
        earlier.id < candidate.id,
        _polled(earlier.status),
    )
    in_flight = (
        select(func.count())
        .where(
            sending.kind == candidate.kind,
            _polled(sending.status),  # (so the claimable index serves this count too)
            sending.status == literal_column(f"'{DeliveryStatus.SENDING.value}'"),
            sending.run_after > now,
        )
        .scalar_subquery()
    )
    chosen = (
        select(candidate.id)
        .where(
            _polled(candidate.status),
            candidate.run_after <= now,
            candidate.kind.in_(bindparam("p_kinds", expanding=True)),
            ~waits_for_earlier,
            in_flight < IN_FLIGHT_PER_RECEIVER,
        )
        .order_by(candidate.run_after)
        .limit(1)
        .with_for_update(skip_locked=True, of=candidate)
        .scalar_subquery()
    )
    return (
        update(table)
        .where(table.c.id == chosen)
        .values(
            status=DeliveryStatus.SENDING.value,
            lease_owner=bindparam("p_owner"),
            run_after=bindparam("p_until", type_=UTCDateTime()),
            attempts=table.c.attempts + 1,
            last_tried_at=now,
        )
        .returning(*[table.c[name] for name in _CLAIMED])
    )


_CLAIMED = (
    "id",
    "kind",
    "event_type",
    "recording_sid",
    "provider",
    "account_sid",
    "method",
    "content",
    "message_id",
    "attempts",
    "give_up_at",
)


def claim(
    session: Session,
    owner: str,
    lease: dt.timedelta,
    kinds: Sequence[DeliveryKind],
    now: dt.datetime | None = None,
) -> DeliveryClaim | None:
    """Take the most overdue claimable delivery of ``kinds`` under a lease, or None."""
    now = now or utcnow()
    row = session.execute(
        _claim_statement(),
        {
            "p_now": now,
            "p_until": now + lease,
            "p_owner": owner,
            "p_kinds": [kind.value for kind in kinds],
        },
    ).first()
    if row is None:
        return None
    values = row._mapping
    return DeliveryClaim(
        **{name: values[name] for name in _CLAIMED if name != "kind"},
        kind=DeliveryKind(values["kind"]),
        owner=owner,
    )


def _update_held(session: Session, held: DeliveryClaim, **values: Any) -> bool:
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.id == held.id,
            Delivery.lease_owner == held.owner,
            Delivery.status == DeliveryStatus.SENDING,
        )
        .values(lease_owner=None, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _count(session: Session, held: DeliveryClaim, outcome: str) -> None:
    stats.add(
        session,
        {(DELIVERIES_TOTAL, stats.labels(kind=held.kind.value, outcome=outcome)): 1.0},
    )


def delivered(
    session: Session, held: DeliveryClaim, code: int, answer: str, now: dt.datetime | None = None
) -> bool:
    """The receiver took it (2xx): never sent again (unless redelivered)."""
    done = _update_held(
        session,
        held,
        status=DeliveryStatus.DELIVERED,
        last_status_code=code,
        last_answer=answer,
        finished_at=now or utcnow(),
    )
    if done:
        _count(session, held, "delivered")
    return done


def failed(
    session: Session,
    held: DeliveryClaim,
    code: int | None,
    answer: str,
    now: dt.datetime | None = None,
) -> bool:
    """Given up: a refusal, or retried for the whole window."""
    done = _update_held(
        session,
        held,
        status=DeliveryStatus.FAILED,
        last_status_code=code,
        last_answer=answer,
        finished_at=now or utcnow(),
    )
    if done:
        _count(session, held, "failed")
    return done


def retry_at(
    session: Session, held: DeliveryClaim, code: int | None, answer: str, at: dt.datetime
) -> bool:
    """Try again at ``at`` (the try counted)."""
    return _update_held(
        session,
        held,
        status=DeliveryStatus.PENDING,
        run_after=at,
        last_status_code=code,
        last_answer=answer,
    )


def give_back(session: Session, held: DeliveryClaim) -> bool:
    """Not tried after all (the worker is stopping): due again now, no try counted."""
    return _update_held(
        session,
        held,
        status=DeliveryStatus.PENDING,
        run_after=utcnow(),
        attempts=Delivery.attempts - 1,
    )


def redeliver(session: Session, delivery_id: int, recording_sid: str) -> bool:
    """Send a delivered or failed delivery of this recording again, due now, with a
    fresh retry window; False (nothing changed) when it is still being sent."""
    now = utcnow()
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.recording_sid == recording_sid,
            Delivery.status.in_([DeliveryStatus.DELIVERED, DeliveryStatus.FAILED]),
        )
        .values(
            status=DeliveryStatus.PENDING,
            run_after=now,
            give_up_at=now + RETRY_WINDOW,
            finished_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def for_recording(session: Session, recording_sid: str) -> list[Delivery]:
    """The recording's deliveries, oldest first (the console's page)."""
    return list(
        session.execute(
            select(Delivery).where(Delivery.recording_sid == recording_sid).order_by(Delivery.id)
        ).scalars()
    )


def retrying_by_kind(session: Session) -> dict[str, int]:
    """How many deliveries are waiting to be tried again, by kind (a /metrics gauge)."""
    rows = session.execute(
        select(Delivery.kind, func.count())
        .where(_polled(Delivery.status), Delivery.attempts > 0)
        .group_by(Delivery.kind)
    )
    return {kind.value if isinstance(kind, DeliveryKind) else str(kind): int(n) for kind, n in rows}


def prune_ended(session: Session, before: dt.datetime, limit: int = 5000) -> int:
    """Delete up to ``limit`` deliveries that ended (delivered or failed) before
    ``before`` (DELIVERIES_RETENTION_DAYS); a pending one is never touched."""
    ids = list(
        session.execute(
            select(Delivery.id)
            .where(
                Delivery.status.in_([DeliveryStatus.DELIVERED, DeliveryStatus.FAILED]),
                Delivery.finished_at < before,
            )
            .order_by(Delivery.id)
            .limit(limit)
        ).scalars()
    )
    if ids:
        session.execute(
            delete(Delivery)
            .where(Delivery.id.in_(ids))
            .execution_options(synchronize_session=False)
        )
    return len(ids)
