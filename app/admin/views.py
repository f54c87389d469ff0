"""The pages: the listing with its overview, one recording, and what can be done to it."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from app import audit
from app.admin import CONTENT_SECURITY_POLICY, ID_MAX, bp
from app.admin.access import client_address, current_actor, requires
from app.admin.formatting import age
from app.archive.hints import hint_for
from app.archive.naming import CONTENT_TYPES
from app.archive.retention import LegalHoldRefused, set_legal_hold
from app.audit import actions, playback
from app.db import transaction
from app.deliveries import outbox
from app.extensions import extensions, get_settings, session_factory
from app.people.roles import Role
from app.providers import PROVIDERS
from app.providers.http import origin_of
from app.recordings import accounts, phones, queries, queue, shares
from app.recordings.lifecycle import STATUS_RANK
from app.recordings.models import ArchiveAttempt, ArchiveState, AttemptOutcome, Integrity, Recording
from app.recordings.overview import OverviewCache
from app.storage import ArchiveStore, StorageError
from app.web import public_origin

STATE_LABELS = [
    (ArchiveState.WAITING, "waiting"),
    (ArchiveState.QUEUED, "queued"),
    (ArchiveState.RUNNING, "archiving"),
    (ArchiveState.DONE, "archived"),
    (ArchiveState.FAILED, "failed"),
    (ArchiveState.NO_MEDIA, "nothing to archive"),
]
STATE_NAMES = dict(STATE_LABELS)
PAGE_SIZE = 50
# The most rows one CSV download holds: a day of a busy deployment, and a file a
# spreadsheet still opens (narrow the filter for more; the API pages without end).
CSV_ROW_LIMIT = 100_000
PRESIGNED_SECONDS = 300
_TOKEN = re.compile(r"[A-Za-z0-9_.:-]{1,32}")
_SEARCH = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_ACCOUNT = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# ``Position.encode``'s shape, ASCII digits only: ``int()`` also takes signs,
# spaces, underscores and other scripts' digits, and a driver refuses (500)
# an id past the column's range.
_CURSOR = re.compile(r"[0-9]{8}T[0-9]{6}\.[0-9]{6}Z~[0-9]{1,19}")
# A page link's ``row=``: where the page starts in the count ("51-100 of 67").
_ROW = re.compile(r"[1-9][0-9]{0,8}")
# The day after ``to`` bounds the query: the calendar's last day has none.
LAST_TO_DAY = dt.date.max - dt.timedelta(days=1)


def overview_cache() -> OverviewCache:
    return extensions().admin_overview


def admin_store() -> ArchiveStore:
    return extensions().store


class FilterRefused(Exception):
    """A filter field's value we do not take, with what to type instead."""


def _archive_state(value: str) -> ArchiveState:
    try:
        return ArchiveState(value)
    except ValueError:
        raise FilterRefused(f"no archive state called {value!r}") from None


