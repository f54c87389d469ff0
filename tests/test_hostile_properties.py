"""Hostile input, generated: whatever arrives at a webhook path or an admin route, the
answer is never a 500, and nothing is stored without a valid signature.

Runs on PostgreSQL and SQLite (the suite runs twice), because SQLite takes values
PostgreSQL refuses.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.recordings.models import RecordingEvent
from tests.admin.helpers import HTML, log_in
from tests.helpers import AUTH_TOKEN, WEBHOOK_PATH, hmac_sha1_signature, recording_params

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PATHS = [
    "/webhooks/twilio/recording-status",
    "/webhooks/signalwire/recording-status",
    "/webhooks/telnyx/recording-status",
]
header_names = st.sampled_from(
    [
        "X-Twilio-Signature",
        "X-SignalWire-Signature",
        "telnyx-signature-ed25519",
        "telnyx-timestamp",
        "Content-Type",
        "X-Forwarded-For",
        "X-Forwarded-Proto",
        "X-Forwarded-Host",
        "X-Request-Id",
        "I-Twilio-Idempotency-Token",
        "Transfer-Encoding",
    ]
)
header_values = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200
) | st.sampled_from(["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "1"])
params_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


def stored(connection) -> int:  # type: ignore[no-untyped-def]
    return int(connection.execute(select(func.count()).select_from(RecordingEvent)).scalar_one())


@SETTINGS
@given(
    path=st.sampled_from(
        [*PATHS, "/webhooks/nosuch/recording-status", "/webhooks//recording-status"]
    ),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    body=st.binary(max_size=3000),
    headers=st.dictionaries(header_names, header_values, max_size=6),
    query=st.binary(max_size=200),
)
def test_anything_unsigned_is_never_a_500_and_never_stored(
    client, connection, path, method, body, headers, query
):
    before = stored(connection)
    response = client.open(
        path + "?" + query.decode("latin-1"), method=method, data=body, headers=headers
    )
    assert response.status_code < 500, response.data
    assert stored(connection) == before


@SETTINGS
@given(
    extra=st.dictionaries(params_text, params_text, max_size=8),
    overrides=st.dictionaries(
        st.sampled_from(
            [
                "AccountSid",
                "RecordingSid",
                "CallSid",
                "RecordingStatus",
                "RecordingDuration",
                "RecordingChannels",
                "RecordingStartTime",
                "RecordingUrl",
                "RecordingSource",
                "ErrorCode",
                "ConferenceSid",
            ]
        ),
        params_text,
        max_size=4,
    ),
)
def test_a_signed_callback_with_any_values_is_stored_or_refused_never_a_500(
    client, connection, extra, overrides
):
    params = {**recording_params("completed"), **extra, **overrides}
    before = stored(connection)
    url = f"http://localhost{WEBHOOK_PATH}"
    response = client.post(
        WEBHOOK_PATH,
        data=urlencode(params).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": hmac_sha1_signature(url, params, AUTH_TOKEN),
        },
    )
    assert response.status_code in (204, 400, 403), response.data
    if response.status_code != 204:
        assert stored(connection) == before
        assert response.get_json()["error"]


ADMIN_ROUTES = [
    ("GET", "/admin/"),
    ("GET", "/admin/recordings/1"),
    ("GET", "/admin/recordings/1/media"),
    ("GET", "/admin/retry-failed"),
    ("POST", "/admin/retry-failed"),
    ("POST", "/admin/recordings/1/retry"),
    ("POST", "/admin/login"),
    ("GET", "/admin/login"),
]


@pytest.mark.parametrize("logged_in", [False, True])
@SETTINGS
@given(
    route=st.sampled_from(ADMIN_ROUTES),
    query=st.dictionaries(
        st.sampled_from(
            ["state", "status", "provider", "from", "to", "q", "before", "next", "download"]
        ),
        params_text,
        max_size=5,
    ),
    form=st.dictionaries(params_text, params_text, max_size=4),
    path_id=st.one_of(
        st.just("1"),
        # Path characters: a "?" or "#" would start the query or fragment instead.
        st.text(
            st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="?#"),
            max_size=25,
        ),
    ),
)
def test_no_admin_route_answers_500_to_anything(client, logged_in, route, query, form, path_id):
    if logged_in and not getattr(client, "_logged_in", False):
        log_in(client)
        client._logged_in = True  # type: ignore[attr-defined]
    method, path = route
    path = path.replace("/1", f"/{path_id}", 1) if "/recordings/" in path else path
    response = client.open(path, method=method, query_string=query, data=form, headers=HTML)
    assert response.status_code < 500, (path, query, response.data[:300])
