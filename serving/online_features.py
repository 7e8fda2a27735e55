"""Fast reads of one feature service from Feast's online store, with the snapshot time of each user.

FeatureStore.get_online_features builds a response protobuf and resolves the registry on every
call, which costs milliseconds per request. This reader resolves the feature views once and
calls the online store's own `online_read` (the API that Feast's providers call), so a request
pays only for the store round trip and the decoding of the values.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from feast import FeatureStore, FeatureView
from feast.infra.online_stores.helpers import get_online_store_from_config
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from redis.exceptions import RedisError

from feature_repo.feature_columns import ENTITY_COLUMN
from serving.errors import OnlineStoreUnavailableError

# Errors of the online stores this platform uses (SQLite locally, Redis in production) that mean
# "the store cannot be read now", as opposed to a bug in the request or in this code.
STORE_ERRORS = (RedisError, sqlite3.Error, OSError)
# Redis returns a zero timestamp for a key that does not exist; no real snapshot is that old.
_EPOCH = datetime.fromtimestamp(0, tz=timezone.utc)


@dataclass(frozen=True)
class OnlineRows:
    """Features of the requested users, in request order."""

    # Feature name -> one Python value per user (None where the user or the value is absent).
    columns: dict[str, list[Any]]
    # Whether the store had a row of every feature view for the user.
    found: list[bool]
    # The newest event timestamp of the user's feature rows (UTC), or None for an absent user.
    snapshot_times: list[datetime | None]


class OnlineFeatureReader:
    """Reads the features of one feature service for a list of entity ids."""

    def __init__(self, store: FeatureStore, feature_service_name: str) -> None:
        service = store.get_feature_service(feature_service_name)
        self.feature_service_name = feature_service_name
        self.views: list[tuple[FeatureView, list[str]]] = []
        for projection in service.feature_view_projections:
            view = store.get_feature_view(projection.name)
            self.views.append((view, [field.name for field in projection.features]))
        self.feature_names = [name for _, names in self.views for name in names]
        self.config = store.config
        # A store object of our own, so that its connection is not shared with the FeatureStore.
        self.online_store = get_online_store_from_config(self.config.online_store)

    def read(self, entity_ids: list[str]) -> OnlineRows:
        """Return the features of `entity_ids`; raise OnlineStoreUnavailableError when the store fails."""
        keys = [EntityKey(join_keys=[ENTITY_COLUMN], entity_values=[Value(string_val=key)]) for key in entity_ids]
        columns: dict[str, list[Any]] = {}
        found = [True] * len(entity_ids)
        snapshot_times: list[datetime | None] = [None] * len(entity_ids)

        for view, names in self.views:
            try:
                rows = self.online_store.online_read(self.config, view, keys, list(names))
            except STORE_ERRORS as error:
                raise OnlineStoreUnavailableError(
                    f"The online feature store ({self.config.online_store.type}) cannot be read: "
                    f"{type(error).__name__}: {str(error).rstrip('.')}. Retry later; the service reconnects by itself."
                ) from error
            view_columns = {name: [None] * len(entity_ids) for name in names}
            for position, (timestamp, values) in enumerate(rows):
                if timestamp is None or values is None or timestamp <= _EPOCH:
                    found[position] = False
                    continue
                current = snapshot_times[position]
                snapshot_times[position] = timestamp if current is None else max(current, timestamp)
                for name in names:
                    value = values.get(name)
                    view_columns[name][position] = None if value is None else python_value(value)
            columns.update(view_columns)

        snapshot_times = [time if present else None for time, present in zip(snapshot_times, found)]
        return OnlineRows(columns=columns, found=found, snapshot_times=snapshot_times)


def python_value(value: Value) -> Any:
    """Return the Python value of a Feast Value: a scalar, a list for array types, or None."""
    kind = value.WhichOneof("val")
    if kind is None or kind == "null_val":
        return None
    raw = getattr(value, kind)
    if kind.endswith("_list_val"):
        return list(raw.val)
    return raw

