import json

import numpy as np
import pandas as pd
import pytest

from feature_repo import feature_columns
from feature_repo.feature_columns import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from retention.errors import InputDataError
from training.preprocessing import UNKNOWN_CATEGORY, FeaturePreprocessor, signed_log1p
from training.train import LOG_SCALED_FEATURES


@pytest.fixture(scope="module")
def train_frame(training_set):
    return training_set.head(3000).reset_index(drop=True)


@pytest.fixture(scope="module")
def preprocessor(train_frame):
    return FeaturePreprocessor.fit(train_frame, NUMERIC_FEATURES, CATEGORICAL_FEATURES, LOG_SCALED_FEATURES)


def test_unknown_category_matches_feature_repo():
    assert UNKNOWN_CATEGORY == feature_columns.UNKNOWN_CATEGORY


def test_transform_shape_matches_feature_names(preprocessor, train_frame):
    matrix = preprocessor.transform(train_frame)

    assert matrix.dtype == np.float32
    assert matrix.shape == (len(train_frame), len(preprocessor.feature_names_out))


def test_numeric_columns_are_standardized_on_train(preprocessor, train_frame):
    numeric = preprocessor.transform(train_frame)[:, : len(NUMERIC_FEATURES)]

    np.testing.assert_allclose(numeric.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(numeric.std(axis=0), 1.0, atol=1e-3)


def test_missing_numeric_value_gets_train_median(preprocessor, train_frame):
    rows = train_frame.head(2).copy()
    rows.loc[0, "recency_days"] = np.nan
    rows.loc[1, "recency_days"] = preprocessor.medians["recency_days"]
    column = preprocessor.feature_names_out.index("recency_days")

    matrix = preprocessor.transform(rows)

    assert matrix[0, column] == matrix[1, column]


def test_unseen_and_null_categories_map_to_unknown(preprocessor, train_frame):
    rows = train_frame.head(3).copy()
    rows.loc[0, "age_band"] = "Martian"
    rows.loc[1, "age_band"] = None
    rows.loc[2, "age_band"] = "25-34"
    names = preprocessor.feature_names_out
    unknown = names.index(f"age_band={UNKNOWN_CATEGORY}")
    known = names.index("age_band=25-34")
    age_columns = [index for index, name in enumerate(names) if name.startswith("age_band=")]

    matrix = preprocessor.transform(rows)

    assert matrix[0, unknown] == 1.0
    assert matrix[1, unknown] == 1.0
    assert matrix[2, known] == 1.0
    np.testing.assert_array_equal(matrix[:, age_columns].sum(axis=1), [1.0, 1.0, 1.0])


def test_categories_come_from_train_only(train_frame):
    train = train_frame.copy()
    train["household_size"] = "2"

    fitted = FeaturePreprocessor.fit(train, NUMERIC_FEATURES, CATEGORICAL_FEATURES)

    assert fitted.categories["household_size"] == ("2", UNKNOWN_CATEGORY)


def test_round_trip_through_json(preprocessor, train_frame):
    restored = FeaturePreprocessor.from_dict(json.loads(json.dumps(preprocessor.to_dict())))

    assert restored == preprocessor
    np.testing.assert_array_equal(restored.transform(train_frame), preprocessor.transform(train_frame))


def test_from_dict_rejects_other_format_version(preprocessor):
    document = {**preprocessor.to_dict(), "format_version": 99}

    with pytest.raises(InputDataError, match="format_version 99"):
        FeaturePreprocessor.from_dict(document)


def test_signed_log1p_keeps_sign_of_refunds():
    values = signed_log1p(np.array([-99.0, 0.0, 99.0]))

    np.testing.assert_allclose(values, [-np.log(100.0), 0.0, np.log(100.0)])


def test_negative_money_stays_finite(preprocessor, train_frame):
    rows = train_frame.head(1).copy()
    rows["monetary_90d"] = -500.0

    assert np.isfinite(preprocessor.transform(rows)).all()


def test_infinite_value_is_imputed(preprocessor, train_frame):
    rows = train_frame.head(2).copy()
    rows.loc[0, "monetary_30d"] = np.inf
    rows.loc[1, "monetary_30d"] = preprocessor.medians["monetary_30d"]
    column = preprocessor.feature_names_out.index("monetary_30d")

    matrix = preprocessor.transform(rows)

    assert matrix[0, column] == matrix[1, column]


def test_missing_column_names_the_column(preprocessor, train_frame):
    with pytest.raises(InputDataError, match="tenure_days"):
        preprocessor.transform(train_frame.drop(columns=["tenure_days"]))


def test_text_in_numeric_column_raises(preprocessor, train_frame):
    rows = train_frame.head(2).copy().astype({"frequency_30d": object})
    rows.loc[0, "frequency_30d"] = "many"

    with pytest.raises(InputDataError, match="frequency_30d"):
        preprocessor.transform(rows)


def test_log_columns_must_be_numeric(train_frame):
    with pytest.raises(ValueError, match="age_band"):
        FeaturePreprocessor.fit(train_frame, NUMERIC_FEATURES, CATEGORICAL_FEATURES, log_columns=("age_band",))


def test_all_missing_numeric_column_is_zero(train_frame):
    train = train_frame.copy()
    train["discount_share_90d"] = np.nan

    fitted = FeaturePreprocessor.fit(train, NUMERIC_FEATURES, CATEGORICAL_FEATURES)
    column = fitted.feature_names_out.index("discount_share_90d")

    np.testing.assert_array_equal(fitted.transform(train)[:, column], 0.0)


def test_nullable_dtypes_are_accepted(preprocessor, train_frame):
    rows = train_frame.head(3).copy()
    rows["frequency_30d"] = pd.array([1, None, 3], dtype="Int64")
    rows["age_band"] = pd.array(["25-34", None, "65+"], dtype="string")

    assert np.isfinite(preprocessor.transform(rows)).all()
