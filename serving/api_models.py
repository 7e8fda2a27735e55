"""Request and response types of the prediction API; BentoML validates requests and documents them in OpenAPI."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, StringConstraints
from typing_extensions import Annotated

UserId = Annotated[str, StringConstraints(min_length=1, max_length=256)]


def user_ids_type(max_users: int) -> Any:
    return Annotated[
        list[UserId],
        Field(min_length=1, max_length=max_users, description=f"1 to {max_users} user ids, as the source spells them."),
    ]


def feature_rows_type(max_rows: int) -> Any:
    return Annotated[
        list[dict[str, Any]],
        Field(
            min_length=1,
            max_length=max_rows,
            description=(
                f"1 to {max_rows} rows, each with every feature of the champion's feature service "
                "(null allowed) and optionally a user_id."
            ),
        ),
    ]


class Reason(BaseModel):
    feature: str
    # Contribution to the log-odds of retention: positive values raise the probability.
    contribution: float


class Prediction(BaseModel):
    user_id: str | None
    probability: float | None = Field(
        description="Probability that the user comes back within the horizon; for a cold start, the base rate."
    )
    risk_tier: str | None = Field(description="Churn risk tier of the probability; a low probability is a high risk.")
    cold_start: bool = Field(description="True when the online store has no features of the user.")
    model_name: str
    model_version: str
    feature_service: str
    features_computed_at: str | None = Field(description="Snapshot time (UTC, ISO 8601) of the user's features.")
    reasons: list[Reason] = Field(
        description="Features that moved the probability most; empty when the model cannot explain, or explain is false."
    )


class ReloadResult(BaseModel):
    model_name: str
    model_version: str
    changed: bool
