"""Names of the user-profile features, shared by the feature view, training and serving."""

# Numeric features per (user_id, snapshot_time), computed from events strictly before the snapshot.
NUMERIC_FEATURES = (
    "recency_days",
    "frequency_30d",
    "frequency_90d",
    "monetary_30d",
    "monetary_90d",
    "frequency_trend",
    "monetary_trend",
    "avg_basket_value_90d",
    "active_days_90d",
    "mean_interpurchase_days_90d",
    "discount_share_90d",
    "category_diversity_90d",
    "tenure_days",
)

# User attributes, as strings; a missing attribute is the category "unknown".
CATEGORICAL_FEATURES = (
    "age_band",
    "income_band",
    "household_size",
)

FEATURE_COLUMNS = NUMERIC_FEATURES + CATEGORICAL_FEATURES
ENTITY_COLUMN = "user_id"
SNAPSHOT_COLUMN = "snapshot_time"
LABEL_COLUMN = "label"
UNKNOWN_CATEGORY = "unknown"

# The recent event sequence per (user_id, snapshot_time): the last events before the snapshot,
# oldest first, as arrays of equal length (at most [features] sequence_length).
SEQUENCE_CATEGORY_COLUMN = "recent_categories"
SEQUENCE_EVENT_TYPE_COLUMN = "recent_event_types"
SEQUENCE_AMOUNT_COLUMN = "recent_amounts"
# Days from each event to the snapshot, always > 0 because events are strictly before the snapshot.
SEQUENCE_GAP_COLUMN = "recent_gap_days"
SEQUENCE_COLUMNS = (
    SEQUENCE_CATEGORY_COLUMN,
    SEQUENCE_EVENT_TYPE_COLUMN,
    SEQUENCE_AMOUNT_COLUMN,
    SEQUENCE_GAP_COLUMN,
)
