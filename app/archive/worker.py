"""The ``worker`` process: claim, archive, repeat; stop cleanly on SIGTERM."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import random
import signal
import socket
import threading
import uuid
from types import FrameType

from sqlalchemy.exc import OperationalError

from app.archive.pipeline import Archiver
from app.archive.storage import make_store
from app.config import Settings
from app.db import make_engine, make_session_factory

log = logging.getLogger(__name__)

MAX_IDLE_BACKOFF = 30.0


def bound_heap_growth() -> None:
    """Make glibc return large buffers to the system as soon as they are freed.

    Upload parts are 8 MiB buffers allocated and freed over and over by several
    threads. glibc's default raises its mmap threshold after the first free, so
    later parts come from per-thread heaps that keep the memory: the worker's
    RSS then grows with each recording (seen as 203 MB after three 500 MB
    recordings, against 128 MB with this). A fixed 1 MiB threshold keeps every
    part in its own mapping, unmapped on free.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_mmap_threshold = -3
        if not libc.mallopt(m_mmap_threshold, 1024 * 1024):
            log.warning("mallopt(M_MMAP_THRESHOLD) refused; memory may grow with each recording")
    except (OSError, AttributeError) as exc:
        log.warning("not glibc (%s); memory may grow with each recording", exc)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def run_worker(settings: Settings, stop: threading.Event | None = None) -> None:
    """Archive recordings until ``stop`` is set (SIGTERM and SIGINT set it).

    An idle worker sleeps ``WORKER_POLL_SECONDS`` with jitter between polls, so
    many workers do not hit the database in step; a database outage backs off
    up to 30 s and keeps going.
    """
    stop = stop or threading.Event()
    bound_heap_growth()
    if threading.current_thread() is threading.main_thread():

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info(
                "received %s: finishing or releasing the current recording",
                signal.Signals(signum).name,
            )
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    engine = (
        make_engine(settings.database_url, pool_size=2, max_overflow=0)
        if settings.is_postgres
        else make_engine(settings.database_url)
    )
    archiver = Archiver(
        settings, make_session_factory(engine), make_store(settings), worker_id(), stop=stop
    )
    log.info(
        "worker %s started: store %s, providers %s",
        archiver.worker_id,
        archiver.store.location,
        ", ".join(archiver.providers) or "none configured",
    )
    failures = 0
    try:
        while not stop.is_set():
            try:
                worked = archiver.run_once()
                failures = 0
            except OperationalError as exc:
                failures += 1
                delay = min(MAX_IDLE_BACKOFF, settings.worker_poll_seconds * 2**failures)
                log.warning("database unavailable (%s); waiting %.1fs", type(exc).__name__, delay)
                stop.wait(delay)
                continue
            if not worked:
                stop.wait(settings.worker_poll_seconds * random.uniform(0.5, 1.5))
    finally:
        engine.dispose()
        log.info("worker %s stopped", archiver.worker_id)
