import numpy as np
import pytest

from retention.errors import PipelineError
from training.labels import positive_class_weight


def test_weight_is_negatives_over_positives():
    assert positive_class_weight(np.array([0, 0, 0, 1])) == 3.0


def test_weight_without_positives_names_split():
    with pytest.raises(PipelineError, match="validation split has 0 positive and 2 negative"):
        positive_class_weight(np.array([0, 0]), split_name="validation")
