"""app.webhooks.fast answers form callbacks ahead of Flask: the same answers as Flask's."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from werkzeug.test import EnvironBuilder, run_wsgi_app

from app.webhooks.fast import FastWebhook
from tests.helpers import OTHER_ACCOUNT_SID, WEBHOOK_PATH, recording_params, recording_sid, sign

URL = "http://localhost" + WEBHOOK_PATH


def layer(app: Flask) -> FastWebhook:
    # The trusted proxy layer (when configured) wraps it: tests/test_web.py covers that.
    wsgi = app.wsgi_app
    found = getattr(wsgi, "direct", wsgi)
    assert isinstance(found, FastWebhook)
    return found


def answer(wsgi: Any, params: dict[str, str], headers: dict[str, str]) -> tuple[Any, ...]:
    builder = EnvironBuilder(
        path=WEBHOOK_PATH,
        method="POST",
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Request-Id": "same-id", **headers},
    )
    environ = builder.get_environ()
    environ["wsgi.input_terminated"] = True  # as gunicorn says
    body, status, response_headers = run_wsgi_app(wsgi, environ, buffered=True)
    return status, sorted(response_headers.items()), b"".join(body)


def signed(params: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": sign(URL, params)}


def cases() -> list[tuple[str, dict[str, str], dict[str, str]]]:
    good = recording_params("completed", sid=recording_sid(41))
    nul = {**good, "Extra": "a\x00b"}
    foreign = {**good, "AccountSid": OTHER_ACCOUNT_SID}
    malformed = {**good, "RecordingSid": "RE-not-hex"}
    return [
        ("stored", good, signed(good)),
        ("repeat", good, signed(good)),
        ("wrong signature", good, {"X-Twilio-Signature": "nope"}),
        ("no signature", good, {}),
        ("a NUL", nul, signed(nul)),
        ("another account", foreign, signed(foreign)),
        ("a malformed SID", malformed, signed(malformed)),
    ]


def test_it_stands_in_front_of_flask(app):
    assert layer(app).provider_for(
        EnvironBuilder(
            path=WEBHOOK_PATH,
            method="POST",
            data="a=b",
            content_type="application/x-www-form-urlencoded",
        ).get_environ()
    )


@pytest.mark.parametrize("name", [name for name, *_ in cases()])
def test_each_answer_is_flasks_own(app, name):
    """The fast layer's answer, then Flask's for the same request (sent second, so a
    callback stored by the first is a repeat for both)."""
    fast = layer(app)
    for case, params, headers in cases():
        if case == "repeat":
            answer(fast, params, headers)  # stored once before both answers
        if case == name:
            assert answer(fast, params, headers) == answer(fast.flask, params, headers)
            return
    raise AssertionError(name)


def test_the_hooks_it_does_by_itself_are_the_apps(app):
    """What app.webhooks.fast does around the view stands for these hooks (the others
    leave a callback's answer alone): a hook added to the app must be added there too,
    or shown to leave callbacks alone, and then listed here."""

    def names(functions: list[Any]) -> list[str]:
        return [getattr(f, "__name__", type(f).__name__) for f in functions]

    assert names(app.before_request_funcs[None]) == [
        "bound_body_reads",  # done by the layer
        "assign_request_id",  # done by the layer
        "require_login",  # the console's only
        "csrf_protect",  # the webhooks blueprint is exempt
    ]
    assert names(app.after_request_funcs[None]) == [
        "RedirectsHome",  # only a redirect, which a callback never gets
        "echo_request_id",  # done by the layer
        "security_headers",  # /admin only
    ]
    assert not app.teardown_request_funcs
    assert set(app.before_request_funcs) == {None, "api"}
