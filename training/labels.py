"""Checks and weights derived from the 0/1 retention labels."""

from __future__ import annotations

import numpy as np

from retention.errors import PipelineError


def positive_class_weight(labels: np.ndarray, split_name: str = "train") -> float:
    """Return negatives / positives, the loss weight that balances the two classes.

    Raises PipelineError when the split lacks one of the classes, because neither model
    can learn from a single class.

    NOTE: a weighted loss shifts predicted probabilities toward the positive class when
    positives are the minority, so both models rank users well but their outputs are not
    calibrated retention rates.
    """
    positives = int(np.sum(labels == 1))
    negatives = int(np.sum(labels == 0))
    if positives == 0 or negatives == 0:
        raise PipelineError(
            f"The {split_name} split has {positives} positive and {negatives} negative labels, but training "
            "needs both classes. Use a longer train window or check the label definition in [retention]."
        )
    return negatives / positives
