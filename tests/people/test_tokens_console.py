"""Admins manage API tokens from the console: made (shown once), revoked at once, each
change audited; other roles are refused."""

from __future__ import annotations

import re

from sqlalchemy import text

from tests.admin.helpers import HTML, csrf_token, log_in
from tests.people.conftest import USER_PASSWORD


def test_an_admin_makes_a_token_that_works_and_revokes_it_from_the_console(
    client, connection
) -> None:
    assert log_in(client).status_code == 302
    token = csrf_token(client, "/admin/tokens")
    made = client.post(
        "/admin/tokens",
        data={"csrf_token": token, "name": "crm", "role": "viewer"},
        headers=HTML,
    )
    assert made.status_code == 200
    page = made.get_data(as_text=True)
    found = re.search(r"ra_[A-Za-z0-9_-]{43}", page)
    assert found, page
    secret = found.group(0)
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/recordings", headers=bearer).status_code == 200
    listed = client.get("/admin/tokens", headers=HTML).get_data(as_text=True)
    assert "crm" in listed and secret not in listed, "shown once, never again"

    revoked = client.post(
        "/admin/tokens/crm/revoke",
        data={"csrf_token": csrf_token(client, "/admin/tokens")},
        headers=HTML,
    )
    assert revoked.status_code == 302
    assert client.get("/api/v1/recordings", headers=bearer).status_code == 401
    audited = connection.execute(
        text("SELECT action, detail FROM audit_entries WHERE action LIKE 'token.%' ORDER BY id")
    ).all()
    assert [row.action for row in audited] == ["token.create", "token.revoke"]


def test_an_operator_may_not_see_or_make_tokens(client, add_user) -> None:
    add_user("olga", "operator")
    assert log_in(client, "olga", USER_PASSWORD).status_code == 302
    assert client.get("/admin/tokens", headers=HTML).status_code == 403
    token = csrf_token(client, "/admin/")
    refused = client.post(
        "/admin/tokens", data={"csrf_token": token, "name": "x", "role": "admin"}, headers=HTML
    )
    assert refused.status_code == 403
    assert "API tokens" not in client.get("/admin/", headers=HTML).get_data(as_text=True)
