"""``flask --app app ...`` commands."""

from __future__ import annotations

import click
import requests
from flask import Flask

from app.db import transaction
from app.extensions import extensions
from app.providers import PROVIDERS
from app.providers.base import SendsTestCallbacks, not_configured
from app.recordings import queue


def register(app: Flask) -> None:
    """Attach the project's commands to ``app.cli``."""

    @app.cli.command("worker")
    def worker_command() -> None:
        """Archive recordings until SIGTERM (the Procfile's ``worker``)."""
        from app.worker import run_worker

        run_worker(extensions().settings)

    @app.cli.command("retry-failed")
    def retry_failed_command() -> None:
        """Put every failed recording back in the queue."""
        with transaction(extensions().sessions) as session:
            count = queue.requeue_failed(session)
        click.echo(f"requeued {count} failed recording(s)")

    @app.cli.command("send-test-callback")
    @click.option("--provider", "provider_name", default="twilio", show_default=True)
    @click.option("--recording-sid", required=True, help="in the provider's format")
    @click.option("--status", default="completed", show_default=True)
    @click.option(
        "--to",
        "service_url",
        default="http://127.0.0.1:5000",
        show_default=True,
        help="where this service listens",
    )
    def send_test_callback_command(
        provider_name: str, recording_sid: str, status: str, service_url: str
    ) -> None:
        """Send the callback the provider would send for a recording, signed with this
        deployment's key (to try the service out; see the README)."""
        provider = PROVIDERS.get(provider_name)
        if provider is None:
            raise click.BadParameter(f"known providers: {', '.join(PROVIDERS)}")
        if not isinstance(provider, SendsTestCallbacks):
            raise click.ClickException(
                f"{provider.title} signs its callbacks with a private key we do not hold"
            )
        settings = extensions().settings
        problem = not_configured(provider, settings)
        if problem is not None:
            raise click.ClickException(problem)
        url = f"{service_url.rstrip('/')}/webhooks/{provider.name}/recording-status"
        params = provider.example_callback(settings, recording_sid, status)
        headers = provider.sign_for_test(settings, url, params)
        try:
            response = requests.post(url, data=params, headers=headers, timeout=10)
        except requests.RequestException as exc:
            raise click.ClickException(f"{url} did not answer: {exc}") from None
        click.echo(f"POST {url}: {response.status_code} {response.text.strip()}".rstrip())
        if response.status_code >= 300:
            raise SystemExit(1)
