"""Provider accounts by name: what reconciliation learnt of each (Twilio's
subaccounts' friendly names and statuses), for people picking or reading one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from app.db import upsert_insert, utcnow
from app.providers.base import AccountListing
from app.recordings.models import ProviderAccount

NAME_LENGTH = 255


def remember(session: Session, provider: str, listings: Iterable[AccountListing]) -> None:
    """Keep each listed account's friendly name and status (newest wins)."""
    rows = [
        {
            "provider": provider,
            "account_sid": item.account_sid[:64],
            "friendly_name": (item.friendly_name or "")[:NAME_LENGTH] or None,
            "status": (item.status or "")[:32] or None,
            "updated_at": utcnow(),
        }
        for item in listings
    ]
    if not rows:
        return
    insert = upsert_insert(session, cast(Table, ProviderAccount.__table__))
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["provider", "account_sid"],
            set_={
                "friendly_name": insert.excluded.friendly_name,
                "status": insert.excluded.status,
                "updated_at": insert.excluded.updated_at,
            },
        ),
        rows,
    )


def known_accounts(session: Session) -> list[ProviderAccount]:
    """Every account a provider listed to us, by provider and name."""
    return list(
        session.execute(
            select(ProviderAccount).order_by(
                ProviderAccount.provider, ProviderAccount.friendly_name, ProviderAccount.account_sid
            )
        ).scalars()
    )


def account_names(session: Session, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Friendly names of these (provider, account SID) pairs, where known."""
    wanted = set(pairs)
    if not wanted:
        return {}
    rows = session.execute(
        select(ProviderAccount.provider, ProviderAccount.account_sid, ProviderAccount.friendly_name)
        .where(ProviderAccount.account_sid.in_({sid for _, sid in wanted}))
        .where(ProviderAccount.friendly_name.is_not(None))
    ).all()
    return {(p, sid): name for p, sid, name in rows if (p, sid) in wanted and name}
