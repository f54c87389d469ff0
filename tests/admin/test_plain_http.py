"""The console over plain http (``HOST=0.0.0.0 scripts/serve`` seen from another machine)
and behind an https proxy: the session cookie is Secure exactly when the browser
would send it back, and redirects never name a host the request chose."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.recordings.models import ArchiveState, Recording
from tests.admin.helpers import HTML, PASSWORD, USERNAME, csrf_token, log_in, seed

LAN = "http://192.168.1.20:5000"


def session_cookie(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if "archiver_session=" in c]
    assert len(cookies) == 1, response.headers
    return cookies[0]


def attributes(cookie: str) -> set[str]:
    return {part.strip().split("=", 1)[0].lower() for part in cookie.split(";")[1:]}


def test_over_plain_http_the_session_cookie_is_not_secure(app):
    client = app.test_client()
    response = client.get("/admin/login", base_url=LAN, headers=HTML)
    cookie = session_cookie(response)
    assert "secure" not in attributes(cookie), cookie
    assert {"httponly", "samesite"} <= attributes(cookie)


def test_https_said_by_a_trusted_proxy_makes_the_session_cookie_secure(app):
    client = app.test_client()
    response = client.get(
        "/admin/login",
        base_url="http://10.0.0.7:5000",
        headers={**HTML, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "archive.example.com"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},  # the router, a private address
    )
    assert "secure" in attributes(session_cookie(response))


def test_https_claimed_by_a_client_that_is_not_a_proxy_leaves_the_cookie_plain(app):
    client = app.test_client()
    response = client.get(
        "/admin/login",
        base_url=LAN,
        headers={**HTML, "X-Forwarded-Proto": "https"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert "secure" not in attributes(session_cookie(response))


def test_login_and_a_csrf_protected_form_work_over_plain_http_on_a_lan_address(app, connection):
    failed = seed(connection, archive_state=ArchiveState.FAILED, attempts=8)
    client = app.test_client()
    client.environ_base.update({"REMOTE_ADDR": "192.168.1.33"})
    login_page = client.get("/admin/login", base_url=LAN, headers=HTML)
    assert "secure" not in attributes(session_cookie(login_page))
    token = csrf_token(client, f"{LAN}/admin/login")
    logged_in = client.post(
        f"{LAN}/admin/login",
        data={"csrf_token": token, "username": USERNAME, "password": PASSWORD},
        headers=HTML,
    )
    assert logged_in.status_code == 302, logged_in.data
    assert "secure" not in attributes(session_cookie(logged_in))
    form_token = csrf_token(client, f"{LAN}/admin/recordings/{failed.id}")
    retried = client.post(
        f"{LAN}/admin/recordings/{failed.id}/retry", data={"csrf_token": form_token}, headers=HTML
    )
    assert retried.status_code == 302, retried.data
    state = connection.execute(
        select(Recording.archive_state).where(Recording.id == failed.id)
    ).scalar_one()
    assert state is ArchiveState.QUEUED


class TestWithAnHttpsPublicUrl:
    @pytest.fixture
    def settings_overrides(self, settings_overrides):
        return {**settings_overrides, "public_url": "https://archive.example.com"}

    def test_the_session_cookie_is_secure_even_when_the_request_came_by_http(self, app):
        response = app.test_client().get("/admin/login", base_url=LAN, headers=HTML)
        assert "secure" in attributes(session_cookie(response))

    def test_the_slash_redirect_goes_to_the_public_url_not_the_host_given(self, client):
        response = client.get("/admin?state=failed", headers={**HTML, "Host": "evil.example"})
        assert response.status_code == 308
        assert response.headers["Location"] == "https://archive.example.com/admin/?state=failed"

    def test_the_consoles_own_redirects_stay_on_the_public_origin(self, client):
        log_in(client)
        response = client.get("/", headers={**HTML, "Host": "evil.example"})
        assert response.headers["Location"] in ("/admin/", "https://archive.example.com/admin/")


@pytest.mark.parametrize(
    "host",
    # The last is "évil.example" as a WSGI server passes it: Werkzeug cannot
    # spell it and builds "http:///admin/", which a browser reads as host "admin".
    ["evil.example", "evil.example:8443", "EVIL.example", "\xc3\xa9vil.example"],
)
def test_without_a_public_url_the_slash_redirect_is_a_path_not_the_host_given(client, host):
    response = client.get("/admin", headers={**HTML, "Host": host})
    assert response.status_code == 308
    assert response.headers["Location"] == "/admin/"


def test_a_forwarded_host_from_a_trusted_proxy_cannot_aim_the_slash_redirect(client):
    response = client.get(
        "/admin", headers={**HTML, "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
    )
    assert response.status_code == 308
    assert response.headers["Location"] == "/admin/"
