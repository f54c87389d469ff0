"""What /metrics reports, and where each figure comes from.

- Callbacks by provider, status and answer, and signature refusals: counted by
  the web workers (``app.telemetry``), summed over every worker of this
  machine by prometheus_client's multiprocess mode.
- Recordings by archive state, bytes in the archive and the age of the
  oldest queued recording: read from the database (at most every 10 s).
- Archive tries by outcome, bytes archived, download and upload durations:
  the workers' running totals in the database (``app.recordings.stats``), so
  workers on other machines are counted too.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.orm import Session, sessionmaker

from app.deliveries import outbox
from app.deliveries.models import DeliveryKind
from app.recordings import integrity, stats
from app.recordings.models import ArchiveState, Integrity
from app.recordings.overview import OverviewCache

PREFIX = "recording_archiver"
# The whole header, charset included: given as ``content_type`` (not
# ``mimetype``, to which Werkzeug appends a second ``; charset=utf-8``).
CONTENT_TYPE = CONTENT_TYPE_LATEST


def _labels(text: str) -> dict[str, str]:
    pairs = [part.split("=", 1) for part in text.split(",") if "=" in part]
    return {k: v.strip('"') for k, v in pairs}


class DatabaseCollector:
    def __init__(self, sessions: sessionmaker[Session], cache: OverviewCache) -> None:
        self.sessions = sessions
        self.cache = cache

    def collect(self) -> Iterator[Metric]:
        overview = self.cache.get().overview
        states = GaugeMetricFamily(
            f"{PREFIX}_recordings", "Recordings by archive state.", labels=["state"]
        )
        for state in ArchiveState:
            states.add_metric([state.value], overview.counts.get(state, 0))
        yield states
        yield GaugeMetricFamily(
            f"{PREFIX}_stored_bytes",
            "Bytes of the recordings in the archive now.",
            value=overview.bytes_archived,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_oldest_queued_age_seconds",
            "How long the most overdue queued recording has waited (0: none waiting).",
            value=overview.oldest_queued_age or 0.0,
        )
        checked = GaugeMetricFamily(
            f"{PREFIX}_integrity",
            "Archived recordings by what the scrub's last read-back found "
            "(missing and mismatch are the alarms).",
            labels=["state"],
        )
        for found in Integrity:
            checked.add_metric([found.value], overview.integrity.get(found, 0))
        yield checked
        with self.sessions() as session:
            rows = list(stats.totals(session))
        attempts = CounterMetricFamily(
            f"{PREFIX}_archive_attempts", "Archive tries by outcome.", labels=["outcome"]
        )
        outages = CounterMetricFamily(
            f"{PREFIX}_dependency_outages",
            "Times a worker found its store or database away and stopped claiming "
            "until it answered (no recording's try is spent on it).",
            labels=["dependency"],
        )
        archived = scrubbed_bytes = scrubbed_objects = 0.0
        deliveries = CounterMetricFamily(
            f"{PREFIX}_deliveries",
            "Forwarded callbacks and notifications ended, by kind and outcome "
            "(delivered or failed).",
            labels=["kind", "outcome"],
        )
        buckets: dict[str, dict[str, float]] = defaultdict(dict)
        sums: dict[str, float] = defaultdict(float)
        for name, labels, value in rows:
            if name == stats.ATTEMPTS:
                attempts.add_metric([_labels(labels).get("outcome", "")], value)
            elif name == stats.ARCHIVED_BYTES:
                archived = value
            elif name == integrity.SCRUBBED_BYTES:
                scrubbed_bytes = value
            elif name == integrity.SCRUBBED_OBJECTS:
                scrubbed_objects = value
            elif name == stats.OUTAGES:
                outages.add_metric([_labels(labels).get("dependency", "")], value)
            elif name == outbox.DELIVERIES_TOTAL:
                ended = _labels(labels)
                deliveries.add_metric([ended.get("kind", ""), ended.get("outcome", "")], value)
            elif name.endswith("_bucket"):
                buckets[name.removesuffix("_bucket")][_labels(labels)["le"]] = value
            elif name.endswith("_sum"):
                sums[name.removesuffix("_sum")] = value
        yield attempts
        yield outages
        yield deliveries
        with self.sessions() as session:
            retrying = outbox.retrying_by_kind(session)
        waiting = GaugeMetricFamily(
            f"{PREFIX}_deliveries_retrying",
            "Deliveries waiting to be tried again after a failed try, by kind.",
            labels=["kind"],
        )
        for kind in DeliveryKind:
            waiting.add_metric([kind.value], retrying.get(kind.value, 0))
        yield waiting
        yield CounterMetricFamily(
            f"{PREFIX}_archived_bytes", "Bytes archived and confirmed, all time.", value=archived
        )
        yield CounterMetricFamily(
            f"{PREFIX}_scrubbed_bytes", "Bytes read back by scrubs, all time.", value=scrubbed_bytes
        )
        yield CounterMetricFamily(
            f"{PREFIX}_scrubbed_objects",
            "Archived objects read back by scrubs, all time.",
            value=scrubbed_objects,
        )
        for base, help_text in (
            (stats.DOWNLOAD_SECONDS, "Seconds from the download's request to its last byte."),
            (stats.UPLOAD_SECONDS, "Seconds from the last byte downloaded to the copy confirmed."),
        ):
            counts = buckets.get(base, {})
            ordered = [
                (le, counts.get(le, 0.0))
                for le in [repr(b) if b != float("inf") else "+Inf" for b in stats.BUCKETS]
            ]
            yield HistogramMetricFamily(
                f"{PREFIX}_{base}", help_text, buckets=ordered, sum_value=sums.get(base, 0.0)
            )


def exposition(sessions: sessionmaker[Session], cache: OverviewCache) -> bytes:
    """The whole scrape, as bytes."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    database = CollectorRegistry()
    database.register(DatabaseCollector(sessions, cache))
    return body + generate_latest(database)
