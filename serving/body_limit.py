"""ASGI middleware that rejects request bodies above a size limit with 413 before anything parses them.

BentoML 1.4 has no setting for the maximum request body size, so without this a client could
make the service buffer and parse a body of any size.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving import metrics
from serving.errors import error_response


class BodySizeLimitMiddleware:
    """Reads the body of each HTTP request up to `max_bytes` and hands it to the app in one piece."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return

        declared = next((value for name, value in scope["headers"] if name == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return

        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._reject(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics.rejected_requests().labels(reason="body_too_large").inc()
        message = (
            f"The request body is larger than the limit of {self.max_bytes} bytes ([serving] max_request_bytes). "
            "Send fewer user ids or feature rows per request."
        )
        response = error_response(413, message, [{"loc": ["body"], "msg": message}])
        await response(scope, receive, send)
