"""Hostile input, generated: whatever arrives at a webhook path or an admin route, the
answer is never a 500, and nothing is stored without a valid signature.

The strategies aim at what the code looks for, not at random bytes alone: query keys
around ``bodySHA256`` (a JSON-body signature), digit strings of any length and
non-ASCII digits where a number is read (``telnyx-timestamp``, ids, page links),
parameter names sent twice, ids and dates at and past their column's range, and
``next=`` with line breaks. Every provider and the console login are configured, so
each example reaches the code past "not enabled".

Runs on PostgreSQL and SQLite (the suite runs twice), because SQLite takes values
PostgreSQL refuses.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from app.recordings.models import RecordingEvent
from tests.admin.helpers import HTML, PASSWORD, USERNAME, csrf_token, log_in
from tests.helpers import (
    SIGNALWIRE_PROJECT,
    SIGNALWIRE_SIGNING_KEY,
    SIGNALWIRE_TOKEN,
    TELNYX_API_KEY,
    TELNYX_PATH,
    WEBHOOK_PATH,
    TelnyxSigner,
    recording_params,
    sign,
    telnyx_params,
)

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SIGNER = TelnyxSigner()


@pytest.fixture
def settings_overrides(tmp_path):
    """Every provider configured and a console login: refusals come from the checks
    themselves, not from a provider that is not enabled."""
    return {
        "signalwire_space_url": "https://example.signalwire.com",
        "signalwire_project_id": SIGNALWIRE_PROJECT,
        "signalwire_api_token": SIGNALWIRE_TOKEN,
        "signalwire_signing_key": SIGNALWIRE_SIGNING_KEY,
        "telnyx_api_key": TELNYX_API_KEY,
        "telnyx_public_key": SIGNER.public_key,
        "admin_username": USERNAME,
        "admin_password": PASSWORD,
        "local_archive_dir": str(tmp_path / "archive"),
    }


# -- building blocks ----------------------------------------------------------------------

# Numbers as text: any length of ASCII digits, the edges of 32- and 64-bit columns,
# signs and spaces, and non-ASCII digits (str.isdigit() takes "²", int() does not).
EDGE_NUMBERS = [  # first, the ones that once broke a check
    "9" * 400,
    "\u00b2",
    "9" * 309,  # past what a float holds
    "1\u00b9",
    "\u0661\u0662",
    "99999999999999999999",
    "9223372036854775808",
    "9223372036854775807",
    "4294967296",
    "2147483648",
    "2147483647",
    "0",
    "-1",
    " 1",
    "+1",
    "1e3",
    "1.5",
    "0x10",
]
digit_strings = st.one_of(
    st.text(st.sampled_from("0123456789"), min_size=1, max_size=25),
    st.text(st.sampled_from("0123456789"), min_size=300, max_size=500),
)
# Digits of other scripts (int() reads them) and superscripts and the like (it does not).
non_ascii_digits = st.text(st.characters(categories=("Nd", "No")), min_size=1, max_size=20)
numbers = st.one_of(
    st.sampled_from(EDGE_NUMBERS),
    digit_strings,
    non_ascii_digits,
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)

# Query keys at and around the one a JSON-body signature uses (the exact key only
# means one), and some others.
body_hash_keys = st.one_of(
    st.sampled_from(
        ["xbodySHA256", "bodySHA256", "bodySHA2567", "bodysha256", "BODYSHA256", "body%53HA256"]
    ),
    st.builds(
        lambda before, after: f"{before}bodySHA256{after}",
        st.text(st.sampled_from("xa_-.%2B"), max_size=3),
        st.text(st.sampled_from("7x_=.%20"), max_size=3),
    ),
)
other_keys = st.text(st.sampled_from("abcXYZ019_-."), min_size=1, max_size=8)
query_values = st.one_of(
    st.text(max_size=20).map(lambda text: quote(text, safe="")),
    st.just(""),
    st.text(st.sampled_from("0123456789abcdef"), min_size=64, max_size=64),
)


def query_items(keys: st.SearchStrategy[str], min_size: int = 0) -> st.SearchStrategy[list[str]]:
    """``key=value`` or a bare ``key``, as many as drawn, repeats included."""
    item = st.one_of(st.builds(lambda k, v: f"{k}={v}", keys, query_values), keys)
    return st.lists(item, min_size=min_size, max_size=4)


# A query string as sent: at least one key around bodySHA256, among others.
queries = st.builds(
    lambda others, hashes, after: "&".join([*others, *hashes, *after]),
    query_items(other_keys),
    query_items(body_hash_keys, min_size=1),
    query_items(other_keys),
)

header_names = st.sampled_from(
    [
        "X-Twilio-Signature",
        "X-SignalWire-Signature",
        "telnyx-signature-ed25519",
        "telnyx-timestamp",
        "Content-Type",
        "Host",
        "X-Forwarded-For",
        "X-Forwarded-Proto",
        "X-Forwarded-Host",
        "X-Forwarded-Port",
        "X-Request-Id",
        "I-Twilio-Idempotency-Token",
        "Transfer-Encoding",
    ]
)
header_values = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200),
    # What a server hands over: header bytes read as latin-1, so ² and friends.
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=50),
    numbers,
    st.sampled_from(["application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]),
)
params_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
FIELDS = [
    "AccountSid",
    "RecordingSid",
    "CallSid",
    "RecordingStatus",
    "RecordingDuration",
    "RecordingChannels",
    "RecordingStartTime",
    "RecordingUrl",
    "RecordingSource",
    "RecordingTrack",
    "ErrorCode",
    "ConferenceSid",
]
field_values = st.one_of(params_text, numbers)
# Parameters sent a second time: a field again (same value or another) or an extra.
repeats = st.lists(
    st.tuples(st.sampled_from([*FIELDS, "Extra"]), st.one_of(st.none(), field_values)),
    max_size=3,
)


def stored(connection) -> int:  # type: ignore[no-untyped-def]
    return int(connection.execute(select(func.count()).select_from(RecordingEvent)).scalar_one())


def with_repeats(params: dict[str, str], extra: list[tuple[str, str | None]]) -> MultiDict:
    """``params``, then each repeated name again (None: with the value it already has)."""
    pairs = list(params.items())
    for name, value in extra:
        pairs.append((name, params.get(name, "x") if value is None else value))
    return MultiDict(pairs)


def has_repeats(form: MultiDict) -> bool:
    return any(len(values) > 1 for _, values in form.lists())


# -- webhooks -----------------------------------------------------------------------------


# What each provider's check reads first: its signature headers, each with any value
# (empty ones included, sometimes left out), so the checks behind "missing" are reached.
SIGNATURE_HEADERS = {
    "twilio": ["X-Twilio-Signature"],
    "signalwire": ["X-SignalWire-Signature", "X-Twilio-Signature"],
    "telnyx": ["telnyx-signature-ed25519", "telnyx-timestamp"],
    "nosuch": [],
    "": [],
}
signature_values = st.one_of(
    st.text(st.sampled_from("ABCabc0123+/="), min_size=1, max_size=90), header_values
)


@st.composite
def signature_headers(draw: st.DrawFn, provider: str) -> dict[str, str]:
    headers = {}
    for name in SIGNATURE_HEADERS[provider]:
        # Present two times out of three: the checks behind "missing" are reached.
        if draw(st.sampled_from([True, True, False])):
            headers[name] = draw(numbers if name == "telnyx-timestamp" else signature_values)
    return headers


# One property per provider: each gets all its examples, none is left to chance.
@pytest.mark.parametrize("provider", ["twilio", "signalwire", "telnyx", "nosuch", ""])
@SETTINGS
@given(
    # The webhook's own methods most of the time: they reach the signature checks.
    method=st.sampled_from(["POST", "GET", "POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    body=st.one_of(st.binary(min_size=1, max_size=3000), st.just(b"")),
    headers=st.dictionaries(header_names, header_values, max_size=6),
    data=st.data(),
    query=st.one_of(queries, st.binary(max_size=200).map(lambda raw: raw.decode("latin-1"))),
)
def test_anything_unsigned_is_never_a_500_and_never_stored(
    client, connection, provider, method, body, headers, data, query
):
    signatures = data.draw(signature_headers(provider), label="signatures")
    before = stored(connection)
    response = client.open(
        f"/webhooks/{provider}/recording-status?{query}",
        method=method,
        data=body,
        headers={**headers, **signatures},
    )
    assert response.status_code < 500, response.data
    assert stored(connection) == before


@SETTINGS
@given(
    extra=st.dictionaries(params_text, params_text, max_size=8),
    overrides=st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=4),
    again=repeats,
    query=st.one_of(queries, st.just("")),
)
def test_a_signed_callback_with_any_values_is_stored_or_refused_never_a_500(
    client, connection, extra, overrides, again, query
):
    form = with_repeats({**recording_params("completed"), **extra, **overrides}, again)
    before = stored(connection)
    target = f"{WEBHOOK_PATH}?{query}" if query else WEBHOOK_PATH
    response = client.post(
        target,
        data=urlencode(list(form.items(multi=True))).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(f"http://localhost{target}", form),
        },
    )
    assert response.status_code in (204, 400, 403), response.data
    if response.status_code != 204:
        assert stored(connection) == before
        error = response.get_json()["error"]
        assert error
        if response.status_code == 403:
            # Signed as Twilio signs: only a JSON-body hash (which this form body does
            # not match) or another account can refuse it.
            assert "AccountSid" in error or "bodySHA256" in parse_qs(query), error
    else:
        assert not has_repeats(form), "a callback with a repeated parameter was stored"


@SETTINGS
@given(
    stamp=st.one_of(
        numbers,
        st.integers(min_value=-400, max_value=400).map(lambda skew: str(int(time.time()) + skew)),
    ),
    overrides=st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=3),
    again=repeats,
)
def test_a_telnyx_callback_signed_with_any_timestamp_is_stored_or_refused_never_a_500(
    client, connection, stamp, overrides, again
):
    form = with_repeats({**telnyx_params("completed"), **overrides}, again)
    body = urlencode(list(form.items(multi=True))).encode()
    before = stored(connection)
    response = client.post(
        TELNYX_PATH,
        data=body,
        headers={
            **SIGNER.headers(body, stamp=stamp),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code in (204, 400, 403), response.data
    if response.status_code != 204:
        assert stored(connection) == before
        assert response.get_json()["error"]
    else:
        assert stamp.isascii() and stamp.isdigit() and len(stamp) <= 12, stamp
        assert not has_repeats(form), "a callback with a repeated parameter was stored"


# -- the console --------------------------------------------------------------------------

ADMIN_ROUTES = [
    ("GET", "/admin/"),
    ("GET", "/admin/recordings/1"),
    ("GET", "/admin/recordings/1/media"),
    ("POST", "/admin/recordings/1/retry"),
    ("POST", "/admin/recordings/1/archive-again"),
    ("GET", "/admin/retry-failed"),
    ("POST", "/admin/retry-failed"),
    ("POST", "/admin/login"),
    ("GET", "/admin/login"),
]
EDGE_DATES = [
    "9999-12-31",
    "0001-01-01",
    "10000-01-01",
    "0000-01-01",
    "2026-02-30",
    "2026-13-01",
    "9999-12-31T23:59:59",
    "99999999999999999999-01-01",
]
dates = st.one_of(st.sampled_from(EDGE_DATES), st.dates().map(str), params_text)
# Page links as the listing writes them, "YYYYmmddTHHMMSS.ffffffZ~id", at every edge.
cursors = st.one_of(
    st.builds(
        lambda when, number: f"{when.strftime('%Y%m%dT%H%M%S.%f')}Z~{number}",
        st.datetimes(),
        numbers,
    ),
    st.builds(lambda number: f"99991231T235959.999999Z~{number}", numbers),
    params_text,
)
# Where a login goes next: line breaks and other controls where a header would split.
next_targets = st.one_of(
    st.sampled_from(
        [
            "/admin/\r\nSet-Cookie: x=1",
            "/admin/\nLocation: https://evil.example/",
            "/admin/%0d%0aX: y",
            "//evil.example/",
            "https://evil.example/",
            "/admin/\x00",
            "/admin/\u2028",
        ]
    ),
    st.builds(lambda text: f"/admin/{text}", params_text),
)
query_values_by_name = {
    "state": params_text,
    "status": params_text,
    "provider": params_text,
    "from": dates,
    "to": dates,
    "q": params_text,
    "before": cursors,
    "next": next_targets,
    "download": params_text,
}
admin_queries = st.lists(
    st.sampled_from(sorted(query_values_by_name)).flatmap(
        lambda name: st.tuples(st.just(name), query_values_by_name[name])
    ),
    max_size=5,
).map(dict)
path_ids = st.one_of(
    st.just("1"),
    numbers,
    # Path characters: a "?" or "#" would start the query or fragment instead.
    st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="?#"),
        max_size=25,
    ),
)


@pytest.mark.parametrize("logged_in", [False, True])
@SETTINGS
@given(
    route=st.sampled_from(ADMIN_ROUTES),
    query=admin_queries,
    form=st.dictionaries(params_text, params_text, max_size=4),
    path_id=path_ids,
)
def test_no_admin_route_answers_500_to_anything(client, logged_in, route, query, form, path_id):
    if logged_in and not getattr(client, "_csrf_token", None):
        assert log_in(client).status_code in (302, 303), "the property must reach the pages"
        # With the session's token a form reaches its view, not only the CSRF check.
        client._csrf_token = csrf_token(client, "/admin/")  # type: ignore[attr-defined]
    method, path = route
    path = path.replace("/1", f"/{path_id}", 1) if "/recordings/" in path else path
    if logged_in and method == "POST":
        form = {**form, "csrf_token": client._csrf_token}  # type: ignore[attr-defined]
    response = client.open(path, method=method, query_string=query, data=form, headers=HTML)
    assert response.status_code < 500, (path, query, response.data[:300])


@SETTINGS
@given(target=next_targets)
def test_a_login_with_any_next_is_a_redirect_or_a_refusal_never_a_500(app, target):
    client = app.test_client()  # a fresh browser: no session from another example
    token = csrf_token(client)
    response = client.post(
        "/admin/login",
        query_string={"next": target},
        data={"csrf_token": token, "username": USERNAME, "password": PASSWORD},
        headers=HTML,
    )
    assert response.status_code < 500, (target, response.data[:300])
    location = response.headers.get("Location", "")
    assert not any(char in location for char in "\r\n\x00"), location
