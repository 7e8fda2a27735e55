"""Bearer-token authentication of the prediction endpoints, as ASGI middleware.

The token comes from the environment variable RETENTION_API_TOKEN. Health, readiness and
metrics endpoints stay open, so probes and Prometheus need no secret.
"""

from __future__ import annotations

import hmac
import logging
import os

from starlette.types import ASGIApp, Receive, Scope, Send

from retention.errors import ConfigurationError
from retention.settings import Settings
from serving import metrics
from serving.errors import error_response

logger = logging.getLogger(__name__)

TOKEN_ENV = "RETENTION_API_TOKEN"
MIN_TOKEN_LENGTH = 16


def api_token(settings: Settings) -> str | None:
    """Return the token from the environment, or None in the local profile when it is unset.

    Raises ConfigurationError in the production profile without a token, and for a token
    shorter than MIN_TOKEN_LENGTH characters.
    """
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        if settings.profile == "production":
            raise ConfigurationError(
                f"{TOKEN_ENV} is not set, and the production profile does not serve predictions without a "
                f"bearer token. Set {TOKEN_ENV} to a random secret of at least {MIN_TOKEN_LENGTH} characters "
                "(for example the output of `openssl rand -hex 32`) and start the service again."
            )
        logger.warning("%s is not set: the prediction endpoints accept requests without a token", TOKEN_ENV)
        return None
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigurationError(
            f"{TOKEN_ENV} has {len(token)} characters, fewer than the minimum of {MIN_TOKEN_LENGTH}. "
            "Use a longer random secret, for example the output of `openssl rand -hex 32`."
        )
    return token


class BearerTokenMiddleware:
    """Responds with 401 to requests for `protected_paths` without `Authorization: Bearer <token>`."""

    def __init__(self, app: ASGIApp, token: str | None, protected_paths: tuple[str, ...]) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None
        self.protected_paths = frozenset(protected_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.expected is None or scope["type"] != "http" or scope["path"].rstrip("/") not in self.protected_paths:
            await self.app(scope, receive, send)
            return

        header = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
        # compare_digest takes the same time wherever the values differ, so timing reveals nothing.
        if hmac.compare_digest(header, self.expected):
            await self.app(scope, receive, send)
            return

        metrics.rejected_requests().labels(reason="unauthorized").inc()
        message = (
            f"Missing or invalid bearer token for {scope['path']}. Send the header "
            f"'Authorization: Bearer <token>' with the token that the service reads from {TOKEN_ENV}."
        )
        response = error_response(
            401, message, [{"loc": ["header", "Authorization"], "msg": message}], headers={"WWW-Authenticate": "Bearer"}
        )
        await response(scope, receive, send)
