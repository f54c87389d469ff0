"""Liveness, readiness and metrics."""

from __future__ import annotations

from app import create_app
from tests.conftest import base_settings
from tests.helpers import recording_params, signed_post


def test_healthz_answers_while_the_process_is_up(client):
    assert client.get("/healthz").status_code == 200


def test_readyz_answers_200_when_the_database_answers(client):
    assert client.get("/readyz").status_code == 200


def test_readyz_answers_503_when_the_database_does_not(tmp_path):
    missing = tmp_path / "no-such-dir" / "deeper"
    settings = base_settings("postgresql+psycopg://nobody@127.0.0.1:1/none")
    app = create_app({"settings": settings})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert not missing.exists()


def test_metrics_count_recordings_by_state(client):
    assert signed_post(client, recording_params("completed")).status_code == 204
    body = client.get("/metrics").get_data(as_text=True)
    assert 'recording_archiver_recordings{state="queued"} 1' in body
    assert 'recording_archiver_recordings{state="done"} 0' in body
