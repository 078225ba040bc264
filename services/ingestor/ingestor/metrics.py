"""The ingestor's Prometheus metrics (served with /healthz by azaion_shared.health)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.applied = Counter(
            "ingestor_messages_applied", "Messages applied to the data root", ["status"], registry=self.registry
        )
        self.rejected = Counter(
            "ingestor_messages_rejected", "Messages written to data-rejected/", registry=self.registry
        )
        self.offset = Gauge("ingestor_offset", "Last stream offset whose effects are durable", registry=self.registry)
        self.lag = Gauge(
            "ingestor_lag_messages", "Offsets between the stream's end and the checkpoint", registry=self.registry
        )
        self.connected = Gauge("ingestor_connected", "1 while subscribed to the stream", registry=self.registry)
        self.reconnects = Counter(
            "ingestor_reconnects", "Sessions ended by a disconnect or watchdog", registry=self.registry
        )
        self.batch_seconds = Histogram(
            "ingestor_batch_seconds", "Time to apply and commit one batch", registry=self.registry
        )