def _provider_status(value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise FilterRefused("a provider status is a word such as completed")
    return value


def _provider(value: str) -> str:
    if value not in PROVIDERS:
        raise FilterRefused(f"no provider called {value!r}")
    return value


def _day(name: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise FilterRefused(f"{name} must be a date such as 2026-11-24") from None


def _last_day(value: str) -> dt.date:
    day = _day("to", value)
    if day > LAST_TO_DAY:
        raise FilterRefused(f"to must be a date no later than {LAST_TO_DAY}")
    return day


def _account_sid(value: str) -> str:
    if not _ACCOUNT.fullmatch(value):
        raise FilterRefused("an account SID has only letters, digits and - _ . :")
    return value


def _search(value: str) -> str:
    if phones.search_digits(value, get_settings().default_phone_region):
        return value  # a phone number, or its last digits
    if len(value) < queries.SEARCH_MIN:
        raise FilterRefused(
            f"type at least {queries.SEARCH_MIN} characters of a SID, "
            f"or {phones.SEARCH_MIN_DIGITS} digits or more of a phone number, to search"
        )
    if not _SEARCH.fullmatch(value):
        raise FilterRefused("a SID has only letters, digits and - _ . :")
    return value


def _legal_hold(value: str) -> bool:
    if value != "on":
        raise FilterRefused("hold is on, or left out")
    return True


def _integrity(value: str) -> str:
    if value != queries.INTEGRITY_PROBLEMS_FILTER and value not in set(Integrity):
        raise FilterRefused(
            f"integrity is problems or one of {', '.join(state.value for state in Integrity)}"
        )
    return value


# The listing's filter, one row per field: its name in the URL, the
# RecordingFilter field it sets, and how its value is read (or refused).
FILTER_FIELDS: list[tuple[str, str, Callable[[str], Any]]] = [
    ("state", "state", _archive_state),
    ("status", "provider_status", _provider_status),
    ("provider", "provider", _provider),
    ("from", "since", lambda value: _day("from", value)),
    ("to", "until", _last_day),
    ("q", "search", _search),
    ("account", "account_sid", _account_sid),
    ("hold", "legal_hold", _legal_hold),
    ("integrity", "integrity", _integrity),
]


def parse_filter(
    args: MultiDict[str, str],
) -> tuple[queries.RecordingFilter, dict[str, str], str | None]:
    """The filter in the URL, the URL's query to keep it, and what was wrong with it."""
    query: dict[str, str] = {}
    problems: list[str] = []
    fields: dict[str, Any] = {}
    for name, field, read in FILTER_FIELDS:
        if value := args.get(name, "").strip():
            try:
                fields[field] = read(value)
            except FilterRefused as refused:
                problems.append(str(refused))
                continue
            query[name] = value
    if text := fields.pop("search", None):
        region = get_settings().default_phone_region
        return queries.RecordingFilter.for_search(text, region, **fields), query, None
    return queries.RecordingFilter(**fields), query, "; ".join(problems) or None


def listing_url(endpoint: str = "admin.listing", **query: str) -> str:
    """``url_for`` with the filter's query (typed: url_for's own keywords are not str)."""
    values: dict[str, Any] = dict(query)
    return url_for(endpoint, **values)


def max_attempts() -> int:
    return extensions().settings.archive_max_attempts


def archive_badge(recording: Recording, object_missing: bool = False) -> tuple[str, str]:
    """The archive state as the console shows it: a CSS class and a label.

    An archived recording whose object is gone (seen on its page, or marked by
    the scrub's ``integrity`` column where it exists) is not shown as a green
    "archived"; a queued one that already failed a try says it is retrying.
    """
    state = recording.archive_state
    integrity = getattr(recording, "integrity", None)
    if state is ArchiveState.DONE and (object_missing or integrity == "missing"):
        return "state-problem", "archived, object missing"
    if state is ArchiveState.DONE and integrity == "mismatch":
        return "state-problem", "archived, object changed"
    if state is ArchiveState.QUEUED and recording.attempts:
        return "state-queued", f"retrying ({recording.attempts + 1} of {max_attempts()})"
    if state is ArchiveState.RUNNING and recording.attempts:
        return "state-running", f"archiving ({recording.attempts} of {max_attempts()})"
    return f"state-{state.value}", STATE_NAMES[state]


def next_try(recording: Recording, now: dt.datetime) -> str | None:
    """When a retrying recording's next try is due, in words; None when it is not retrying."""
    if recording.archive_state is not ArchiveState.QUEUED or not recording.attempts:
        return None
    if recording.next_attempt_at is None:
        return None
    seconds = (recording.next_attempt_at - now).total_seconds()
    if seconds > 0:
        return f"in {age(seconds)}"
    return f"due {age(-seconds)} ago, waiting for a worker"


@dataclass(frozen=True)
class AttemptRow:
    """One row of the attempts table: its place, and which counted try it was."""

    ordinal: int
    counted_as: str
    attempt: ArchiveAttempt


def attempt_rows(attempts: list[ArchiveAttempt]) -> list[AttemptRow]:
    """Number the tries in order. A try given back (a worker stopping, the store or
    the database away) is not counted, and the next try takes its number again,
    so the stored ``number`` is which counted try a row was, not its place."""
    limit = max_attempts()
    return [
        AttemptRow(
            ordinal,
            "not counted"
            if a.outcome == AttemptOutcome.RELEASED.value
            else f"try {a.number} of {limit}",
            a,
        )
        for ordinal, a in enumerate(attempts, 1)
    ]


def common() -> dict[str, Any]:
    return {
        "state_labels": STATE_LABELS,
        "state_names": STATE_NAMES,
        "archive_badge": archive_badge,
        "hint_for": hint_for,
        "provider_titles": {name: p.title for name, p in PROVIDERS.items()},
        "providers": [(name, p.title) for name, p in PROVIDERS.items()],
        "provider_statuses": sorted(STATUS_RANK),
        "failed_state": ArchiveState.FAILED,
        "integrity_states": [state.value for state in Integrity],
        "integrity_problems": queries.INTEGRITY_PROBLEMS_FILTER,
    }


def parse_position(text: str) -> queries.Position | None:
    """A page link's ``before=``, or ``None`` when it is not one of ours."""
    if not _CURSOR.fullmatch(text):
        return None
    try:
        position = queries.Position.decode(text)
    except ValueError:  # a date the calendar does not have (month 13)
        return None
    return position if position.id <= ID_MAX else None


@bp.get("/")
@requires(Role.VIEWER)
def listing() -> ResponseReturnValue:
    where, query, problem = parse_filter(request.args)
    after = None
    if before := request.args.get("before"):
        after = parse_position(before)
        if after is None:
            damaged = "before= is not a page link of ours (damaged?); start from the first page"
            problem = f"{problem}; {damaged}" if problem else damaged
    # Where this page starts in the count; unknown on a page link without ``row=``.
    first_row: int | None = 1
    if after is not None:
        row = request.args.get("row", "")
        first_row = int(row) if _ROW.fullmatch(row) else None
    figures = overview_cache().get()
    taken = dt.datetime.fromtimestamp(figures.taken, dt.UTC)
    page = None
    total = 0
    some_failed = False
    with session_factory()() as db:
        # A filter we could not read shows nothing rather than everything.
        if not problem:
            page = queries.list_recordings(db, where, after, PAGE_SIZE)
            total = queries.count_matching(db, where)
            # Offered only when some match; how many, the confirmation page counts.
            if where.state in (None, ArchiveState.FAILED):
                some_failed = queries.any_failed(db, where)
        # Twilio subaccounts' friendly names, as reconciliation last listed them.
        known_accounts = accounts.known_accounts(db)
        account_names = accounts.account_names(
            db, {(r.provider, r.account_sid) for r in (page.rows if page else [])}
        )
    rows = page.rows if page else []
    next_url = None
    if page and page.next:
        cursor = page.next.encode()
        if first_row is None:
            next_url = listing_url(**query, before=cursor)
        else:
            next_url = listing_url(**query, before=cursor, row=str(first_row + len(rows)))
    # The page still shows the form to correct the filter, as a 400: the
    # request, not the service, was wrong.
    status = 400 if problem else 200
    now = dt.datetime.now(dt.UTC)
    return render_template(
        "admin/listing.html",
        rows=rows,
        overview=figures.overview,
        overview_taken=taken,
        overview_age=age(max(0.0, (now - taken).total_seconds())),
        # The table is read now, the figures up to a minute ago: say so where they differ.
        rows_newer_than_figures=any(r.updated_at > taken for r in rows),
        first_row=first_row,
        total=total,
        count_cap=queries.COUNT_CAP,
        some_failed=some_failed,
        error_column=where.state in (ArchiveState.FAILED, ArchiveState.QUEUED),
        next_try=lambda r: next_try(r, now),
        filters=where,
        query=query,
        problem=problem,
        next_page_url=next_url,
        first_page_url=listing_url(**query) if before else None,
        known_accounts=known_accounts,
        account_names=account_names,
        csv_url=listing_url("admin.export_csv", **query),
        csv_row_limit=CSV_ROW_LIMIT,
        **common(),
    ), status


@bp.get("/recordings/<recording_sid>")
@requires(Role.VIEWER)
def detail_by_sid(recording_sid: str) -> ResponseReturnValue:
    """A recording's page by its SID: a link to paste into a ticket."""
    if not _SEARCH.fullmatch(recording_sid):
        abort(404, "no such recording")
    with session_factory()() as db:
        found = queries.recording_by_sid(db, recording_sid)
        recording_id = found.id if found else None
    if recording_id is None:
        abort(404, f"no such recording: nothing here has the SID {recording_sid}")
    return detail(recording_id)


_E164 = re.compile(r"\+[0-9]{1,15}")
CSV_COLUMNS: tuple[tuple[str, Callable[[Recording], Any]], ...] = (
    ("recording_sid", lambda r: r.recording_sid),
    ("provider", lambda r: r.provider),
    ("account_sid", lambda r: r.account_sid),
    ("call_sid", lambda r: r.call_sid or ""),
    ("conference_sid", lambda r: r.conference_sid or ""),
    ("from", lambda r: r.from_number or ""),
    ("to", lambda r: r.to_number or ""),
    ("direction", lambda r: r.direction or ""),
    ("call_details", lambda r: r.call_details_state),
    ("started_at", lambda r: r.recorded_at.astimezone(dt.UTC).isoformat()),
    ("duration", lambda r: "" if r.duration_seconds is None else r.duration_seconds),
    ("channels", lambda r: r.channels or ""),
    ("provider_status", lambda r: r.provider_status),
    ("state", lambda r: STATE_NAMES[r.archive_state]),
    ("bucket", lambda r: r.bucket or ""),
    ("key", lambda r: r.key or ""),
    ("size", lambda r: "" if r.size_bytes is None else r.size_bytes),
    ("sha256", lambda r: r.sha256 or ""),
    (
        "archived_at",
        lambda r: r.archived_at.astimezone(dt.UTC).isoformat() if r.archived_at else "",
    ),
    (
        "original_deleted_at",
        lambda r: (
            r.original_deleted_at.astimezone(dt.UTC).isoformat() if r.original_deleted_at else ""
        ),
    ),
)


def _csv_safe(value: Any) -> Any:
    """A cell a spreadsheet will not run: text starting with = + - @ gets a quote
    mark first (OWASP's advice against CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        # An E.164 number is only a number to a spreadsheet: kept as it is.
        return value if _E164.fullmatch(value) else "'" + value
    return value


@bp.get("/recordings.csv")
@requires(Role.VIEWER)
def export_csv() -> ResponseReturnValue:
    """The current filter's recordings as CSV, newest first, streamed a keyset page
    at a time (memory stays one page deep), at most ``CSV_ROW_LIMIT`` rows."""
    where, _query, problem = parse_filter(request.args)
    if problem:
        abort(400, problem)
    sessions = session_factory()

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([name for name, _ in CSV_COLUMNS])
        with sessions() as db:
            for count, recording in enumerate(
                queries.export_recordings(db, where, CSV_ROW_LIMIT), 1
            ):
                writer.writerow([_csv_safe(read(recording)) for _, read in CSV_COLUMNS])
                if count % 500 == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return Response(
        stream_with_context(rows()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="recordings-{stamp}.csv"'},
    )


@bp.get("/recordings/<row_id:recording_id>")
@requires(Role.VIEWER)
def detail(recording_id: int, made_share: dict[str, Any] | None = None) -> ResponseReturnValue:
    with session_factory()() as db:
        found = queries.recording_detail(db, recording_id)
        if found is None:
            abort(404, "no such recording")
        pair = (found.recording.provider, found.recording.account_sid)
        account_name = accounts.account_names(db, [pair]).get(pair)
        deliveries = outbox.for_recording(db, found.recording.recording_sid)
        share_links = shares.links_of(db, found.recording.id)
    recording = found.recording
    object_missing = False
    store_problem = None
    media_origin = None
    if recording.key:
        store = admin_store()
        try:
            object_missing = not store.exists(recording.key)
            url = store.presigned_url(recording.key, PRESIGNED_SECONDS)
            if url:
                scheme, host, port = origin_of(url)
                media_origin = f"{scheme}://{host}:{port}"
        except StorageError as exc:
            store_problem = str(exc)
    known = PROVIDERS.get(recording.provider)
    provider_title = known.title if known else recording.provider
    page = render_template(
        "admin/detail.html",
        r=recording,
        account_name=account_name,
        events=found.events,
        attempts=attempt_rows(list(found.attempts)),
        max_attempts=max_attempts(),
        next_try=next_try(recording, dt.datetime.now(dt.UTC)),
        hint=hint_for(recording.last_error, provider_title),
        deliveries=deliveries,
        share_links=share_links,
        made_share=made_share,
        now=dt.datetime.now(dt.UTC),
        object_missing=object_missing,
        can_archive_again=recording.original_deleted_at is None,
        store_problem=store_problem,
        view_nonce=playback.new_view_nonce(),
        **common(),
    )
    response = Response(page, mimetype="text/html")
    if media_origin:
        # The player follows a redirect to the store's presigned URL.
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
            "media-src 'self'", f"media-src 'self' {media_origin}"
        )
    return response


SHARE_LIFETIMES = {"3600", "86400", "604800"}


@bp.post("/recordings/<row_id:recording_id>/share")
@requires(Role.VIEWER)
def make_share(recording_id: int) -> ResponseReturnValue:
    """A share link, shown once on the page that made it (the signed URL is not kept)."""
    lifetime = request.form.get("expires_in", "")
    if lifetime not in SHARE_LIFETIMES:
        abort(400, "expires_in must be 1 hour, 1 day or 7 days")
    with transaction(session_factory()) as db:
        found = queries.recording_detail(db, recording_id)
        if found is None or not found.recording.key:
            abort(404, "this recording has no archived file to share")
        made = shares.make(
            db,
            found.recording,
            dt.timedelta(seconds=int(lifetime)),
            current_actor(),
            str(current_app.secret_key),
        )
        audit.record(
            db,
            actor=current_actor(),
            address=client_address(),
            action=actions.SHARE_CREATE,
            recording_sid=found.recording.recording_sid,
            detail=f"link {made.id}, {lifetime} s",
        )
    url = public_origin(request, get_settings().public_url) + url_for(
        "share.page", token=made.token
    )
    return detail(recording_id, {"url": url, "expires_at": made.expires_at})


@bp.post("/recordings/<row_id:recording_id>/shares/<link_id>/revoke")
@requires(Role.ADMIN)
def revoke_share(recording_id: int, link_id: str) -> ResponseReturnValue:
    with transaction(session_factory()) as db:
        found = queries.recording_detail(db, recording_id)
        if found is None:
            abort(404, "no such recording")
        done = shares.revoke(db, link_id[:32], current_actor())
        if done:
            audit.record(
                db,
                actor=current_actor(),
                address=client_address(),
                action=actions.SHARE_REVOKE,
                recording_sid=found.recording.recording_sid,
                detail=f"link {link_id[:32]}",
            )
    flash(
        "Share link revoked: it stopped working at once." if done else "No live link of that id.",
        "success" if done else "error",
    )
    return redirect(url_for("admin.detail", recording_id=recording_id))


@bp.get("/recordings/<row_id:recording_id>/media")
@requires(Role.VIEWER)
def media(recording_id: int) -> ResponseReturnValue:
    """The archived file: a short-lived presigned URL, or streamed (with Range) from
    the local folder; the listen or download is in the audit log before either."""
    with session_factory()() as db:
        found = queries.recording_detail(db, recording_id)
    if found is None or not found.recording.key:
        abort(404, "this recording has no archived file")
    key = found.recording.key
    name = key.rsplit("/", 1)[-1]
    download = request.args.get("download") == "1"
    with transaction(session_factory()) as db:
        playback.record_playback(
            db,
            actor=current_actor(),
            address=client_address(),
            recording_sid=found.recording.recording_sid,
            download=download,
            view=request.args.get("view"),
            range_header=request.headers.get("Range"),
        )
    store = admin_store()
    try:
        url = store.presigned_url(key, PRESIGNED_SECONDS, download_name=name if download else None)
        path = None if url else store.local_path(key)
    except StorageError as exc:
        abort(503, f"the store did not answer: {exc}")
    if url:
        return redirect(url)
    if path is None or not path.is_file():
        abort(404, "the archived file is missing from the store")
    extension = name.rsplit(".", 1)[-1]
    return send_file(
        path,
        mimetype=CONTENT_TYPES.get(extension, "application/octet-stream"),
        conditional=True,
        as_attachment=download,
        download_name=name,
        max_age=0,
    )


def _audit_recording(db: Any, recording_id: int, action: str, detail: str = "") -> None:
    sid = queries.recording_detail(db, recording_id)
    audit.record(
        db,
        actor=current_actor(),
        address=client_address(),
        action=action,
        recording_sid=sid.recording.recording_sid if sid else None,
        detail=detail,
    )


@bp.post("/recordings/<row_id:recording_id>/retry")
@requires(Role.OPERATOR)
def retry(recording_id: int) -> ResponseReturnValue:
    with transaction(session_factory()) as db:
        done = queue.requeue_one(db, recording_id)
        if done:
            _audit_recording(db, recording_id, actions.RECORDING_RETRY)
    overview_cache().invalidate()
    if done:
        flash("Back in the queue with a fresh set of tries.", "success")
    else:
        flash("Only a failed recording can be retried; nothing was changed.", "error")
    return redirect(url_for("admin.detail", recording_id=recording_id))


@bp.post("/recordings/<row_id:recording_id>/deliveries/<row_id:delivery_id>/redeliver")
@requires(Role.OPERATOR)
def redeliver(recording_id: int, delivery_id: int) -> ResponseReturnValue:
    """Send one of the recording's deliveries (delivered or failed) again."""
    with transaction(session_factory()) as db:
        found = queries.recording_detail(db, recording_id)
        if found is None:
            abort(404, "no such recording")
        done = outbox.redeliver(db, delivery_id, found.recording.recording_sid)
    if done:
        flash("Delivery queued to be sent again.", "success")
    else:
        flash(
            "Only a delivered or failed delivery can be sent again; nothing was changed.", "error"
        )
    return redirect(url_for("admin.detail", recording_id=recording_id))


@bp.post("/recordings/<row_id:recording_id>/archive-again")
@requires(Role.OPERATOR)
def archive_again(recording_id: int) -> ResponseReturnValue:
    with session_factory()() as db:
        found = queries.recording_detail(db, recording_id)
    if found is None:
        abort(404, "no such recording")
    key = found.recording.key
    try:
        present = bool(key) and admin_store().exists(key or "")
    except StorageError as exc:
        flash(f"Could not check the store ({exc}); nothing was changed.", "error")
        return redirect(url_for("admin.detail", recording_id=recording_id))
    if present:
        flash("The stored object is there; nothing to archive again.", "error")
    else:
        with transaction(session_factory()) as db:
            done = queue.archive_again(db, recording_id)
            if done:
                _audit_recording(db, recording_id, actions.RECORDING_ARCHIVE_AGAIN)
        if done:
            flash("Queued to be archived again from the provider's original.", "success")
        else:
            flash(
                "Only an archived recording whose original the provider still has can be "
                "archived again; nothing was changed.",
                "error",
            )
    return redirect(url_for("admin.detail", recording_id=recording_id))


@bp.post("/recordings/<row_id:recording_id>/legal-hold")
@requires(Role.OPERATOR)
def legal_hold(recording_id: int) -> ResponseReturnValue:
    """Set or lift the store's legal hold; 409 with the reason when the store keeps none."""
    wanted = request.form.get("hold", "")
    if wanted not in ("on", "off"):
        abort(400, "hold must be on or off")
    with session_factory()() as db:
        found = queries.recording_detail(db, recording_id)
    if found is None:
        abort(404, "no such recording")
    try:
        with transaction(session_factory()) as db:
            set_legal_hold(
                db,
                admin_store(),
                found.recording.recording_sid,
                wanted == "on",
                actor=current_actor(),
                address=client_address(),
            )
    except LegalHoldRefused as refused:
        abort(404 if refused.not_found else 409, refused.reason)
    except StorageError as exc:
        abort(503, f"the store did not answer: {exc}")
    flash("Legal hold set." if wanted == "on" else "Legal hold lifted.", "success")
    return redirect(url_for("admin.detail", recording_id=recording_id))


def describe(where: queries.RecordingFilter) -> str:
    parts = []
    if where.provider:
        parts.append(PROVIDERS[where.provider].title)
    if where.provider_status:
        parts.append(f"provider status {where.provider_status}")
    if where.since:
        parts.append(f"from {where.since}")
    if where.until:
        parts.append(f"to {where.until}")
    if where.search and where.phone:
        parts.append(f"SID starting {where.search} or a number ending {where.phone}")
    elif where.search:
        parts.append(f"SID starting {where.search}")
    elif where.phone:
        parts.append(f"a number ending {where.phone}")
    if where.account_sid:
        parts.append(f"account {where.account_sid}")
    if where.legal_hold:
        parts.append("under legal hold")
    if where.integrity:
        parts.append(f"integrity {where.integrity}")
    return ", ".join(parts)


@bp.get("/retry-failed")
@requires(Role.OPERATOR)
def confirm_retry_failed() -> ResponseReturnValue:
    where, query, problem = parse_filter(request.args)
    if problem:
        abort(400, problem)
    with session_factory()() as db:
        count = queries.count_failed(db, where)
    return render_template(
        "admin/confirm_retry.html", count=count, query=query, describe=describe(where), **common()
    )


@bp.post("/retry-failed")
@requires(Role.OPERATOR)
def retry_failed() -> ResponseReturnValue:
    where, query, problem = parse_filter(request.args)
    if problem:
        abort(400, problem)
    with transaction(session_factory()) as db:
        count = queue.requeue_failed(db, *where.conditions())
        audit.record(
            db,
            actor=current_actor(),
            address=client_address(),
            action=actions.RECORDINGS_BULK_RETRY,
            detail=f"{count} requeued; filter: {describe(where) or 'all failed'}",
        )
    overview_cache().invalidate()
    flash(f"{count:,} failed recording{'' if count == 1 else 's'} back in the queue.", "success")
    return redirect(listing_url(**query))
