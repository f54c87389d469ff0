"""In real Chromium, at 1366 px: an operator types a number as people write it into
the console's search box and opens the right recording."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from app.recordings import phones
from app.recordings.models import ArchiveState, Recording
from tests.admin.helpers import PASSWORD, USERNAME
from tests.admin.test_browser import ARTIFACTS, page, pytestmark, web  # noqa: F401  (fixtures)


def a_call(n: int, from_: str, to: str, day: dt.datetime) -> Recording:
    caller, called = phones.normalise(from_, "US"), phones.normalise(to, "US")
    assert caller and called
    return Recording(
        provider="twilio",
        account_sid="AC" + "0" * 32,
        recording_sid=f"RE{n:032x}",
        call_sid=f"CA{n:032x}",
        provider_status="completed",
        archive_state=ArchiveState.DONE,
        recorded_at=day + dt.timedelta(minutes=n),
        created_at=day,
        updated_at=day,
        from_number=caller.value,
        from_digits_reversed=caller.digits_reversed,
        to_number=called.value,
        to_digits_reversed=called.digits_reversed,
        direction="inbound",
        call_details_state="done",
    )


def test_typing_a_number_as_people_write_it_opens_the_right_recording(web, page, live_engine):  # noqa: F811
    day = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
    with Session(live_engine) as session:
        session.add_all(
            [
                a_call(1, "+12125550123", "+14155550199", day),
                a_call(2, "+14155550100", "+14155550199", day),  # the one
                a_call(3, "+13125550100", "+14155550199", day),  # same last four
            ]
        )
        session.commit()

    page.goto(f"{web}/admin/")
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{web}/admin/")
    page.fill("input[name=q]", "(415) 555-0100")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**q=**")
    rows = page.locator("table.recordings tbody tr")
    assert rows.count() == 1
    assert "+1 415-555-0100" in rows.first.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-phone-search.png"), full_page=True)

    rows.first.locator("td.sid a").click()
    page.wait_for_selector("h1.sid")
    assert page.locator("h1.sid").inner_text() == "RE" + f"{2:032x}"
    assert "+1 415-555-0100" in page.locator("section.facts").first.inner_text()
