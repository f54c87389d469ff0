"""Ids, dates and page links past what the columns hold are a 404 or a 400, never a 500."""

from __future__ import annotations

import pytest

from tests.admin.helpers import HTML, PASSWORD, USERNAME, csrf_token, log_in, seed

TOO_BIG = "99999999999999999999"
BIGINT_MAX = 2**63 - 1


@pytest.fixture
def admin(client):
    log_in(client)
    return client


def is_styled_page(response) -> bool:
    page = response.get_data(as_text=True)
    return response.mimetype == "text/html" and "admin.css" in page


@pytest.mark.parametrize("number", [TOO_BIG, str(BIGINT_MAX + 1), "9" * 400])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/recordings/{}"),
        ("GET", "/admin/recordings/{}/media"),
        ("POST", "/admin/recordings/{}/retry"),
        ("POST", "/admin/recordings/{}/archive-again"),
    ],
)
def test_a_recording_id_past_the_columns_range_is_a_404_page(admin, method, path, number):
    data = {"csrf_token": csrf_token(admin, "/admin/")} if method == "POST" else None
    response = admin.open(path.format(number), method=method, data=data, headers=HTML)
    assert response.status_code == 404, response.data
    assert is_styled_page(response)


def test_the_largest_id_the_column_holds_is_looked_up_and_not_found(admin, connection):
    seed(connection)
    response = admin.get(f"/admin/recordings/{BIGINT_MAX}", headers=HTML)
    assert response.status_code == 404
    assert "no such recording" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"to": "9999-12-31"}, "to"),
        ({"from": "9999-12-31"}, None),
        ({"from": "0001-01-01", "to": "9999-12-30"}, None),
    ],
)
def test_dates_at_the_calendars_ends_are_a_page_or_a_400_naming_the_field(
    admin, connection, query, named
):
    seed(connection)
    response = admin.get("/admin/", query_string=query, headers=HTML)
    page = response.get_data(as_text=True)
    if named is None:
        assert response.status_code == 200, page
    else:
        assert response.status_code == 400, page
        assert f"{named} must be" in page
        assert is_styled_page(response)


@pytest.mark.parametrize(
    "cursor",
    [
        f"20261120T120000.000000Z~{TOO_BIG}",
        f"20261120T120000.000000Z~{BIGINT_MAX + 1}",
        "20261120T120000.000000Z~-1",
        "20261120T120000.000000Z~ 1",
        "20261120T120000.000000Z~1_0",
        "20261120T120000.000000Z~\u0663",
        "99991231T235959.999999Z~1",
        "00010101T000000.000000Z~1",
        "20261120T120000.000000Z~" + "9" * 5000,
    ],
)
def test_a_page_link_with_a_damaged_or_overflowing_position_is_a_400_naming_it(
    admin, connection, cursor
):
    seed(connection)
    response = admin.get("/admin/", query_string={"before": cursor}, headers=HTML)
    page = response.get_data(as_text=True)
    if cursor.startswith(("9999", "0001")):
        assert response.status_code == 200, page  # a real position, at the calendar's ends
    else:
        assert response.status_code == 400, page
        assert "before" in page
        assert is_styled_page(response)


@pytest.mark.parametrize(
    "target", ["/admin/\r\nX-Evil: 1", "/admin/\n", "/admin/\x00", "/admin/\t"]
)
def test_a_login_whose_next_has_control_characters_is_a_400_and_no_session(client, target):
    token = csrf_token(client)
    data = {"csrf_token": token, "username": USERNAME, "password": PASSWORD}
    response = client.post("/admin/login", query_string={"next": target}, data=data, headers=HTML)
    assert response.status_code == 400, response.data
    assert "next" in response.get_data(as_text=True)
    assert is_styled_page(response)
    assert client.get("/admin/", headers=HTML).status_code == 302  # not logged in
