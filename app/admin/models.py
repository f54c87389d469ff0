"""The admin console's own table: failed logins, shared by every web worker."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime


class AdminLoginFailure(Base):
    """Failed logins from one client address (``addr:...``) or for one username
    (``user:...``), and until when further tries are refused."""

    __tablename__ = "admin_login_failures"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
