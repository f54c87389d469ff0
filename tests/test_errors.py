"""Refusals speak the client's language: JSON on the webhook and operations paths, HTML pages
elsewhere."""

from __future__ import annotations


def test_an_unknown_provider_is_a_json_404_naming_the_known_ones(client):
    response = client.post("/webhooks/nosuch/recording-status", data={"a": "b"})
    assert response.status_code == 404
    assert response.is_json
    assert "twilio" in response.get_json()["error"]


def test_a_wrong_method_on_the_webhook_is_a_json_405(client):
    response = client.delete("/webhooks/twilio/recording-status")
    assert response.status_code == 405
    assert response.is_json


def test_a_page_that_does_not_exist_is_an_html_404(client):
    response = client.get("/admin/nowhere<script>")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert b"<h1>404 Not Found</h1>" in response.data
    assert b"<script>" not in response.data
