"""What every request gets: proxy headers only from proxy networks, one request id."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.recordings.models import RecordingEvent
from tests.helpers import WEBHOOK_PATH, recording_params, sign

PUBLIC = "https://archiver.example.com" + WEBHOOK_PATH


def post_through(client, peer: str, signed_for: str, forwarded_for: str = "198.51.100.7"):
    params = recording_params()
    return client.post(
        WEBHOOK_PATH,
        data=params,
        headers={
            "X-Twilio-Signature": sign(signed_for, params),
            "Host": "archiver.example.com",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": forwarded_for,
        },
        environ_base={"REMOTE_ADDR": peer},
    )


@pytest.mark.parametrize(
    "peer", ["127.0.0.1", "::1", "10.12.0.7", "172.17.0.2", "192.168.1.4", "::ffff:10.0.0.9"]
)
def test_a_proxy_network_peer_sets_the_public_url_and_the_client_address(client, connection, peer):
    response = post_through(client, peer, signed_for=PUBLIC)
    assert response.status_code == 204, response.data
    assert connection.execute(select(RecordingEvent.remote_addr)).scalar_one() == "198.51.100.7"


@pytest.mark.parametrize("peer", ["203.0.113.9", "8.8.8.8", "2001:db8::5"])
def test_a_public_peer_sets_neither_the_url_checked_nor_the_stored_address(
    client, connection, peer
):
    # Signed for the https URL it claims: refused, the claim is not believed.
    assert post_through(client, peer, signed_for=PUBLIC).status_code == 403
    # Signed for the URL it really reached: accepted, stored under its own address.
    plain = "http://archiver.example.com" + WEBHOOK_PATH
    response = post_through(client, peer, signed_for=plain)
    assert response.status_code == 204, response.data
    assert connection.execute(select(RecordingEvent.remote_addr)).scalar_one() == peer


def test_every_answer_carries_a_request_id_and_a_good_one_is_kept(client):
    made = client.get("/healthz").headers["X-Request-Id"]
    assert len(made) == 32
    assert client.get("/healthz").headers["X-Request-Id"] != made
    kept = client.get("/healthz", headers={"X-Request-Id": "router-abc-123"})
    assert kept.headers["X-Request-Id"] == "router-abc-123"
    odd = client.get("/healthz", headers={"X-Request-Id": "has space"})
    assert odd.headers["X-Request-Id"] != "has space"
