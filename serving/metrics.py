"""Prometheus metrics of the prediction service, exposed on /metrics next to BentoML's own.

BentoML already counts requests by endpoint and HTTP status (bentoml_service_request_total)
and measures their latency (bentoml_service_request_duration_seconds). These count events
inside the service: cold starts, store failures, rejected requests and model reloads.

Each metric is created on first use. BentoML 1.4.40 deprecates bentoml.metrics in favour of
prometheus_client and notes that its workers set PROMETHEUS_MULTIPROC_DIR after importing the
service module, while prometheus_client picks its multiprocess mode when it is imported.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def _metric(kind: str, name: str, documentation: str, labelnames: tuple[str, ...] = (), **options: Any) -> Any:
    import prometheus_client

    return getattr(prometheus_client, kind)(name, documentation, labelnames, **options)


def predictions() -> Any:
    return _metric(
        "Counter",
        "retention_predictions_total",
        "Users answered, by endpoint and by whether the answer was a cold start",
        ("endpoint", "cold_start"),
    )


def cold_starts() -> Any:
    return _metric("Counter", "retention_cold_starts_total", "Users without online features, answered with the base rate")


def online_store_errors() -> Any:
    return _metric(
        "Counter",
        "retention_online_store_errors_total",
        "Requests answered with 503 because the online feature store could not be read",
    )


def rejected_requests() -> Any:
    return _metric(
        "Counter", "retention_rejected_requests_total", "Requests rejected by the service's own checks", ("reason",)
    )


def model_reloads() -> Any:
    return _metric(
        "Counter",
        "retention_model_reloads_total",
        "Attempts to load a new champion version, by outcome (loaded or failed)",
        ("outcome",),
    )


def model_version() -> Any:
    return _metric(
        "Gauge",
        "retention_model_version",
        "Version number of the model that answers new requests",
        multiprocess_mode="livemax",
    )


def count_answers(endpoint: str, answered: int, cold_start_count: int) -> None:
    if answered > cold_start_count:
        predictions().labels(endpoint=endpoint, cold_start="false").inc(answered - cold_start_count)
    if cold_start_count:
        predictions().labels(endpoint=endpoint, cold_start="true").inc(cold_start_count)
        cold_starts().inc(cold_start_count)
