"""deepfake_mlflow: the Bondi et al. (WIFS 2020) deepfake-detection study on MLflow."""

__version__ = "0.1.0"
