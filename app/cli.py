"""``flask --app app ...`` commands."""

from __future__ import annotations

import datetime as dt
import sys

import click
import requests
from flask import Flask
from flask.cli import with_appcontext

from app.db import transaction
from app.extensions import extensions
from app.providers import PROVIDERS
from app.providers.base import SendsTestCallbacks, not_configured
from app.providers.errors import ProviderError
from app.recordings import queue
from app.recordings.reconcile import ARCHIVED, QUEUED, Summary, reconcile


class Progress:
    """One line rewritten in place on a terminal; a plain line per page otherwise."""

    def __init__(self, terminal: bool) -> None:
        self.terminal = terminal
        self.shown = False

    def page(self, summary: Summary) -> None:
        queued = summary.outcomes[QUEUED]
        line = (
            f"page {summary.pages}: {summary.listed:,} listed, {queued:,} "
            f"{'to queue' if summary.dry_run else 'queued'}, "
            f"{summary.outcomes[ARCHIVED]:,} already archived"
        )
        if self.terminal:
            click.echo(f"\r\033[K{line}", nl=False, err=True)
            self.shown = True
        else:
            click.echo(line, err=True)

    def done(self) -> None:
        if self.shown:
            click.echo("", err=True)


@click.command("worker")
@with_appcontext
def worker_command() -> None:
    """Archive recordings until SIGTERM (the Procfile's ``worker``)."""
    from app.worker import run_worker

    ext = extensions()
    if ext.engine is None:
        raise click.ClickException("the worker needs an engine of its own, not a test's connection")
    run_worker(ext.settings, ext.engine)


@click.command("retry-failed")
@with_appcontext
def retry_failed_command() -> None:
    """Put every failed recording back in the queue."""
    with transaction(extensions().sessions) as session:
        count = queue.requeue_failed(session)
    click.echo(f"requeued {count} failed recording(s)")


@click.command("send-test-callback")
@with_appcontext
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


@click.command("reconcile")
@with_appcontext
@click.option("--provider", "provider_name", required=True, help="twilio, signalwire or telnyx")
@click.option("--since", required=True, type=click.DateTime(["%Y-%m-%d"]), help="YYYY-MM-DD")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="YYYY-MM-DD (not included)")
@click.option("--dry-run", is_flag=True, help="say what would be done, change nothing")
def reconcile_command(
    provider_name: str, since: dt.datetime, until: dt.datetime | None, dry_run: bool
) -> None:
    """List the provider's recordings created from SINCE (UTC days) and queue every
    completed one not yet archived, exactly as its callback would have."""
    provider = PROVIDERS.get(provider_name)
    if provider is None:
        raise click.BadParameter(
            f"known providers: {', '.join(PROVIDERS)}", param_hint="--provider"
        )
    settings = extensions().settings
    problem = not_configured(provider, settings)
    api = provider.api(settings)
    if problem is not None or api is None:
        raise click.ClickException(problem or f"{provider.title} is not configured")
    start = since.replace(tzinfo=dt.UTC)
    end = until.replace(tzinfo=dt.UTC) if until else None
    if end is not None and end <= start:
        raise click.BadParameter("must be after --since", param_hint="--until")
    progress = Progress(sys.stderr.isatty())
    try:
        summary = reconcile(
            extensions().sessions, api, start, end, dry_run=dry_run, on_page=progress.page
        )
    except ProviderError as exc:
        progress.done()
        raise click.ClickException(f"listing failed: {exc.message}") from None
    progress.done()
    for line in summary.lines():
        click.echo(line)


@click.group("tokens")
def tokens_group() -> None:
    """API tokens: make one (printed once) or revoke one."""


@tokens_group.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["viewer", "operator", "admin"]))
@with_appcontext
def tokens_create_command(name: str, role: str) -> None:
    """Make an API token; it is printed once, on the last line, and only its hash is kept."""
    from app.api.auth import audit
    from app.people import tokens

    with transaction(extensions().sessions) as db:
        try:
            secret = tokens.create(db, name, role, created_by="cli")
        except tokens.TokenRefused as refused:
            raise click.ClickException(str(refused)) from None
        audit(db, actor="cli", action="token.create", recording_sid=None, detail=f"{name} ({role})")
    click.echo(f"token {name!r} ({role}) made; it is shown this once, keep it safe:", err=True)
    click.echo(secret)


@tokens_group.command("revoke")
@click.argument("name")
@with_appcontext
def tokens_revoke_command(name: str) -> None:
    """End the token called NAME at once."""
    from app.api.auth import audit
    from app.people import tokens

    with transaction(extensions().sessions) as db:
        if not tokens.revoke(db, name):
            raise click.ClickException(f"no live token called {name!r}")
        audit(db, actor="cli", action="token.revoke", recording_sid=None, detail=name)
    click.echo(f"token {name!r} revoked")


def register(app: Flask) -> None:
    """Attach the project's commands to ``app.cli``."""
    for command in (
        worker_command,
        retry_failed_command,
        send_test_callback_command,
        reconcile_command,
        tokens_group,
    ):
        app.cli.add_command(command)
