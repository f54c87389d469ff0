"""Liveness, readiness and metrics."""

from __future__ import annotations

from app import create_app
from tests.helpers import base_settings, recording_params, signed_post


def test_healthz_answers_while_the_process_is_up(client):
    assert client.get("/healthz").status_code == 200


def test_readyz_answers_200_when_the_database_answers(client):
    assert client.get("/readyz").status_code == 200


def test_readyz_answers_503_when_the_database_does_not():
    settings = base_settings("postgresql+psycopg://nobody@127.0.0.1:1/none")
    app = create_app({"settings": settings})
    assert app.test_client().get("/readyz").status_code == 503


def test_metrics_count_recordings_by_state(client):
    assert signed_post(client, recording_params("completed")).status_code == 204
    body = client.get("/metrics").get_data(as_text=True)
    assert 'recording_archiver_recordings{state="queued"} 1' in body
    assert 'recording_archiver_recordings{state="done"} 0' in body


def test_a_webhook_while_the_database_is_down_is_a_503_saying_nothing_was_stored():
    settings = base_settings("postgresql+psycopg://nobody:pw-secret@127.0.0.1:1/none")
    client = create_app({"settings": settings}).test_client()
    response = signed_post(client, recording_params("completed"))
    assert response.status_code == 503
    assert "nothing was stored" in response.get_json()["error"]
    assert "pw-secret" not in response.get_data(as_text=True)
