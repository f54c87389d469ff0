"""Alembic environment: the URL comes from the app's own settings parsing.

Only the ``release`` process runs migrations. On PostgreSQL they run under an
advisory lock, so two releases started at once (or a release racing a manual
``alembic upgrade``) apply each revision once, one after the other.
"""

from __future__ import annotations

import logging

from alembic import context
from sqlalchemy import Connection, text

from app.admin import models as admin_models  # noqa: F401  (registers the tables)
from app.audit import models as audit_models  # noqa: F401  (registers the tables)
from app.config import database_url_from_env
from app.db import MIGRATION_LOCK_ID, Base, is_postgresql, make_engine
from app.deliveries import models as delivery_models  # noqa: F401  (registers the tables)
from app.people import models as people_models  # noqa: F401  (registers the tables)
from app.people import tokens as token_models  # noqa: F401  (registers the tables)
from app.recordings import models  # noqa: F401  (registers the tables on the metadata)
from app.recordings import shares as share_models  # noqa: F401  (registers the tables)
from app.work import models as work_models  # noqa: F401  (registers the tables)

config = context.config
if not logging.getLogger().handlers:
    # No alembic.ini means no logging section; say what ran, as `release` output.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
target_metadata = Base.metadata


def _database_url() -> str:
    return config.attributes.get("database_url") or database_url_from_env()


def run_migrations_offline() -> None:
    context.configure(
        url=_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    engine = make_engine(_database_url())
    try:
        with engine.connect() as connection:
            if is_postgresql(connection):
                # Session-level lock: held across the migration transaction and
                # released when this connection closes, even on failure.
                connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
                connection.commit()
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
