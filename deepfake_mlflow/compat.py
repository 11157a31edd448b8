"""What this version does for stores and models made by earlier versions of the project, in
one place. Each entry names the change it bridges, so that it can go once no store or
model from before that change is in use."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

# Models logged before commit a4835de (2026-12-02) carry that version's serving code (MLflow
# loads a model's own copy), which reads video paths only inside DEEPFAKE_MLFLOW_VIDEO_ROOTS;
# `predict` runs in its user's own process, where every path that user can read is allowed:
# "/" holds them all. Models logged since read every path in a user's process anyway.
PREDICT_ROOTS_FOR_EARLIER_MODELS = os.sep


def tag_experiment(found, tags: dict) -> None:
    """An experiment made before commit a09f6e6 (2026-12-01) has neither MLflow 3's kind
    tag (without it the UI opens the experiment on its GenAI overview) nor a description:
    both (`tags`) are added once. Another user's experiment on a server with authentication keeps
    its tags."""
    import mlflow

    from .errors import first_line
    if "mlflow.experimentKind" in found.tags:
        return
    try:
        for key, value in tags.items():
            mlflow.MlflowClient().set_experiment_tag(found.experiment_id, key, value)
    except mlflow.exceptions.MlflowException as err:
        log.debug("experiment %s keeps its tags: %s", found.name, first_line(err))
