"""BentoML service: retention probabilities for a list of user ids.

Serve it from the project root with `retention serve` or
`bentoml serve serving.service:RetentionService --host 127.0.0.1 --port 3000`.
"""

from __future__ import annotations

import bentoml
from pydantic import Field
from typing_extensions import Annotated

from retention.settings import load_settings
from serving.predictor import RetentionPredictor

MAX_USERS_PER_REQUEST = 1000


@bentoml.service(name="user_retention", traffic={"timeout": 30})
class RetentionService:
    def __init__(self) -> None:
        # The model and the feature store client are loaded once per worker, not per request.
        self.predictor = RetentionPredictor(load_settings())

    @bentoml.api
    def predict(
        self,
        user_ids: Annotated[list[str], Field(min_length=1, max_length=MAX_USERS_PER_REQUEST)],
    ) -> list[dict]:
        """Return the probability that each user comes back within the horizon."""
        return self.predictor.predict(user_ids)
