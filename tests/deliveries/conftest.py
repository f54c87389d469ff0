"""Fixtures for deliveries: a receiver (a real HTTP server), the app forwarding and
notifying to it, and the worker's send step on the test's connection."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from app.deliveries.send import Deliverer
from app.extensions import extensions
from tests.fakes.receiver import Receiver

NOTIFY_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FORWARD_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as started:
        yield started


@pytest.fixture
def settings_overrides(receiver: Receiver) -> dict[str, Any]:
    return {
        "forward_url": receiver.url,
        "forward_secret": FORWARD_SECRET,
        "notify_url": receiver.url,
        "notify_secret": NOTIFY_SECRET,
    }


@pytest.fixture
def sessions(connection: Connection) -> sessionmaker[Session]:
    return sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
def deliverer(app: Flask, sessions: sessionmaker[Session]) -> Deliverer:
    return Deliverer(
        extensions(app).settings,
        sessions,
        "test-deliverer",
        first_retry=dt.timedelta(milliseconds=20),
        longest_retry=dt.timedelta(milliseconds=100),
    )
