"""Models-from-code entry of the LightGBM baseline: MLflow runs this file to create the model object.

Loading the model imports this code instead of unpickling a model object.
"""

from mlflow.models import set_model

from training.pyfunc import LightGBMRetentionModel

set_model(LightGBMRetentionModel())
