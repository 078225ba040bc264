"""The augmentor's Prometheus metrics (served with /healthz by azaion_shared.health)."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.results = Counter("augmentor_images", "Images handled, by outcome", ["status"], registry=self.registry)
        self.failed = Counter("augmentor_failed", "Images set aside or tasks that failed", registry=self.registry)
        self.queue_depth = Gauge("augmentor_queue_depth", "Tasks waiting in the queue", registry=self.registry)
        self.seconds = Histogram(
            "augmentor_seconds_per_image",
            "Time to write an original and its variants",
            registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
        )
        self.enqueued = Counter(
            "augmentor_reconcile_enqueued", "Tasks enqueued by reconciliation", registry=self.registry
        )
