"""The logged model: an MLflow pyfunc that scores uint8 RGB face crops.

Weights travel as safetensors with a small JSON config, not as a pickled module and not
as torch.export (which would fix the batch size and could not train further). Input: an
array (N, size, size, 3) of uint8 crops, any N. Output: p_fake per crop.
"""

from __future__ import annotations

import json
import warnings
from importlib.metadata import version
from pathlib import Path

import mlflow
import numpy as np
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema, TensorSpec

from . import config

PACKAGE_DIR = Path(__file__).resolve().parent
REQUIREMENTS = ("torch", "timm", "safetensors", "numpy", "opencv-contrib-python", "mlflow")


class FaceClassifier(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        import torch

        from .model import create, load_weights

        settings = json.loads(Path(context.artifacts["config"]).read_text())
        self.size = int(settings["size"])
        self.batch = int(settings.get("batch", 64))
        self.model = load_weights(create(settings["model"], "none"), context.artifacts["weights"])
        self.model.eval()
        self.mean = np.array(config.IMAGENET_MEAN, np.float32) * 255
        self.std = np.array(config.IMAGENET_STD, np.float32) * 255
        self._torch = torch

    def predict(self, context, model_input, params=None):
        import cv2

        crops = np.asarray(model_input)
        if crops.ndim == 3:
            crops = crops[None]
        if crops.shape[1:3] != (self.size, self.size):
            crops = np.stack([cv2.resize(c, (self.size, self.size), interpolation=cv2.INTER_AREA)
                              for c in crops])
        scores = []
        with self._torch.no_grad():
            for start in range(0, len(crops), self.batch):
                x = (crops[start:start + self.batch].astype(np.float32) - self.mean) / self.std
                logits = self.model(self._torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
                scores.append(self._torch.sigmoid(logits).numpy())
        p = np.concatenate(scores) if scores else np.zeros(0, np.float32)
        import pandas as pd
        return pd.DataFrame({"p_fake": p.astype(np.float64)})


def signature(size: int) -> ModelSignature:
    return ModelSignature(inputs=Schema([TensorSpec(np.dtype(np.uint8), (-1, size, size, 3))]),
                          outputs=Schema([ColSpec("double", "p_fake")]))


def log_face_classifier(weights: Path, model_name: str, size: int, folder: Path,
                        name: str = "model"):
    """Log the classifier as an MLflow 3 logged model of the active run; returns ModelInfo."""
    settings = folder / "model_config.json"
    settings.write_text(json.dumps({"model": model_name, "size": size}))
    with warnings.catch_warnings():  # an input example would be a 1x256x256x3 JSON
        warnings.filterwarnings("ignore", message=".*input example was not provided.*")
        return mlflow.pyfunc.log_model(
            name=name, python_model=str(PACKAGE_DIR / "serving_model.py"),
            artifacts={"weights": str(weights), "config": str(settings)},
            signature=signature(size), code_paths=[str(PACKAGE_DIR)],
            pip_requirements=[f"{r}=={version(r)}" for r in REQUIREMENTS])
