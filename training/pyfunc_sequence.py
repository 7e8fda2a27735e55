"""Models-from-code entry of the sequence models: MLflow runs this file to create the model object.

Loading the model imports this code instead of unpickling a model object.
"""

from mlflow.models import set_model

from training.sequence_pyfunc import SequenceRetentionModel

set_model(SequenceRetentionModel())
