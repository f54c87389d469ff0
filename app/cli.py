"""``flask --app app ...`` commands."""

from __future__ import annotations

import csv
import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path

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
from app.recordings.integrity import ToCheck
from app.recordings.models import Integrity
from app.recordings.reconcile import ARCHIVED, QUEUED, Summary, account_walks, reconcile
from app.storage import RetentionUnsupported, StorageError


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
    from app.admin.lockout import prune_forgotten
    from app.worker import run_worker

    ext = extensions()
    if ext.engine is None:
        raise click.ClickException("the worker needs an engine of its own, not a test's connection")
    try:
        # The console's login failures are forgotten by the worker's retention run.
        forgotten = ("admin_login_failures", prune_forgotten, dt.timedelta(0))
        run_worker(ext.settings, ext.engine, more_pruning=[forgotten])
    except RetentionUnsupported as exc:
        raise click.ClickException(f"the worker refuses to start: {exc}") from None


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
    try:
        # Twilio with TWILIO_SUBACCOUNTS: every subaccount, closed ones first.
        walks = account_walks(api, None if dry_run else extensions().sessions)
    except ProviderError as exc:
        raise click.ClickException(f"listing accounts failed: {exc.message}") from None
    for account, account_api in walks:
        progress = Progress(sys.stderr.isatty())
        try:
            summary = reconcile(
                extensions().sessions,
                account_api,
                start,
                end,
                dry_run=dry_run,
                on_page=progress.page,
                account=account,
            )
        except ProviderError as exc:
            progress.done()
            where = f" of {account}" if account else ""
            raise click.ClickException(f"listing{where} failed: {exc.message}") from None
        progress.done()
        for line in summary.lines():
            click.echo(line)


@click.command("decrypt")
@with_appcontext
@click.argument("recording_sid")
@click.option(
    "--private-key",
    "private_key_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="the PEM file of the private key whose public key Twilio encrypts with",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="where to write the plain audio (written only once the AES-GCM tag verifies)",
)
def decrypt_command(recording_sid: str, private_key_path: Path, out: Path) -> None:
    """Write the plain audio of an archived recording made with Twilio's Voice
    Recording Encryption, read from the store and checked against its GCM tag."""
    from app.archive.decryption import (
        DecryptionRefused,
        StorageError,
        decrypt_recording,
        load_private_key,
    )

    ext = extensions()
    settings = ext.settings
    try:
        key = load_private_key(private_key_path.read_bytes())
        with ext.sessions() as session:
            done = decrypt_recording(
                session,
                ext.store,
                recording_sid,
                key,
                out,
                (settings.http_connect_timeout, settings.http_read_timeout),
            )
    except (DecryptionRefused, StorageError, OSError) as exc:
        raise click.ClickException(
            f"{recording_sid} not decrypted, {out} not written: {exc}"
        ) from None
    click.echo(f"decrypted {done.key} (key {done.public_key_sid}): {done.size:,} bytes to {out}")


@click.command("legal-hold")
@with_appcontext
@click.argument("recording_sid")
@click.option("--on/--off", "on", required=True, help="set or lift the hold")
def legal_hold_command(recording_sid: str, on: bool) -> None:
    """Set (--on) or lift (--off) the store's legal hold on a recording's object."""
    from app.archive.retention import LegalHoldRefused, set_legal_hold

    ext = extensions()
    try:
        with transaction(ext.sessions) as session:
            set_legal_hold(session, ext.store, recording_sid, on, actor="cli")
    except LegalHoldRefused as exc:
        raise click.ClickException(exc.reason) from None
    except StorageError as exc:
        raise click.ClickException(f"the store failed: {exc}") from None
    click.echo(f"legal hold {'set on' if on else 'lifted from'} {recording_sid}")


@click.command("scrub")
@with_appcontext
@click.option("--limit", type=click.IntRange(min=1), help="check at most N recordings")
def scrub_command(limit: int | None) -> None:
    """Read archived objects back (the longest unchecked first, at most
    SCRUB_MAX_MB_PER_SECOND) and compare each with its SHA-256."""
    from app.archive.scrub import RateCeiling, scrub

    ext = extensions()
    ceiling = RateCeiling(ext.settings.scrub_max_mb_per_second * 1e6)

    def each(target: ToCheck, found: Integrity) -> None:
        if found is not Integrity.OK:
            click.echo(f"{target.provider} {target.recording_sid}: {found.value} ({target.key})")

    try:
        summary = scrub(
            ext.sessions, ext.store, limit=limit, pace=ceiling, on_each=each, settings=ext.settings
        )
    except StorageError as exc:
        raise click.ClickException(f"the store failed: {exc}") from None
    click.echo(summary.line())
    if summary.found[Integrity.MISSING] or summary.found[Integrity.MISMATCH]:
        raise SystemExit(1)


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
    profile = extensions().settings.password_hash_profile
    _people_change(
        lambda s: (
            f"added {users.add(s, name, role, password, actor=CLI, address=None, hash_profile=profile).name} as {role}"
        )
    )


@users_group.command("set-password")
@with_appcontext
@click.argument("name")
def users_set_password_command(name: str) -> None:
    """A new password from standard input; every session of the user ends."""
    password = _read_password()
    profile = extensions().settings.password_hash_profile
    _people_change(
        lambda s: (
            f"new password for {users.set_password(s, name, password, actor=CLI, address=None, hash_profile=profile).name}; "
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
        decrypt_command,
        legal_hold_command,
        scrub_command,
        tokens_group,
        users_group,
        audit_group,
    ):
        app.cli.add_command(command)
