"""Record what a provider says about a recording: the callback as received, and
the recording it moves.

Both writes are single upserts keyed on unique constraints, never
check-then-insert, so two copies of one callback racing in two processes
(or a callback racing a reconciliation) leave exactly one event and one
recording row.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, case, func, literal_column, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from app.db import Write, dialect_of, upsert_insert, utcnow
from app.providers.base import RecordingReport
from app.recordings.lifecycle import STATUS_RANK, archive_state_for
from app.recordings.models import ArchiveState, Recording, RecordingEvent
from app.recordings.queue import WAKE_CHANNEL, notify_workers
from app.work.models import WorkItem, WorkStatus

# The call details' look-up (app.calls) is work of its own, one item per
# recording, queued when the recording is first seen: by its callback or by
# reconciliation (SIP Trunking recordings come only that way).
CALL_DETAILS_WORK = "call_details"


def call_details_key(provider: str, recording_sid: str) -> str:
    return f"{provider}:{recording_sid}"


@dataclass(frozen=True)
class CallbackEvent:
    """One callback as it reached us, kept for forensics."""

    method: str
    params: Mapping[str, Any]
    remote_addr: str | None
    request_id: str | None
    idempotency_token: str | None


def dedup_key(provider: str, params: Mapping[str, Any]) -> str:
    """A digest of what a Twilio-style signature covers: identical callbacks share it.

    That signature is an HMAC over the names and values sorted by name and joined
    with nothing between them, so it cannot tell ``ErrorCode=0`` and
    ``RecordingChannels=2`` from a single ``ErrorCode=0RecordingChannels2``: a
    captured callback with its boundaries moved still verifies. Digesting the
    same joined string makes every such copy the same event, stored once. (No
    provider sends two genuine callbacks that differ only in where a name ends.)
    """
    joined = "".join(
        name + "".join(value if isinstance(value, list) else [str(value)])
        for name, value in sorted(params.items())
    )
    return hashlib.sha256(f"{provider}\n{joined}".encode()).hexdigest()


def _rank(column: Any) -> Any:
    # Literals, not bound parameters: psycopg caches the parsing of a statement
    # only while it has at most 50 parameters.
    return case(
        {
            literal_column(f"'{status}'"): literal_column(str(rank))
            for status, rank in STATUS_RANK.items()
        },
        value=column,
        else_=literal_column("0"),
    )


# Facts about the recording that a later report may add but never erase.
_MERGED_COLUMNS = (
    "call_sid",
    "conference_sid",
    "channels",
    "duration_seconds",
    "started_at",
    "source",
    "track",
    "error_code",
    "media_url",
    "encryption_details",
    "encryption_details_unparsed",
)

# Every column a report writes.
_ROW_COLUMNS = (
    "provider",
    "account_sid",
    "recording_sid",
    "provider_status",
    *_MERGED_COLUMNS,
    "archive_state",
    "attempts",
    "next_attempt_at",
    "created_at",
    "updated_at",
    "recorded_at",
)


@dataclass(frozen=True)
class OutboxRow:
    """A row written with a callback, only when the callback is new (a forward to
    the customer's handler): which table, and its values. Given by the caller,
    so this module knows nothing of what the row is for."""

    table: Table
    values: Mapping[str, Any]


@dataclass(frozen=True)
class _Statements:
    insert_event: Any
    upsert_recording: Any
    # Queue the recording's call-details look-up (nothing when already queued).
    enqueue_call_details: Any = None
    # PostgreSQL only: both writes and the wake-up in one statement (see
    # record_callback); None elsewhere.
    callback_at_once: Any = None
    at_once_parts: tuple[Any, ...] = ()  # what it is made of, for its variants


@functools.cache
def _statements(dialect: str) -> _Statements:
    """Both upserts, built once per dialect and executed with bound parameters.

    Building them per request cost more than the database round trips (SQL
    expression construction and cache-key generation), so they are made once.
    Both dialects spell ON CONFLICT the same way.
    """
    events = cast(Table, RecordingEvent.__table__)
    insert_event = (
        upsert_insert(dialect, events)
        .on_conflict_do_nothing(index_elements=["provider", "dedup_key"])
        .returning(events.c.id)
    )

    recordings = cast(Table, Recording.__table__)
    upsert = upsert_insert(dialect, recordings)
    excluded = upsert.excluded
    c = recordings.c

    def newer_or_kept(name: str) -> Any:
        return func.coalesce(excluded[name], c[name])

    # Only a waiting recording changes archive state: one already queued,
    # archived or failed keeps its state whatever the provider says next.
    still_waiting = c.archive_state == ArchiveState.WAITING.value
    set_ = {
        "provider_status": excluded.provider_status,
        **{name: newer_or_kept(name) for name in _MERGED_COLUMNS},
        "archive_state": case((still_waiting, excluded.archive_state), else_=c.archive_state),
        "next_attempt_at": case((still_waiting, excluded.next_attempt_at), else_=c.next_attempt_at),
        "updated_at": excluded.updated_at,
        # A start time heard later replaces the first-heard time.
        "recorded_at": case(
            (excluded.started_at.is_not(None), excluded.started_at), else_=c.recorded_at
        ),
    }
    forward_only = _rank(c.provider_status) < _rank(excluded.provider_status)
    upsert_recording = upsert.on_conflict_do_update(
        index_elements=["provider", "recording_sid"], set_=set_, where=forward_only
    )
    work = cast(Table, WorkItem.__table__)
    enqueue = (
        upsert_insert(dialect, work)
        .values(
            kind=literal_column(f"'{CALL_DETAILS_WORK}'"),
            key=bindparam("work_key"),
            status=literal_column(f"'{WorkStatus.QUEUED.value}'"),
            run_after=bindparam("work_at", type_=work.c.run_after.type),
            tries=literal_column("0"),
            created_at=bindparam("work_at", type_=work.c.created_at.type),
        )
        .on_conflict_do_nothing(index_elements=["kind", "key"])
    )
    at_once = (
        _callback_at_once(insert_event, set_, forward_only) if dialect == "postgresql" else None
    )
    return _Statements(
        insert_event, upsert_recording, enqueue, at_once, (insert_event, set_, forward_only)
    )


def _work_params(report: RecordingReport, now: dt.datetime) -> dict[str, Any]:
    return {"work_key": call_details_key(report.provider, report.recording_sid), "work_at": now}


@functools.cache
def _callback_and_row_at_once(outbox: Table, columns: tuple[str, ...]) -> Any:
    """``_callback_at_once`` that also inserts an ``OutboxRow`` into ``outbox`` when
    the event is new: still one statement (PostgreSQL)."""
    insert_event, set_, forward_only = _statements("postgresql").at_once_parts
    return _callback_at_once(insert_event, set_, forward_only, also=(outbox, columns))


def _callback_at_once(
    insert_event: Any,
    set_: dict[str, Any],
    forward_only: Any,
    also: tuple[Table, tuple[str, ...]] | None = None,
) -> Any:
    """The event insert, the recording upsert (only when the event was new) and the
    NOTIFY (only when the recording became queued), as one PostgreSQL statement.

    One statement is atomic by itself, so the webhook runs it without BEGIN and
    COMMIT: one round trip to the database per callback instead of five, which
    is what the webhook's throughput hung on (measured with wrk, see bench/).
    Same rows, same rules as the two statements used elsewhere.
    """
    recordings = cast(Table, Recording.__table__)
    events = cast(Table, RecordingEvent.__table__)
    event = (
        insert_event.values(
            {c.name: bindparam(c.name, type_=c.type) for c in events.c if c.name != "id"}
        )
    ).cte("event")
    columns = [c for c in recordings.c if c.name in _ROW_COLUMNS]
    # The recording's values, sharing the event's parameters where they are the
    # same value (fewer parameters: see _rank).
    shared = {
        "provider": "provider",
        "account_sid": "account_sid",
        "recording_sid": "recording_sid",
        "provider_status": "recording_status",
        "created_at": "received_at",
        "updated_at": "received_at",
    }

    def value(column: Any) -> Any:
        if column.name == "attempts":
            return literal_column("0")
        return bindparam(shared.get(column.name, f"r_{column.name}"), type_=column.type)

    values = select(*[value(c) for c in columns]).select_from(event)
    # Columns not named take their server defaults (include_defaults=False: a Python-side
    # default would be bound as a parameter nobody gives, i.e. NULL).
    upsert = postgresql.insert(recordings).from_select(
        [c.name for c in columns], values, include_defaults=False
    )
    recording = (
        upsert.on_conflict_do_update(
            index_elements=["provider", "recording_sid"], set_=set_, where=forward_only
        )
        .returning(recordings.c.archive_state)
        .cte("recording")
    )
    # The call-details look-up, queued whenever the recording was written.
    work_items = cast(Table, WorkItem.__table__)
    work_columns = ["kind", "key", "status", "run_after", "tries", "created_at"]
    queued_work = (
        postgresql.insert(work_items)
        .from_select(
            work_columns,
            select(
                literal_column(f"'{CALL_DETAILS_WORK}'"),
                bindparam("work_key", type_=work_items.c.key.type),
                literal_column(f"'{WorkStatus.QUEUED.value}'"),
                bindparam("received_at", type_=work_items.c.run_after.type),
                literal_column("0"),
                bindparam("received_at", type_=work_items.c.created_at.type),
            ).select_from(recording),
        )
        .on_conflict_do_nothing(index_elements=["kind", "key"])
        .returning(work_items.c.id)
        .cte("work")
    )
    queued = select(func.count()).select_from(queued_work).scalar_subquery()
    stored = select(func.count()).select_from(event).scalar_subquery()
    woke = (
        select(
            func.count(func.pg_notify(literal_column(f"'{WAKE_CHANNEL}'"), literal_column("''")))
        )
        .select_from(recording)
        .where(recording.c.archive_state == literal_column(f"'{ArchiveState.QUEUED.value}'"))
        .scalar_subquery()
    )
    outputs = [stored.label("stored"), woke.label("woke"), queued.label("queued")]
    if also is not None:
        # A row per new event (none for a repeat), its values bound as d_<column>.
        # Referenced below: a CTE that is not is left out of the statement.
        outbox, names = also
        values = select(
            *[bindparam(f"d_{name}", type_=outbox.c[name].type) for name in names]
        ).select_from(event)
        added = (
            postgresql.insert(outbox)
            .from_select(list(names), values)
            .returning(outbox.c[names[0]])
            .cte("outbox_row")
        )
        outputs.append(select(func.count()).select_from(added).scalar_subquery().label("added"))
    return select(*outputs)


def _event_row(report: RecordingReport, event: CallbackEvent, now: dt.datetime) -> dict[str, Any]:
    return {
        "provider": report.provider,
        "dedup_key": dedup_key(report.provider, event.params),
        "account_sid": report.account_sid,
        "recording_sid": report.recording_sid,
        "recording_status": report.status,
        "params": dict(event.params),
        "method": event.method,
        "received_at": now,
        "remote_addr": event.remote_addr,
        "request_id": event.request_id,
        "idempotency_token": event.idempotency_token,
    }


def store_event(
    session: Session | Connection, report: RecordingReport, event: CallbackEvent, now: dt.datetime
) -> bool:
    """Keep the callback as received; False when it repeats one already stored."""
    connection = _connection(session)
    event_id = connection.execute(
        _statements(dialect_of(connection)).insert_event, _event_row(report, event, now)
    ).scalar_one_or_none()
    return event_id is not None


def _row(report: RecordingReport, now: dt.datetime) -> dict[str, Any]:
    state = archive_state_for(report.status)
    return {
        "provider": report.provider,
        "account_sid": report.account_sid,
        "recording_sid": report.recording_sid,
        "provider_status": report.status,
        **{name: getattr(report, name) for name in _MERGED_COLUMNS},
        "archive_state": state,
        "attempts": 0,
        "next_attempt_at": now if state is ArchiveState.QUEUED else None,
        "created_at": now,
        "updated_at": now,
        "recorded_at": report.started_at or now,
    }


def _connection(target: Session | Connection) -> Connection:
    return target.connection() if isinstance(target, Session) else target


def record_reports(session: Session, reports: list[RecordingReport], now: dt.datetime) -> None:
    """``record_report`` for many recordings at once (one batched statement)."""
    if not reports:
        return
    connection = session.connection()
    statements = _statements(dialect_of(connection))
    connection.execute(statements.upsert_recording, [_row(r, now) for r in reports])
    queue_call_details(session, reports, now)
    if any(archive_state_for(r.status) is ArchiveState.QUEUED for r in reports):
        notify_workers(session)


def queue_call_details(
    session: Session | Connection, reports: list[RecordingReport], now: dt.datetime
) -> None:
    """Queue the call-details look-up of each recording (idempotent: a recording
    whose look-up is already queued, done or given up is left alone)."""
    if not reports:
        return
    connection = _connection(session)
    connection.execute(
        _statements(dialect_of(connection)).enqueue_call_details,
        [_work_params(r, now) for r in reports],
    )


def record_report(session: Session | Connection, report: RecordingReport, now: dt.datetime) -> None:
    """Create the recording, or move it forward: what the provider says, as of ``now``.

    A late ``in-progress`` after ``completed`` leaves the recording as it was;
    a ``completed`` queues a waiting recording and wakes idle workers.
    """
    connection = _connection(session)
    row = _row(report, now)
    statements = _statements(dialect_of(connection))
    connection.execute(statements.upsert_recording, row)
    connection.execute(statements.enqueue_call_details, _work_params(report, now))
    if row["archive_state"] is ArchiveState.QUEUED:
        # Delivered on commit; idle workers wake at once instead of at their next poll.
        notify_workers(connection)


def callback_writes(
    report: RecordingReport, event: CallbackEvent, also: OutboxRow | None = None
) -> list[Write]:
    """What one callback writes on PostgreSQL, as one unit: committed together or not
    at all. The first write's row is (stored, woke): stored is 0 for a repeat.

    Today that is one statement (see _callback_at_once). A row the callback
    causes in another table (one that must commit with it) joins this list; the
    webhook commits a unit in a batch with others (app.db.GroupCommit) or alone.
    """
    now = utcnow()
    params = _event_row(report, event, now)
    params.update({f"r_{name}": value for name, value in _row(report, now).items()})
    params.update(_work_params(report, now))  # the call-details look-up, queued with it
    # (the shared ones are the same values under the event's names)
    statement = _statements("postgresql").callback_at_once
    if also is not None:  # the forward (FORWARD_URL), in the same statement
        statement = _callback_and_row_at_once(also.table, tuple(also.values))
        params.update({f"d_{name}": value for name, value in also.values.items()})
    return [(statement, params)]


def callback_statements() -> list[Any]:
    """The statements ``callback_writes`` uses (PostgreSQL), to compile them ahead."""
    return [_statements("postgresql").callback_at_once]


def callback_lock_order(report: RecordingReport) -> tuple[str, ...]:
    """The rows a callback's writes lock, as a sort key: units taken in this order
    by two concurrent batches cannot deadlock each other."""
    return (report.provider, report.recording_sid)


def record_callback(
    target: Session | Connection,
    report: RecordingReport,
    event: CallbackEvent,
    also: OutboxRow | None = None,
) -> bool:
    """Store a callback and tell its recording; False when it was a repeat (nothing changes).

    ``also``: a row to insert with it when it is new (not for a repeat).
    On PostgreSQL this is ``callback_writes`` (one statement, atomic by itself,
    ``also`` included: the webhook runs it in autocommit or in a group commit);
    elsewhere two or three, in the caller's transaction.
    """
    connection = _connection(target)
    if dialect_of(connection) == "postgresql":
        first, *rest = callback_writes(report, event, also)
        stored = bool(connection.execute(*first).scalar_one())
        for statement, params in rest:
            connection.execute(statement, params)
        return stored
    now = utcnow()
    if not store_event(connection, report, event, now):
        return False
    record_report(connection, report, now)
    if also is not None:
        connection.execute(also.table.insert().values(dict(also.values)))
    return True
