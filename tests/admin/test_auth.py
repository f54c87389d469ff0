"""Only a logged-in operator gets in; wrong guesses slow down; forms need their CSRF token."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.admin.lockout import lock_for
from app.admin.models import AdminLoginFailure
from tests.admin.helpers import HTML, PASSWORD, USERNAME, csrf_token, log_in, seed

EVERY_ROUTE = [
    ("GET", "/admin/"),
    ("GET", "/admin/recordings/1"),
    ("GET", "/admin/recordings/1/media"),
    ("POST", "/admin/recordings/1/retry"),
    ("POST", "/admin/recordings/1/archive-again"),
    ("GET", "/admin/retry-failed"),
    ("POST", "/admin/retry-failed"),
    ("POST", "/admin/logout"),
]


@pytest.mark.parametrize(("method", "path"), EVERY_ROUTE)
def test_a_browser_that_is_not_logged_in_is_sent_to_the_login_page(client, method, path):
    response = client.open(path, method=method, headers=HTML)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login")


@pytest.mark.parametrize(("method", "path"), EVERY_ROUTE)
def test_a_script_that_is_not_logged_in_gets_a_json_401(client, method, path):
    response = client.open(path, method=method, headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert "log in" in response.get_json()["error"]


def test_the_root_sends_a_browser_to_the_console(client):
    response = client.get("/", headers=HTML)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_the_right_login_opens_the_console_with_a_safe_cookie(client, connection):
    seed(connection)
    response = log_in(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    # Secure when the request is https: tests/admin/test_plain_http.py.
    page = client.get("/admin/", headers=HTML)
    assert page.status_code == 200
    assert b"Recordings" in page.data


def test_after_login_the_page_asked_for_is_shown_but_never_another_site(client):
    token = csrf_token(client)
    data = {"csrf_token": token, "username": USERNAME, "password": PASSWORD}
    kept = client.post("/admin/login?next=/admin/retry-failed", data=data, headers=HTML)
    assert kept.headers["Location"] == "/admin/retry-failed"
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")}, headers=HTML)
    token = csrf_token(client)
    data["csrf_token"] = token
    away = client.post("/admin/login?next=//evil.example/", data=data, headers=HTML)
    assert away.headers["Location"] == "/admin/"


@pytest.mark.parametrize(
    ("username", "password"),
    [(USERNAME, "wrong"), ("someone", PASSWORD), (USERNAME, PASSWORD + " "), ("", "")],
)
def test_a_wrong_login_is_refused(client, username, password):
    response = log_in(client, username, password)
    assert response.status_code in (400, 401)
    assert client.get("/admin/", headers=HTML).status_code == 302


def test_repeated_failures_lock_the_login_for_growing_delays(client, connection):
    for _ in range(3):
        assert log_in(client, USERNAME, "guess").status_code == 401
    # The third failure locks: even the right password waits now.
    locked = log_in(client)
    assert locked.status_code == 429
    assert b"too many failed logins" in locked.data
    failures = connection.execute(select(AdminLoginFailure.failures)).scalars().all()
    assert set(failures) == {3}
    assert [lock_for(n).total_seconds() for n in (2, 3, 4, 5, 20)] == [0, 1, 2, 4, 900]


def test_logging_out_ends_the_session(client):
    log_in(client)
    token = csrf_token(client, "/admin/")
    assert client.post("/admin/logout", data={"csrf_token": token}, headers=HTML).status_code == 302
    assert client.get("/admin/", headers=HTML).status_code == 302


@pytest.mark.parametrize(
    "path",
    ["/admin/recordings/1/retry", "/admin/recordings/1/archive-again", "/admin/retry-failed"],
)
def test_a_form_posted_without_its_csrf_token_is_refused(client, connection, path):
    seed(connection)
    log_in(client)
    response = client.post(path, headers=HTML)
    assert response.status_code == 400
    assert b"CSRF" in response.data


def test_a_login_posted_without_its_csrf_token_is_refused(client):
    response = client.post(
        "/admin/login", data={"username": USERNAME, "password": PASSWORD}, headers=HTML
    )
    assert response.status_code == 400
    assert client.get("/admin/", headers=HTML).status_code == 302


def test_admin_pages_forbid_framing_inline_script_and_referrers(client):
    log_in(client)
    response = client.get("/admin/", headers=HTML)
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert b"<script" not in response.data
    assert b" style=" not in response.data


class TestWithoutAnAdminLogin:
    @pytest.fixture
    def settings_overrides(self):
        return {}

    def test_every_login_is_refused_and_the_page_says_what_to_set(self, client):
        page = client.get("/admin/login", headers=HTML)
        assert b"ADMIN_USERNAME" in page.data
        assert log_in(client, "", "").status_code in (400, 401)
        assert log_in(client, "admin", "admin").status_code == 401
