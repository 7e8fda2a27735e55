"""BentoML service: retention predictions for user ids or feature rows; this file only wires the parts.

Serve it from the project root with `retention serve` or
`bentoml serve serving.service:RetentionService --host 127.0.0.1 --port 3000`.
"""

from __future__ import annotations

import logging

import bentoml

from retention.errors import ConfigurationError
from retention.settings import load_settings
from serving.api_models import Prediction, ReloadResult, feature_rows_type, user_ids_type
from serving.auth import BearerTokenMiddleware, api_token
from serving.body_limit import BodySizeLimitMiddleware
from serving.errors import ValidationLogFilter

# BentoML sets the root logger to WARNING; the service's own starts, switches and recoveries are INFO.
logging.getLogger("serving").setLevel(logging.INFO)

SETTINGS = load_settings()
try:
    API_TOKEN = api_token(SETTINGS)
except ConfigurationError as error:
    # The production profile without RETENTION_API_TOKEN stops here, with the message and no traceback.
    raise SystemExit(f"Error: {error}") from None

# BentoML logs each request that fails validation with a traceback; one line per interval is enough.
logging.getLogger("bentoml._internal.server.http_app").addFilter(
    ValidationLogFilter(SETTINGS.serving.store_error_log_seconds)
)
PROTECTED_PATHS = ("/predict", "/predict_features", "/reload")
UserIds = user_ids_type(SETTINGS.serving.max_users_per_request)
FeatureRows = feature_rows_type(SETTINGS.serving.max_users_per_request)


# The return annotations describe the JSON for BentoML's OpenAPI page. The endpoints return it
# already serialized as a starlette Response, which BentoML sends as it is.
@bentoml.service(name="user_retention", traffic={"timeout": 30})
class RetentionService:
    def __init__(self) -> None:
        # Imported here, so that `bentoml build` reads this file without loading torch, Feast and MLflow.
        from serving.endpoints import Endpoints
        from serving.runtime import start_predictor

        # The model and the feature store client are loaded once per worker, not per request.
        predictor, self.watcher = start_predictor(SETTINGS)
        self.endpoints = Endpoints(predictor, SETTINGS.serving.threads)

    @bentoml.api
    async def predict(self, user_ids: UserIds, explain: bool = True) -> list[Prediction]:
        """Return, per user id, the probability of coming back within the horizon, its risk tier and reasons."""
        return await self.endpoints.predict(user_ids, explain)

    @bentoml.api
    async def predict_features(self, rows: FeatureRows, explain: bool = True) -> list[Prediction]:
        """Return the same predictions for feature values that the caller sends, validated against the feature service."""
        return await self.endpoints.predict_features(rows, explain)

    @bentoml.api
    async def reload(self) -> ReloadResult:
        """Load the version behind the champion alias now, instead of at the next check."""
        return await self.endpoints.reload()

    @bentoml.on_shutdown
    def stop_watcher(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()


# Starlette runs the middleware added first outermost: the token is checked before the body is read.
RetentionService.add_asgi_middleware(BearerTokenMiddleware, token=API_TOKEN, protected_paths=PROTECTED_PATHS)
RetentionService.add_asgi_middleware(BodySizeLimitMiddleware, max_bytes=SETTINGS.serving.max_request_bytes)
