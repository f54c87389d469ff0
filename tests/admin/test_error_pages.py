"""Every refusal a browser meets in the console is the console's own page: its look, the
reason, and what to do next. The machines' paths keep their JSON."""

from __future__ import annotations

import re

import pytest
from flask import abort
from sqlalchemy.exc import OperationalError

from tests.admin.helpers import HTML, PASSWORD, USERNAME, csrf_token, log_in, seed


def styled(response) -> str:
    page = response.get_data(as_text=True)
    assert response.mimetype == "text/html", response.headers
    assert "/admin/static/admin.css" in page  # the console's base template
    assert '<section class="problem">' in page
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'none'" in response.headers["Content-Security-Policy"]
    return page


def links(page: str) -> list[str]:
    return re.findall(r'<a class="button[^"]*" href="([^"]+)"', page)


@pytest.fixture
def app_with_refusals(app):
    """Routes that refuse as the console's views and the layers under them can."""

    @app.get("/admin/test-refusal/<int:code>")
    def refusal(code: int) -> str:
        abort(code)

    @app.get("/admin/test-crash")
    def crash() -> str:
        raise RuntimeError("a bug")

    @app.get("/admin/test-database-away")
    def database_away() -> str:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))

    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: the 500 page, not a raise
    return app


def test_a_login_whose_cookie_the_browser_dropped_says_to_sign_in_again_with_a_link(client):
    token = csrf_token(client)
    client.delete_cookie("archiver_session")  # what a browser does with a refused cookie
    response = client.post(
        "/admin/login",
        data={"csrf_token": token, "username": USERNAME, "password": PASSWORD},
        headers=HTML,
    )
    assert response.status_code == 400
    page = styled(response)
    assert "The CSRF session token is missing" in page
    assert "Sign in again" in page
    assert "/admin/login" in links(page)


def test_a_form_with_a_stale_token_gets_the_same_advice(client, connection):
    recording = seed(connection)
    log_in(client)
    response = client.post(
        f"/admin/recordings/{recording.id}/retry", data={"csrf_token": "stale"}, headers=HTML
    )
    assert response.status_code == 400
    page = styled(response)
    assert "CSRF" in page
    assert "Sign in again" in page


def test_an_unknown_console_address_is_a_404_page_pointing_to_the_listing(client):
    log_in(client)
    response = client.get("/admin/nowhere", headers=HTML)
    assert response.status_code == 404
    page = styled(response)
    assert "<h1>404 Not Found</h1>" in page
    assert "find the recording from the listing" in page
    assert "/admin/" in links(page)
    assert USERNAME in page  # still the logged-in console, with its log-out button


def test_a_wrong_method_is_a_405_page(client):
    log_in(client)
    response = client.get("/admin/recordings/1/retry", headers=HTML)
    assert response.status_code == 405
    assert "use the console&#39;s own links and buttons" in styled(response)


def test_a_body_over_the_limit_is_a_413_page_naming_the_limit(client, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = client.post(
        "/admin/login",
        data={"username": "x" * (limit + 1), "password": "y"},
        headers=HTML,
    )
    assert response.status_code == 413
    page = styled(response)
    assert f"{limit} byte limit" in page
    assert "Send less at once" in page


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (400, "correct what the message names"),
        (403, "Your login does not allow this"),
        (429, "wait a minute"),
        (503, "Try again in a minute"),
    ],
)
def test_each_refusal_is_a_page_saying_what_to_do(app_with_refusals, code, says):
    client = app_with_refusals.test_client()
    log_in(client)
    response = client.get(f"/admin/test-refusal/{code}", headers=HTML)
    assert response.status_code == code
    assert says in styled(response).replace("&#39;", "'")


def test_a_crash_is_a_500_page_with_the_request_id_and_no_traceback(app_with_refusals):
    client = app_with_refusals.test_client()
    log_in(client)
    response = client.get("/admin/test-crash", headers={**HTML, "X-Request-Id": "req-42"})
    assert response.status_code == 500
    page = styled(response)
    assert "req-42" in page
    assert "a bug" not in page
    assert "Traceback" not in page


def test_the_database_away_is_a_503_page(app_with_refusals):
    client = app_with_refusals.test_client()
    log_in(client)
    response = client.get("/admin/test-database-away", headers=HTML)
    assert response.status_code == 503
    page = styled(response)
    assert "nothing was stored" in page
    assert "refused" not in page  # the driver's words stay in the log


def test_a_stranger_gets_the_page_with_a_sign_in_link(client):
    response = client.get("/admin/nowhere", headers=HTML)
    assert response.status_code == 404
    assert "/admin/login" in links(styled(response))


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("POST", "/webhooks/nosuch/recording-status", 404),
        ("DELETE", "/webhooks/twilio/recording-status", 405),
        ("POST", "/healthz", 405),
        ("POST", "/metrics", 405),
    ],
)
def test_the_machines_paths_still_answer_json(client, method, path, code):
    response = client.open(path, method=method, headers=HTML)
    assert response.status_code == code
    assert response.is_json
    assert response.get_json()["error"]


def test_the_login_page_itself_still_works_after_an_error_page(client):
    client.get("/admin/nowhere", headers=HTML)
    assert csrf_token(client)
