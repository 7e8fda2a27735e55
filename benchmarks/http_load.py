"""A closed-loop HTTP/1.1 load generator: N clients on keep-alive connections, each sending its next request
as soon as the previous response arrives.

It writes requests and parses responses on raw asyncio streams, because an HTTP client library
such as httpx spends several hundred microseconds of CPU per request, on the same cores as the
server under test. Responses must carry a Content-Length header, as uvicorn's JSON responses do.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class LoadResult:
    clients: int
    duration_s: float
    # Milliseconds of every request with a 200 response, in completion order.
    latencies_ms: np.ndarray = field(repr=False)
    # Responses with a status other than 200, plus requests that failed without a response.
    errors: int
    # The first few error descriptions, for the report.
    error_samples: tuple[str, ...] = ()
    # Requests sent during the warm-up, which are not measured.
    warmup_requests: int = 0

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def throughput(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.requests else float("nan")

    def summary(self) -> dict:
        return {
            "clients": self.clients,
            "requests": self.requests,
            "errors": self.errors,
            "duration_s": round(self.duration_s, 2),
            "p50_ms": round(self.percentile(50), 3),
            "p99_ms": round(self.percentile(99), 3),
            "throughput_rps": round(self.throughput, 1),
            "error_samples": list(self.error_samples),
        }


def http_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """Return the bytes of one HTTP/1.1 POST request with a JSON body on a keep-alive connection."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json",
             f"Content-Length: {len(body)}", "Connection: keep-alive"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def run_load(
    host: str, port: int, requests: list[bytes], clients: int, duration_s: float, warmup_s: float = 0.5
) -> LoadResult:
    """Send `requests` in turn from `clients` connections for warmup_s + duration_s; measure only after the warm-up."""
    return asyncio.run(_run(host, port, requests, clients, duration_s, warmup_s))


async def _run(host: str, port: int, requests: list[bytes], clients: int, duration_s: float, warmup_s: float) -> LoadResult:
    start = time.perf_counter()
    measure_from = start + warmup_s
    deadline = measure_from + duration_s
    latencies: list[float] = []
    errors: list[str] = []
    warmup: list[float] = []
    cycle = itertools.cycle(requests)
    await asyncio.gather(
        *(_client(host, port, cycle, measure_from, deadline, latencies, errors, warmup) for _ in range(clients))
    )
    elapsed = min(time.perf_counter(), deadline + 60) - measure_from
    return LoadResult(clients, elapsed, np.array(latencies) * 1000.0, len(errors), tuple(errors[:5]), len(warmup))


async def _client(host, port, cycle, measure_from, deadline, latencies, errors, warmup) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            request = next(cycle)
            sent = time.perf_counter()
            writer.write(request)
            try:
                status = await _read_answer(reader)
            except (asyncio.IncompleteReadError, ConnectionError, ValueError) as error:
                errors.append(f"{type(error).__name__}: {error}")
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            if sent < measure_from:
                warmup.append(sent)
                continue
            if status == 200:
                latencies.append(time.perf_counter() - sent)
            else:
                errors.append(f"HTTP {status}")
    finally:
        writer.close()


async def _read_answer(reader: asyncio.StreamReader) -> int:
    """Read one response and return its status code; the body is read and dropped."""
    status_line = await reader.readuntil(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    length = None
    while True:
        line = await reader.readuntil(b"\r\n")
        if line == b"\r\n":
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length is None:
        raise ValueError("the response has no Content-Length header")
    await reader.readexactly(length)
    return status
