"""Latency and throughput of the prediction service, next to Feast's feature server and an in-process floor.

Run it with `retention benchmark serving [--json]` after `retention demo`; it writes the section
"Serving" of benchmarks/RESULTS.md. Every server binds to 127.0.0.1, every request goes to
loopback, and every load phase stops after its configured duration.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil

from benchmarks.http_load import LoadResult, http_request, run_load
from benchmarks.results_page import tree_rss
from benchmarks.serving_processes import RunningServer, bentoml_service, feast_feature_server
from feature_repo.feature_columns import ENTITY_COLUMN, SNAPSHOT_COLUMN
from retention.errors import PipelineError
from retention.settings import Settings

# The HTTP variants measured for every request size and client count.
VARIANTS = ("predict", "predict_no_reasons", "feast_serve")
WARMUP_SECONDS = 2.0


@dataclass(frozen=True)
class BenchmarkOptions:
    user_counts: tuple[int, ...] = (1, 100)
    client_counts: tuple[int, ...] = (1, 8, 32)
    # Measured seconds per cell of the HTTP matrix, after a warm-up of half a second.
    cell_seconds: float = 4.0
    # Seconds and clients of the sustained load, with one user per request.
    load_seconds: float = 120.0
    load_clients: int = 32
    # Seconds of each in-process floor measurement.
    floor_seconds: float = 2.0


def benchmark_user_ids(settings: Settings) -> list[str]:
    """Return the users of the newest feature snapshot, which the online store holds."""
    features = pd.read_parquet(settings.features_path, columns=[ENTITY_COLUMN, SNAPSHOT_COLUMN])
    latest = features[features[SNAPSHOT_COLUMN] == features[SNAPSHOT_COLUMN].max()]
    return sorted(latest[ENTITY_COLUMN].astype(str).unique())


def run_serving_benchmark(settings: Settings, options: BenchmarkOptions) -> dict[str, Any]:
    """Measure the floor in-process, then the HTTP matrix and the sustained load; return every number."""
    user_ids = benchmark_user_ids(settings)
    if len(user_ids) < max(options.user_counts):
        raise PipelineError(
            f"The newest snapshot in {settings.features_path} has {len(user_ids)} users, fewer than the "
            f"{max(options.user_counts)} per request that the benchmark sends. Run `retention demo` with more users."
        )
    load_before = os.getloadavg()
    floor, model = measure_floor(settings, user_ids, options)
    token = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="serving-benchmark-") as folder:
        log_dir = Path(folder)
        with bentoml_service(settings, token, log_dir) as service, feast_feature_server(settings, log_dir) as feast:
            bodies = request_bodies(user_ids, model["stored_ids"], model["feature_service"], options.user_counts)
            matrix = measure_matrix(service, feast, bodies, token, options)
            load = measure_sustained_load(service, bodies, token, options)
    return {
        "settings": {"profile": settings.profile, "home": str(settings.home), "users_in_store": len(user_ids)},
        "model": {key: value for key, value in model.items() if key != "stored_ids"},
        "options": options.__dict__,
        "floor": floor,
        "matrix": matrix,
        "load": load,
        "cores": os.cpu_count(),
        "load_average_before": [round(value, 2) for value in load_before],
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
    }


def measure_floor(settings: Settings, user_ids: list[str], options: BenchmarkOptions) -> tuple[list[dict], dict]:
    """Time, in this process and without HTTP, the online read plus forward pass, and the full predict."""
    import torch

    from serving.predictor import RetentionPredictor

    torch.set_num_threads(1)
    predictor = RetentionPredictor(settings)
    model = predictor.model
    results = []
    for users in options.user_counts:
        ids = [predictor.stored_id(user_id) for user_id in user_ids[:users]]

        def read_and_forward(ids=ids) -> None:
            rows = model.reader.read(ids)
            model.scorer.score(rows.columns, None)

        steps = {
            "read_and_forward": read_and_forward,
            "predict_no_reasons": lambda n=users: predictor.predict(user_ids[:n], explain=False),
            "predict": lambda n=users: predictor.predict(user_ids[:n], explain=True),
        }
        for name, step in steps.items():
            results.append({"step": name, "users": users, **_time_calls(step, options.floor_seconds)})
    description = {
        "name": model.name,
        "version": model.version,
        "feature_service": model.feature_service,
        "fast_path": model.scorer.fast_path_name,
        "explains": model.scorer.explains,
        "online_store": model.reader.config.online_store.type,
        "stored_ids": [predictor.stored_id(user_id) for user_id in user_ids],
    }
    return results, description


def request_bodies(
    user_ids: list[str], stored_ids: list[str], feature_service: str, user_counts: tuple[int, ...]
) -> dict[tuple[str, int], list[bytes]]:
    """Return JSON bodies per (variant, users): consecutive slices of the users, so requests vary."""
    bodies: dict[tuple[str, int], list[bytes]] = {}
    for users in user_counts:
        starts = range(0, max(1, len(user_ids) - users + 1), max(1, users))
        slices = [(user_ids[s : s + users], stored_ids[s : s + users]) for s in starts][:64]
        bodies[("predict", users)] = [json.dumps({"user_ids": ids}).encode() for ids, _ in slices]
        bodies[("predict_no_reasons", users)] = [
            json.dumps({"user_ids": ids, "explain": False}).encode() for ids, _ in slices
        ]
        bodies[("feast_serve", users)] = [
            json.dumps({"feature_service": feature_service, "entities": {ENTITY_COLUMN: stored}}).encode()
            for _, stored in slices
        ]
    return bodies


def measure_matrix(service: RunningServer, feast: RunningServer, bodies, token: str, options: BenchmarkOptions) -> list[dict]:
    results = []
    for variant in VARIANTS:
        server, path, headers = _target(variant, service, feast, token)
        for users in options.user_counts:
            requests = [http_request(server.host, server.port, path, body, headers) for body in bodies[(variant, users)]]
            # Unmeasured: the first requests load caches and registries, which can take longer than a cell.
            run_load(server.host, server.port, requests, clients=1, duration_s=WARMUP_SECONDS, warmup_s=0)
            for clients in options.client_counts:
                cpu_before = _tree_cpu_seconds(server.process.pid)
                result = run_load(server.host, server.port, requests, clients, options.cell_seconds)
                cpu_seconds = _tree_cpu_seconds(server.process.pid) - cpu_before
                # The CPU time includes the 0.5 s warm-up, so it is divided by every request sent, not only the measured ones.
                cpu_ms = 1000.0 * cpu_seconds / max(1, result.requests + result.warmup_requests + result.errors)
                results.append({"variant": variant, "users": users, **result.summary(), "server_cpu_ms": round(cpu_ms, 3)})
    return results


def measure_sustained_load(service: RunningServer, bodies, token: str, options: BenchmarkOptions) -> dict:
    """Run the sustained load with one user per request and sample the service's resident memory every second."""
    path, headers = "/predict", {"Authorization": f"Bearer {token}"}
    requests = [http_request(service.host, service.port, path, body, headers) for body in bodies[("predict", 1)]]
    sampler = _MemorySampler(service.process.pid)
    sampler.start()
    try:
        result: LoadResult = run_load(service.host, service.port, requests, options.load_clients, options.load_seconds)
    finally:
        samples = sampler.stop()
    start_rss, end_rss = samples[0], samples[-1]
    return {
        **result.summary(),
        "rss_start_mib": round(start_rss / 2**20, 1),
        "rss_end_mib": round(end_rss / 2**20, 1),
        "rss_max_mib": round(max(samples) / 2**20, 1),
        "rss_growth_percent": round(100.0 * (end_rss - start_rss) / start_rss, 2),
    }


def _tree_cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU seconds of a process and its children so far."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _target(variant: str, service: RunningServer, feast: RunningServer, token: str):
    if variant == "feast_serve":
        return feast, "/get-online-features", {}
    return service, "/predict", {"Authorization": f"Bearer {token}"}


def _time_calls(step, seconds: float) -> dict:
    step()
    latencies = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        step()
        latencies.append(time.perf_counter() - started)
    values = np.array(latencies) * 1000.0
    return {
        "calls": len(values),
        "p50_ms": round(float(np.percentile(values, 50)), 3),
        "p99_ms": round(float(np.percentile(values, 99)), 3),
    }


class _MemorySampler:
    """Samples the resident memory of a process and its children every second, from a thread."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.samples: list[int] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.append(tree_rss(self.process))
            if self._stopped.wait(1.0):
                return

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> list[int]:
        self._stopped.set()
        self._thread.join()
        self.samples.append(tree_rss(self.process))
        return self.samples
