"""The load generator of the serving benchmark, against small HTTP servers started by the test."""

import asyncio
import threading

import pytest

from benchmarks.http_load import http_request, run_load
from tests.serving.conftest import free_port


class _Server:
    """An asyncio HTTP/1.1 server on 127.0.0.1 that responds to every request with `status` and a JSON body."""

    def __init__(self, status: int, content_length: bool = True) -> None:
        self.port = free_port()
        self.status = status
        self.content_length = content_length
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "_Server":
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc_info) -> None:
        self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(10)

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stopped = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self._ready.set()
        await self._stopped.wait()
        server.close()
        for task in asyncio.all_tasks() - {asyncio.current_task()}:
            task.cancel()
        await asyncio.gather(*(asyncio.all_tasks() - {asyncio.current_task()}), return_exceptions=True)
        await server.wait_closed()

    async def _handle(self, reader, writer) -> None:
        try:
            while True:
                length = 0
                while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                self.requests += 1
                body = b'{"ok": true}'
                header = f"HTTP/1.1 {self.status} X\r\n" + (f"Content-Length: {len(body)}\r\n" if self.content_length else "")
                writer.write(header.encode() + b"\r\n" + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()


def _requests(port: int) -> list[bytes]:
    return [http_request("127.0.0.1", port, "/predict", b'{"user_ids": ["1"]}', {"Authorization": "Bearer t"})]


def test_load_counts_answers():
    with _Server(200) as server:
        result = run_load("127.0.0.1", server.port, _requests(server.port), clients=4, duration_s=0.5, warmup_s=0.1)
    assert result.requests > 0
    assert result.errors == 0
    assert result.requests <= server.requests
    assert result.percentile(50) <= result.percentile(99)


def test_error_status_counted():
    with _Server(503) as server:
        result = run_load("127.0.0.1", server.port, _requests(server.port), clients=2, duration_s=0.3, warmup_s=0)
    assert result.requests == 0
    assert result.errors > 0
    assert result.error_samples[0] == "HTTP 503"


def test_missing_length_is_error():
    with _Server(200, content_length=False) as server:
        result = run_load("127.0.0.1", server.port, _requests(server.port), clients=1, duration_s=0.2, warmup_s=0)
    assert result.errors > 0
    assert "Content-Length" in result.error_samples[0]


def test_request_bytes_are_http():
    request = http_request("127.0.0.1", 3000, "/predict", b"{}", {"Authorization": "Bearer t"})
    head, _, body = request.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /predict HTTP/1.1\r\n")
    assert b"Content-Length: 2" in head
    assert b"Authorization: Bearer t" in head
    assert body == b"{}"


@pytest.mark.parametrize("q", [50, 99])
def test_empty_result_percentile_is_nan(q):
    import numpy as np

    from benchmarks.http_load import LoadResult

    assert np.isnan(LoadResult(1, 1.0, np.array([]), 0).percentile(q))
