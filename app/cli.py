"""``flask --app app ...`` commands."""

from __future__ import annotations

import click
from flask import Flask

from app.db import transaction
from app.extensions import extensions
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
