"""The HTTP side of the prediction endpoints: where each request runs, and its JSON response or error.

A request without reasons for up to INLINE_MAX_USERS users costs a fraction of a millisecond of
CPU, which is less than handing it to a worker thread and back. On 2 busy cores, an empty async
BentoML endpoint returned in about 1.2 ms at p50 and a sync one in 3.3 ms. So such requests run
on the event loop. Requests with reasons, larger ones and reloads run in a thread, so that they
do not hold the loop.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

import anyio
from starlette.responses import Response

from serving.errors import ServingError
from serving.predictor import RetentionPredictor

logger = logging.getLogger(__name__)

INLINE_MAX_USERS = 100


class Endpoints:
    def __init__(self, predictor: RetentionPredictor, threads: int) -> None:
        self.predictor = predictor
        self._limiter = anyio.CapacityLimiter(threads)

    async def predict(self, user_ids: list[str], explain: bool) -> Response:
        inline = len(user_ids) <= INLINE_MAX_USERS and not (explain and self.predictor.model.scorer.explains)
        return await self._answer(self.predictor.predict, inline, user_ids, explain)

    async def predict_features(self, rows: list[dict[str, Any]], explain: bool) -> Response:
        inline = len(rows) <= INLINE_MAX_USERS and not (explain and self.predictor.model.scorer.explains)
        return await self._answer(self.predictor.predict_rows, inline, rows, explain)

    async def reload(self) -> Response:
        async def reload_and_describe() -> dict[str, Any]:
            changed = await anyio.to_thread.run_sync(self.predictor.reload, limiter=self._limiter)
            model = self.predictor.model
            return {"model_name": model.name, "model_version": model.version, "changed": changed}

        try:
            return json_response(await reload_and_describe())
        except ServingError as error:
            logger.error("Reload requested over HTTP failed: %s", error.message)
            return error.to_response()

    async def _answer(self, function: Callable[..., Any], inline: bool, *args: Any) -> Response:
        try:
            if inline:
                answers = function(*args)
            else:
                answers = await anyio.to_thread.run_sync(functools.partial(function, *args), limiter=self._limiter)
        except ServingError as error:
            return error.to_response()
        return json_response(answers)


def json_response(document: Any) -> Response:
    # allow_nan=False: a NaN would be invalid JSON, so it fails loudly instead.
    return Response(json.dumps(document, allow_nan=False).encode(), media_type="application/json")
