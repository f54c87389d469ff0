"""Share links from the console: a viewer makes one (shown once, audited), it plays
without a login, and an admin revokes it (then it is a 410)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from sqlalchemy import text

from tests.admin.helpers import HTML, csrf_token, log_in, seed
from tests.people.conftest import USER_PASSWORD

AUDIO = b"ID3" + bytes(range(256)) * 8


def test_a_viewer_shares_a_recording_and_an_admin_revokes_the_link(
    app, client, connection, add_user, tmp_path: Path
) -> None:
    recording = seed(connection)
    key = f"twilio/{recording.account_sid}/{recording.recording_sid}.mp3"
    path = tmp_path / "archive" / key
    path.parent.mkdir(parents=True)
    path.write_bytes(AUDIO)
    connection.execute(
        text("UPDATE recordings SET key = :k, size_bytes = :n, sha256 = :h WHERE id = :id"),
        {"k": key, "n": len(AUDIO), "h": hashlib.sha256(AUDIO).hexdigest(), "id": recording.id},
    )
    add_user("vera", "viewer")
    assert log_in(client, "vera", USER_PASSWORD).status_code == 302
    page_url = f"/admin/recordings/{recording.id}"
    made = client.post(
        f"{page_url}/share",
        data={"csrf_token": csrf_token(client, page_url), "expires_in": "3600"},
        headers=HTML,
    )
    assert made.status_code == 200
    found = re.search(r"http://localhost(/share/[^<\s]+)", made.get_data(as_text=True))
    assert found, made.get_data(as_text=True)
    link = found.group(1)
    assert "Revoke" not in made.get_data(as_text=True), "a viewer may not revoke"

    stranger = app.test_client()
    assert stranger.get(link + "/media").data == AUDIO
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})

    assert log_in(client).status_code == 302  # the env admin
    [(link_id,)] = connection.execute(text("SELECT id FROM share_links")).all()
    revoked = client.post(
        f"{page_url}/shares/{link_id}/revoke",
        data={"csrf_token": csrf_token(client, page_url)},
        headers=HTML,
    )
    assert revoked.status_code == 302
    assert stranger.get(link).status_code == 410
    actions = connection.execute(
        text("SELECT action, actor FROM audit_entries WHERE action LIKE 'share.%' "
             "OR (action = 'recording.listen' AND actor LIKE 'share:%') ORDER BY id")
    ).all()  # fmt: skip
    assert [row.action for row in actions] == ["share.create", "recording.listen", "share.revoke"]
    assert actions[1].actor == f"share:{link_id}"
