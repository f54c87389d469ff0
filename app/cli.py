"""``flask --app app ...`` commands."""

from __future__ import annotations

import csv
import datetime as dt
import sys
from collections.abc import Callable

import click
import requests
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from app import audit
from app.audit import log as audit_log
from app.audit import queries as audit_queries
from app.audit.actions import CLI
from app.db import transaction
from app.extensions import extensions
from app.people import users
from app.people.passwords import PasswordRefused
from app.people.roles import Role
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


# -- people and the audit log (contract: People, Audit log) ---------------------------


def _read_password() -> str:
    """One line from standard input (not echoed on a terminal)."""
    if sys.stdin.isatty():
        return str(click.prompt("Password", hide_input=True))
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def _people_change(work: Callable[[Session], str]) -> None:
    try:
        with transaction(extensions().sessions) as session:
            message = work(session)
    except (users.UserRefused, PasswordRefused) as refused:
        raise click.ClickException(str(refused)) from None
    click.echo(message)


def _role(value: str) -> Role:
    try:
        return users.parse_role(value)
    except users.UserRefused as refused:
        raise click.BadParameter(str(refused)) from None


@click.group("users")
def users_group() -> None:
    """Console users: add, set-password, set-role, remove, list."""


@users_group.command("add")
@with_appcontext
@click.argument("name")
@click.option("--role", "role_name", required=True, help="viewer, operator or admin")
def users_add_command(name: str, role_name: str) -> None:
    """Make a user; the password is read from standard input (one line, 12+ characters)."""
    role = _role(role_name)
    password = _read_password()
    _people_change(
        lambda s: (
            f"added {users.add(s, name, role, password, actor=CLI, address=None).name} as {role}"
        )
    )


@users_group.command("set-password")
@with_appcontext
@click.argument("name")
def users_set_password_command(name: str) -> None:
    """A new password from standard input; every session of the user ends."""
    password = _read_password()
    _people_change(
        lambda s: (
            f"new password for {users.set_password(s, name, password, actor=CLI, address=None).name}; "
            "their sessions ended"
        )
    )


@users_group.command("set-role")
@with_appcontext
@click.argument("name")
@click.argument("role_name", metavar="ROLE")
def users_set_role_command(name: str, role_name: str) -> None:
    """Change a user's role; every session of the user ends."""
    role = _role(role_name)
    _people_change(
        lambda s: (
            f"{users.set_role(s, name, role, actor=CLI, address=None).name} is now {role}; "
            "their sessions ended"
        )
    )


@users_group.command("remove")
@with_appcontext
@click.argument("name")
def users_remove_command(name: str) -> None:
    """Remove a user; every session of the user ends."""

    def remove(session: Session) -> str:
        users.remove(session, name, actor=CLI, address=None)
        return f"removed {name}; their sessions ended"

    _people_change(remove)


@users_group.command("list")
@with_appcontext
def users_list_command() -> None:
    """One line per user: name, role, last sign-in (UTC)."""
    with extensions().sessions() as session:
        everyone = users.all_users(session)
    for user in everyone:
        last = (
            user.last_sign_in_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if user.last_sign_in_at
            else "never"
        )
        click.echo(f"{user.name}\t{user.role}\t{last}")


@click.group("audit")
def audit_group() -> None:
    """The audit log: export, verify."""


@audit_group.command("export")
@with_appcontext
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="YYYY-MM-DD (UTC, included)")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="YYYY-MM-DD (UTC, included)")
def audit_export_command(since: dt.datetime | None, until: dt.datetime | None) -> None:
    """The log as CSV on standard output, oldest first, a header row first."""
    where = audit_queries.AuditFilter(
        since=since.date() if since else None, until=until.date() if until else None
    )
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["id", "at", "actor", "address", "action", "recording_sid", "detail", "hash"])
    with extensions().sessions() as session:
        for entry in audit_queries.export(session, where):
            out.writerow(
                [
                    entry.id,
                    entry.at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    entry.actor,
                    entry.address or "",
                    entry.action,
                    entry.recording_sid or "",
                    entry.detail,
                    entry.hash,
                ]
            )


@audit_group.command("verify")
@with_appcontext
def audit_verify_command() -> None:
    """Recompute the hash chain; exit 1 naming the first entry that does not match."""
    with extensions().sessions() as session:
        bad = audit.verify(session)
        if bad is None:
            last = audit_log.last_hash(session)
            click.echo(f"audit log verified; latest hash {last}")
            return
        click.echo(
            f"audit entry {bad.id} ({bad.at.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ} "
            f"{bad.action}) does not match its hash: it, or the entry before it, was "
            "changed or removed",
            err=True,
        )
    raise SystemExit(1)


def register(app: Flask) -> None:
    """Attach the project's commands to ``app.cli``."""
    for command in (
        worker_command,
        retry_failed_command,
        send_test_callback_command,
        reconcile_command,
        users_group,
        audit_group,
    ):
        app.cli.add_command(command)
