"""Prometheus metrics of the service, in a registry of its own (never the process-global one).

`pinclip_serve_requests_total{endpoint,status}` counts every response; `pinclip_serve_stage_seconds
{stage}` times each image's decode, preprocess, queue wait, inference and total; the queue depth
gauge and the batch size histogram show whether batching works. `MetricsMiddleware` records the
request side for every route, refusals (401, 503, ...) included.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

ENDPOINTS = ("/v1/detect", "/v1/model", "/healthz", "/readyz", "/metrics")
STAGES = ("decode", "preprocess", "queue", "inference", "total")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class ServeMetrics:
    """The service's counters, histograms and gauge."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "pinclip_serve_requests",
            "HTTP responses by endpoint and status",
            ("endpoint", "status"),
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "pinclip_serve_request_seconds",
            "HTTP request latency by endpoint",
            ("endpoint",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "pinclip_serve_stage_seconds",
            "Per-image latency by stage (decode, preprocess, queue, inference, total)",
            ("stage",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "pinclip_serve_queue_depth",
            "Images admitted and not yet in a running batch",
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "pinclip_serve_batch_size",
            "Images per backend call",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.images = Counter(
            "pinclip_serve_images",
            "Images answered, by label (real, fake, uncertain, error)",
            ("label",),
            registry=self.registry,
        )

    def observe_stages(self, timings_ms: Mapping[str, float]) -> None:
        for stage in STAGES:
            value = timings_ms.get(stage)
            if value is not None:
                self.stage_seconds.labels(stage).observe(value / 1000.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware counting each HTTP response by endpoint and status, and timing it."""

    def __init__(self, app, metrics: ServeMetrics) -> None:  # noqa: ANN001 - an ASGI app
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - the ASGI signature
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        endpoint = path if path in ENDPOINTS else "other"
        status = 500
        start = time.perf_counter()

        async def send_and_record(message) -> None:  # noqa: ANN001
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            self.metrics.requests.labels(endpoint, str(status)).inc()
            self.metrics.request_seconds.labels(endpoint).observe(time.perf_counter() - start)
