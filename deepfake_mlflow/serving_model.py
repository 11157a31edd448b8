"""The file MLflow logs as the model's code ("models from code"): nothing is pickled."""

import mlflow

from deepfake_mlflow.pyfunc import VideoDetector

mlflow.models.set_model(VideoDetector())
