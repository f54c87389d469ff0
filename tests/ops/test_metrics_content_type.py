"""/metrics names its format once: one charset, as Prometheus' parser expects."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def test_metrics_content_type_carries_one_charset_and_the_format_version(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    content_type = response.headers["Content-Type"]
    params = [part.strip().lower() for part in content_type.split(";")]
    assert params[0] == "text/plain"
    assert params.count("charset=utf-8") == 1, content_type
    assert [p for p in params if p.startswith("version=")], content_type
    names = {family.name for family in text_string_to_metric_families(response.get_data(True))}
    assert "recording_archiver_recordings" in names
