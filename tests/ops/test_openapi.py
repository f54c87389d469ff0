"""/openapi.json describes the webhook and operations endpoints, and the live app (the
Procfile's web) keeps what it says: schemathesis sends it what the document allows
and checks every answer (never a 500, documented codes, documented bodies)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.helpers import ACCOUNT_SID, AUTH_TOKEN
from tests.procfile import (
    process_env,
    web_process,
)


def test_the_document_describes_every_endpoint(client):
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert len(list(schemathesis.openapi.from_dict(document).get_all_operations())) >= 6
    assert set(document["paths"]) >= {
        "/webhooks/{provider}/recording-status",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
    }


@pytest.fixture(scope="module")
def live_env(database_url: str) -> dict[str, str]:
    return process_env(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "openapi-test",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        }
    )


@pytest.fixture(scope="module")
def live_web(
    engine, live_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    log: Path = tmp_path_factory.mktemp("openapi") / "web.log"
    with web_process(live_env, log, release=True) as served:
        yield served.base_url


# The document's promises are the same whichever database is behind: scripts/test checks
# them against the live app once, on PostgreSQL (the production database, and the stricter).
@pytest.mark.one_database
def test_the_live_app_keeps_the_promises_of_its_openapi_document(live_web):
    schema = schemathesis.openapi.from_url(f"{live_web}/openapi.json")
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def keeps_its_promises(case):  # type: ignore[no-untyped-def]
            case.call_and_validate()

        keeps_its_promises()
        checked.append(operation.label)
    assert {"POST /webhooks/{provider}/recording-status", "GET /metrics"} <= set(checked), checked
    assert {"GET /api/v1/recordings", "POST /api/v1/recordings/{sid}/share"} <= set(checked)


@pytest.mark.one_database
def test_the_api_keeps_its_promises_to_a_token_holder(live_web, live_env) -> None:
    """The same, with an operator's token made by the real command, so the API's answers
    beyond 401 are checked against the document too."""
    made = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "tokens", "create",
         f"schemathesis-{os.getpid()}", "--role", "operator"],
        env=live_env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    token = made.stdout.strip().splitlines()[-1]
    schema = schemathesis.openapi.from_url(f"{live_web}/openapi.json")
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith(("/api/", "/share/")):
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def keeps_its_promises(case):  # type: ignore[no-untyped-def]
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"})

        keeps_its_promises()
        checked.append(operation.label)
    assert len(checked) >= 7, checked
