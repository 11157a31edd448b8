"""The stages' experiments: deepfake-<stage>, made on first use with their description and
the tag that opens them on their runs in MLflow 3's UI."""

from __future__ import annotations

import mlflow

from .. import compat
from ..naming import EXPERIMENT_PREFIX, EXPERIMENTS
from .store import artifact_root, uses_embedded_store

# MLflow 3's UI opens an experiment on its GenAI overview unless told it holds model training
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
DESCRIPTION_TAG = "mlflow.note.content"


def experiment_name(stage: str) -> str:
    if stage not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {stage!r}; one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENT_PREFIX + stage


def experiment_id(stage: str) -> str:
    """The stage's experiment, created on first use (artifacts beside a local store)."""
    name = experiment_name(stage)
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        compat.tag_experiment(found, {**EXPERIMENT_KIND,
                                      DESCRIPTION_TAG: EXPERIMENTS.get(stage, "")})
        return found.experiment_id
    location = None
    if uses_embedded_store():
        location = (artifact_root() / name).as_uri()
    tags = {**EXPERIMENT_KIND, DESCRIPTION_TAG: EXPERIMENTS.get(stage, "")}
    try:
        return mlflow.create_experiment(name, artifact_location=location, tags=tags)
    except mlflow.exceptions.MlflowException:  # created meanwhile by a parallel worker
        return mlflow.get_experiment_by_name(name).experiment_id
