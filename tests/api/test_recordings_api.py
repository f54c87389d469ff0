"""/api/v1/: tokens and roles, the listing's filters and cursor, one recording, its media,
retry, legal hold and share links."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from app.people import tokens
from app.recordings.models import ArchiveState, Recording
from tests.admin.helpers import seed
from tests.api.conftest import make_token

AUDIO = b"ID3" + bytes(range(256)) * 40


def archived(connection: Connection, archive_dir: Path, **fields: Any) -> Recording:
    """A recording archived into the local folder, its bytes really there."""
    recording = seed(connection, **fields)
    key = f"twilio/{recording.account_sid}/2026/11/20/{recording.recording_sid}.mp3"
    path = archive_dir / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(AUDIO)
    connection.execute(
        text("UPDATE recordings SET key = :key, size_bytes = :size, sha256 = :sha WHERE id = :id"),
        {
            "key": key,
            "size": len(AUDIO),
            "sha": hashlib.sha256(AUDIO).hexdigest(),
            "id": recording.id,
        },
    )
    return recording


def test_a_request_without_a_token_is_refused_with_401(client: FlaskClient) -> None:
    answer = client.get("/api/v1/recordings")
    assert answer.status_code == 401
    assert "Bearer" in answer.json["error"]
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_unknown_or_malformed_token_is_refused_with_401(client: FlaskClient) -> None:
    for header in ("Bearer ra_" + "x" * 43, "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer "):
        answer = client.get("/api/v1/recordings", headers={"Authorization": header})
        assert answer.status_code == 401, header
        assert answer.json["error"]


def test_a_revoked_token_stops_working_at_once(client: FlaskClient, connection: Connection) -> None:
    secret = make_token(connection, "crm", "viewer")
    header = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/recordings", headers=header).status_code == 200
    with Session(bind=connection, join_transaction_mode="create_savepoint") as db:
        assert tokens.revoke(db, "crm")
        db.commit()
    assert client.get("/api/v1/recordings", headers=header).status_code == 401


def test_tokens_are_random_prefixed_and_stored_only_as_a_hash(connection: Connection) -> None:
    first = make_token(connection, "one", "viewer")
    second = make_token(connection, "two", "viewer")
    assert first.startswith("ra_") and second.startswith("ra_") and first != second
    assert len(first) == 46  # 32 random bytes, URL-safe base64
    stored = connection.execute(text("SELECT token_sha256 FROM api_tokens")).scalars().all()
    assert hashlib.sha256(first.encode()).hexdigest() in stored
    assert first not in stored


def test_the_listing_is_newest_first_with_the_contracts_fields(
    client: FlaskClient, connection: Connection, bearer: dict[str, dict[str, str]]
) -> None:
    older = seed(connection)
    newer = seed(connection, archive_state=ArchiveState.FAILED)
    answer = client.get("/api/v1/recordings", headers=bearer["viewer"])
    assert answer.status_code == 200
    body = answer.json
    assert [row["sid"] for row in body["recordings"]] == [newer.recording_sid, older.recording_sid]
    assert body["next"] is None
    row = body["recordings"][1]
    assert set(row) >= {
        "sid", "provider", "account_sid", "call_sid", "conference_sid", "from", "to",
        "direction", "started_at", "duration", "channels", "state", "bucket", "key", "size",
        "sha256", "archived_at", "original_deleted_at", "legal_hold", "retain_until",
        "encrypted",
    }  # fmt: skip
    assert row["state"] == "archived"
    assert body["recordings"][0]["state"] == "failed"


def test_the_listing_filters_by_state_provider_account_call_and_time(
    client: FlaskClient, connection: Connection, bearer: dict[str, dict[str, str]]
) -> None:
    failed = seed(connection, archive_state=ArchiveState.FAILED)
    other_account = seed(connection, account_sid="AC" + "1" * 32)
    early = seed(connection, recorded_at=dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC))

    def sids(query: str) -> list[str]:
        answer = client.get(f"/api/v1/recordings?{query}", headers=bearer["viewer"])
        assert answer.status_code == 200, answer.json
        return [row["sid"] for row in answer.json["recordings"]]

    assert sids("state=failed") == [failed.recording_sid]
    assert failed.recording_sid in sids("provider=twilio")
    assert sids("provider=telnyx") == []
    assert sids("account_sid=" + "AC" + "1" * 32) == [other_account.recording_sid]
    assert sids(f"call_sid={early.call_sid}") == [early.recording_sid]
    assert sids("until=2026-01-05") == [early.recording_sid]
    assert sids("since=2026-01-05T09:00:00Z&until=2026-01-05T09:00:01%2B00:00") == [
        early.recording_sid
    ]
    assert early.recording_sid not in sids("since=2026-01-06")


def test_the_cursor_pages_without_repeats_or_gaps_while_rows_arrive(
    client: FlaskClient, connection: Connection, bearer: dict[str, dict[str, str]]
) -> None:
    made = [seed(connection).recording_sid for _ in range(7)]
    seen: list[str] = []
    url: str | None = "/api/v1/recordings?limit=3&provider=twilio"
    while url:
        answer = client.get(url, headers=bearer["viewer"])
        assert answer.status_code == 200
        seen += [row["sid"] for row in answer.json["recordings"]]
        url = answer.json["next"]
        if url:
            assert url.startswith("http://localhost/api/v1/recordings?")
            assert "provider=twilio" in url and "limit=3" in url
            seed(connection)  # a newer recording arrives while the client pages
    assert seen == list(reversed(made))


def test_bad_parameters_get_400_naming_the_parameter(
    client: FlaskClient, bearer: dict[str, dict[str, str]]
) -> None:
    for query, named in [
        ("state=lost", "state"),
        ("provider=vonage", "provider"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
        ("after=123", "after"),
        ("call_sid=%00", "call_sid"),
        ("colour=red", "colour"),
        ("state=failed&state=queued", "state"),
        ("phone=12", "phone"),
    ]:
        answer = client.get(f"/api/v1/recordings?{query}", headers=bearer["viewer"])
        assert answer.status_code == 400, query
        assert named in answer.json["error"], (query, answer.json)


def test_one_recording_by_sid_and_404_for_an_unknown_one(
    client: FlaskClient, connection: Connection, bearer: dict[str, dict[str, str]]
) -> None:
    recording = seed(connection)
    answer = client.get(f"/api/v1/recordings/{recording.recording_sid}", headers=bearer["viewer"])
    assert answer.status_code == 200
    assert answer.json["sid"] == recording.recording_sid
    assert answer.json["call_sid"] == recording.call_sid
    missing = client.get("/api/v1/recordings/RE" + "f" * 32, headers=bearer["viewer"])
    assert missing.status_code == 404
    assert "RE" + "f" * 32 in missing.json["error"]


def test_media_from_the_local_folder_is_served_whole_and_by_range(
    client: FlaskClient,
    connection: Connection,
    archive_dir: Path,
    bearer: dict[str, dict[str, str]],
) -> None:
    recording = archived(connection, archive_dir)
    url = f"/api/v1/recordings/{recording.recording_sid}/media"
    whole = client.get(url, headers=bearer["viewer"])
    assert whole.status_code == 200
    assert whole.data == AUDIO
    assert whole.mimetype == "audio/mpeg"
    part = client.get(url, headers={**bearer["viewer"], "Range": "bytes=3-9"})
    assert part.status_code == 206
    assert part.data == AUDIO[3:10]


def test_media_of_a_recording_not_archived_yet_is_404(
    client: FlaskClient, connection: Connection, bearer: dict[str, dict[str, str]]
) -> None:
    recording = seed(connection, archive_state=ArchiveState.QUEUED)
    answer = client.get(
        f"/api/v1/recordings/{recording.recording_sid}/media", headers=bearer["viewer"]
    )
    assert answer.status_code == 404
    assert "no archived audio" in answer.json["error"]


def test_retry_needs_an_operator_and_queues_a_failed_recording(
    client: FlaskClient, connection: Connection, bearer: dict[str, dict[str, str]]
) -> None:
    recording = seed(connection, archive_state=ArchiveState.FAILED)
    url = f"/api/v1/recordings/{recording.recording_sid}/retry"
    refused = client.post(url, headers=bearer["viewer"])
    assert refused.status_code == 403
    assert "operator" in refused.json["error"]
    answer = client.post(url, headers=bearer["operator"])
    assert answer.status_code == 202
    assert answer.json["state"] == "queued"
    state = connection.execute(
        select(Recording.archive_state).where(Recording.id == recording.id)
    ).scalar_one()
    assert state is ArchiveState.QUEUED
    again = client.post(url, headers=bearer["admin"])
    assert again.status_code == 409


def test_legal_hold_checks_its_body_and_role(
    client: FlaskClient, connection: Connection, bearer: dict[str, dict[str, str]]
) -> None:
    recording = seed(connection)
    url = f"/api/v1/recordings/{recording.recording_sid}/legal-hold"
    assert client.post(url, json={"on": True}, headers=bearer["viewer"]).status_code == 403
    for body in ({"on": "yes"}, {}, {"on": True, "why": 1}, [True]):
        answer = client.post(url, json=body, headers=bearer["operator"])
        assert answer.status_code == 400, body
        assert "on" in answer.json["error"]


def test_legal_hold_on_a_store_without_object_lock_is_a_409_saying_why(
    client: FlaskClient,
    connection: Connection,
    archive_dir: Path,
    bearer: dict[str, dict[str, str]],
) -> None:
    recording = archived(
        connection, archive_dir, archived_at=dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    )
    url = f"/api/v1/recordings/{recording.recording_sid}/legal-hold"
    answer = client.post(url, json={"on": True}, headers=bearer["operator"])
    assert answer.status_code == 409
    assert "legal hold" in answer.json["error"].lower()
    held = connection.execute(
        select(Recording.legal_hold).where(Recording.id == recording.id)
    ).scalar_one()
    assert held is False
    unknown = client.post(
        "/api/v1/recordings/RE" + "e" * 32 + "/legal-hold",
        json={"on": True},
        headers=bearer["operator"],
    )
    assert unknown.status_code == 404


def test_a_share_link_plays_and_downloads_one_recording_without_a_login(
    client: FlaskClient,
    connection: Connection,
    archive_dir: Path,
    bearer: dict[str, dict[str, str]],
) -> None:
    recording = archived(connection, archive_dir)
    made = client.post(
        f"/api/v1/recordings/{recording.recording_sid}/share",
        json={"expires_in": 3600},
        headers=bearer["viewer"],
    )
    assert made.status_code == 201
    url = made.json["url"]
    assert url.startswith("http://localhost/share/")
    expires = dt.datetime.fromisoformat(made.json["expires_at"])
    assert dt.timedelta(minutes=59) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=1)
    path = url.removeprefix("http://localhost")
    page = client.get(path)
    assert page.status_code == 200
    assert "<audio" in page.get_data(as_text=True)
    played = client.get(path + "/media")
    assert played.status_code == 200 and played.data == AUDIO
    download = client.get(path + "/media?download=1")
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]


def test_a_share_link_is_refused_beyond_seven_days_and_in_other_shapes(
    client: FlaskClient, connection: Connection, bearer: dict[str, dict[str, str]]
) -> None:
    recording = seed(connection)
    url = f"/api/v1/recordings/{recording.recording_sid}/share"
    for body in (
        '{"expires_in": 604801}',
        '{"expires_in": 0}',
        '{"expires_in": "60"}',
        '{"expires_in": 1.5}',
        '{"expires_in": Infinity}',
        '{"expires_in": NaN}',
        '{"expires_in": true}',
        "{}",
        "[60]",
    ):
        answer = client.post(
            url, data=body, content_type="application/json", headers=bearer["viewer"]
        )
        assert answer.status_code == 400, body
        assert "expires_in" in answer.json["error"]


def test_an_expired_or_revoked_share_link_gets_a_plain_410_page(
    client: FlaskClient,
    connection: Connection,
    archive_dir: Path,
    bearer: dict[str, dict[str, str]],
) -> None:
    recording = archived(connection, archive_dir)
    share = f"/api/v1/recordings/{recording.recording_sid}/share"
    links = [
        client.post(share, json={"expires_in": 600}, headers=bearer["viewer"]).json
        for _ in range(2)
    ]
    expired, revoked = (link["url"].removeprefix("http://localhost") for link in links)
    connection.execute(
        text("UPDATE share_links SET expires_at = :past WHERE id = :id"),
        {"past": dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "id": links[0]["id"]},
    )
    from app.recordings import shares

    with Session(bind=connection, join_transaction_mode="create_savepoint") as db:
        assert shares.revoke(db, links[1]["id"], "user:admin")
        db.commit()
    for path, word in ((expired, "expired"), (revoked, "withdrawn")):
        for url in (path, path + "/media"):
            answer = client.get(url)
            assert answer.status_code == 410, url
            assert word in answer.get_data(as_text=True)
    forged = client.get(expired[:-3] + "abc")
    assert forged.status_code == 404


def test_the_tokens_commands_print_a_token_once_and_revoke_it(
    runner: Any, client: FlaskClient
) -> None:
    made = runner.invoke(args=["tokens", "create", "crm", "--role", "operator"])
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("ra_")
    header = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/recordings", headers=header).status_code == 200
    twice = runner.invoke(args=["tokens", "create", "crm", "--role", "viewer"])
    assert twice.exit_code != 0
    assert "exists" in twice.output
    revoked = runner.invoke(args=["tokens", "revoke", "crm"])
    assert revoked.exit_code == 0, revoked.output
    assert client.get("/api/v1/recordings", headers=header).status_code == 401
    unknown = runner.invoke(args=["tokens", "revoke", "crm"])
    assert unknown.exit_code != 0
    assert "no live token" in unknown.output


def test_the_phone_filter_finds_either_side_written_any_common_way(
    client: FlaskClient, connection: Connection, bearer: dict[str, dict[str, str]]
) -> None:
    caller = seed(
        connection,
        from_number="+14155550100",
        from_digits_reversed="14155550100"[::-1],
        to_number="+12125550199",
        to_digits_reversed="12125550199"[::-1],
        call_details_state="done",
    )
    seed(connection)  # no numbers
    for written in ("+1 415 555 0100", "(415) 555-0100", "4155550100", "0100", "212-555-0199"):
        answer = client.get(
            "/api/v1/recordings", query_string={"phone": written}, headers=bearer["viewer"]
        )
        assert answer.status_code == 200, (written, answer.json)
        assert [row["sid"] for row in answer.json["recordings"]] == [caller.recording_sid], written
        assert answer.json["recordings"][0]["from"] == "+14155550100"


def test_the_apis_media_retry_and_share_are_audited_as_the_token(
    client: FlaskClient,
    connection: Connection,
    archive_dir: Path,
    bearer: dict[str, dict[str, str]],
) -> None:
    recording = archived(connection, archive_dir, archive_state=ArchiveState.FAILED)
    sid = recording.recording_sid
    assert (
        client.get(f"/api/v1/recordings/{sid}/media", headers=bearer["viewer"]).status_code == 200
    )
    assert (
        client.get(f"/api/v1/recordings/{sid}/media?download=1", headers=bearer["viewer"])
    ).status_code == 200
    assert (
        client.post(f"/api/v1/recordings/{sid}/retry", headers=bearer["viewer"]).status_code == 403
    )
    assert (
        client.post(f"/api/v1/recordings/{sid}/retry", headers=bearer["operator"]).status_code
        == 202
    )
    made = client.post(
        f"/api/v1/recordings/{sid}/share", json={"expires_in": 60}, headers=bearer["viewer"]
    )
    assert made.status_code == 201
    rows = connection.execute(
        text("SELECT actor, action, recording_sid FROM audit_entries ORDER BY id")
    ).all()
    assert [(r.actor, r.action) for r in rows] == [
        ("token:viewer-token", "recording.listen"),
        ("token:viewer-token", "recording.download"),
        ("token:operator-token", "recording.retry"),
        ("token:viewer-token", "share.create"),
    ]
    assert {r.recording_sid for r in rows} == {sid}


def test_a_sid_no_provider_issues_is_a_404_on_every_database_not_a_500(
    client: FlaskClient, bearer: dict[str, dict[str, str]]
) -> None:
    # PostgreSQL refuses NUL bytes in a query outright; SQLite would just find nothing.
    for sid in ("RE%00abc", "RE" + "a" * 300, "RE%C3%A9"):
        for method, path, body in (
            ("GET", f"/api/v1/recordings/{sid}", None),
            ("GET", f"/api/v1/recordings/{sid}/media", None),
            ("POST", f"/api/v1/recordings/{sid}/retry", None),
            ("POST", f"/api/v1/recordings/{sid}/legal-hold", {"on": True}),
            ("POST", f"/api/v1/recordings/{sid}/share", {"expires_in": 60}),
        ):
            answer = client.open(path, method=method, json=body, headers=bearer["operator"])
            assert answer.status_code == 404, (path, answer.status_code)
            assert answer.json["error"]
