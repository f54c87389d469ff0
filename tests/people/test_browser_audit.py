"""In Chromium against the Procfile's web: a viewer finds a recording and plays it;
an admin then sees that listen on /admin/audit."""

from __future__ import annotations

import time

import pytest

from app.db import make_session_factory, transaction
from app.people import users
from app.people.roles import Role
from tests.admin.helpers import PASSWORD, USERNAME
from tests.admin.test_browser import (  # noqa: F401  (fixtures)
    page,
    pytestmark,
    seeded,
    web,
)

VIEWER_PASSWORD = "viewer's own password"


def sign_in(browser_page, base: str, name: str, password: str) -> None:
    browser_page.goto(f"{base}/admin/login")
    browser_page.fill("input[name=username]", name)
    browser_page.fill("input[name=password]", password)
    browser_page.click("button[type=submit]")
    browser_page.wait_for_url(f"{base}/admin/")


@pytest.mark.usefixtures("seeded")
def test_a_viewers_listen_shows_on_the_admins_audit_page(web, page, live_engine):  # noqa: F811
    with transaction(make_session_factory(live_engine)) as db:
        users.add(db, "vic", Role.VIEWER, VIEWER_PASSWORD, actor="cli", address=None)
    sign_in(page, web, "vic", VIEWER_PASSWORD)
    assert "vic (viewer)" in page.inner_text("header")
    page.fill("input[name=q]", "CA" + "a" * 10)
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**q=CA**")
    page.locator("table.recordings td.sid a").first.click()
    page.wait_for_selector("audio")
    assert page.locator("text=Retry").count() == 0
    page.locator("audio").evaluate("a => a.play()")
    deadline = time.monotonic() + 15
    while page.locator("audio").evaluate("a => a.readyState") < 3:
        assert time.monotonic() < deadline, "the audio never became playable"
        page.wait_for_timeout(100)
    page.click("button:has-text('Log out')")
    page.wait_for_url("**/admin/login**")

    sign_in(page, web, USERNAME, PASSWORD)
    page.goto(f"{web}/admin/audit?action=recording.listen")
    rows = page.locator("table.audit tbody tr")
    assert rows.count() == 1
    assert "user:vic" in rows.first.inner_text()
    assert "RE" + "a" * 32 in rows.first.inner_text()
