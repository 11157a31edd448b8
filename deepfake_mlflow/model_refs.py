"""Every way a user names a trained model, resolved to one local copy and its lineage.

Accepted: a training run id (or runs:/<id>), a logged model (models:/m-...), a registered
model (models:/<name>@<alias> or models:/<name>/<version>), or a local folder: a
downloaded model (with MLmodel) or its artifacts folder (with model_config.json).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import mlflow
import yaml
from mlflow.exceptions import MlflowException

from . import tracking
from .errors import UserInputError
from .scoring import MODEL_CONFIG

RUN_ID = re.compile(r"(?:runs:/)?([0-9a-f]{32})(?:/(.*))?")
REGISTERED = re.compile(r"models:/([^/@]+)(?:@([^/]+)|/(\d+))")


@dataclass(frozen=True)
class ModelRef:
    reference: str  # as the user wrote it
    uri: str  # what mlflow.pyfunc.load_model accepts
    model_id: str | None = None  # the MLflow 3 logged model, metrics link to it
    run_id: str | None = None  # the training run that logged it
    registered: str | None = None  # name/version when it came from the registry


def _local(path: Path, reference: str) -> ModelRef:
    mlmodel = path / "MLmodel"
    if mlmodel.is_file():
        meta = yaml.safe_load(mlmodel.read_text()) or {}
        return ModelRef(reference, str(path.resolve()), meta.get("model_id"), meta.get("run_id"))
    if (path / MODEL_CONFIG).is_file():
        return ModelRef(reference, str(path.resolve()))
    raise UserInputError(f"{path}: expected a model folder (with MLmodel) or its artifacts "
                         f"folder (with {MODEL_CONFIG})")


def version_model_id(version) -> str | None:
    """The logged model behind a version (the SQLite store leaves model_id empty and keeps
    it in the source URI, models:/m-...)."""
    if version.model_id:
        return version.model_id
    source = version.source or ""
    return source.removeprefix("models:/") if source.startswith("models:/m-") else None


def resolve(reference: str) -> ModelRef:
    """The model a user named, with the logged model and run it came from when known."""
    reference = reference.strip()
    path = Path(reference)
    if path.exists() and not reference.startswith(("runs:/", "models:/")):
        return _local(path, reference)
    try:
        match = RUN_ID.fullmatch(reference)
        if match:
            run = mlflow.get_run(match.group(1))
            model_id = tracking.logs.logged_model_id(run)
            if model_id is None:
                raise UserInputError(f"run {run.info.run_id} logged no model (a triplet "
                                     "phase run? its parent run holds the model)")
            named = (match.group(2) or "").strip("/")
            if named:  # runs:/<id>/<model name>: that model, never another of the run
                model_id = _model_named(run.info.run_id, named, reference)
            return ModelRef(reference, f"models:/{model_id}", model_id, run.info.run_id)
        match = REGISTERED.fullmatch(reference)
        if match and not match.group(1).startswith("m-"):
            name, alias, number = match.groups()
            client = mlflow.MlflowClient()
            version = (client.get_model_version_by_alias(name, alias) if alias
                       else client.get_model_version(name, number))
            return ModelRef(reference, f"models:/{name}/{version.version}",
                            version_model_id(version), version.run_id,
                            f"{name}/{version.version}")
        if reference.startswith("models:/m-"):
            model = mlflow.get_logged_model(reference.removeprefix("models:/").split("/")[0])
            return ModelRef(reference, reference, model.model_id, model.source_run_id)
    except MlflowException as err:
        raise UserInputError(f"model {reference!r} not found in {mlflow.get_tracking_uri()}: "
                             f"{err.message.splitlines()[0]}") from None
    raise UserInputError(f"model {reference!r}: expected a run id, runs:/<id>, "
                         "models:/<name>@<alias>, models:/<name>/<version>, models:/m-<id> "
                         "or a local model folder")


def _model_named(run_id: str, name: str, reference: str) -> str:
    """The id of the run's logged model called `name` (the path of a runs:/ URI)."""
    from . import queries
    models = queries.logged_models(run_id)
    found = [m for m in models if m.name == name]
    if not found:
        raise UserInputError(f"model {reference!r}: run {run_id} logged no model named "
                             f"{name!r}; its models: "
                             + (", ".join(sorted({m.name for m in models})) or "none"))
    return max(found, key=lambda m: m.creation_timestamp).model_id


@contextmanager
def artifacts_folder(ref: ModelRef) -> Iterator[Path]:
    """A local folder holding model_config.json and the weights (a temporary download
    for a tracked model, removed afterwards)."""
    local = Path(ref.uri)
    if local.is_dir():
        yield local / "artifacts" if (local / "artifacts" / MODEL_CONFIG).is_file() else local
        return
    scratch = Path(tempfile.mkdtemp(prefix="deepfake-model-"))
    try:
        mlflow.artifacts.download_artifacts(artifact_uri=ref.uri, dst_path=str(scratch))
        found = sorted(scratch.rglob(MODEL_CONFIG))
        if not found:
            raise UserInputError(f"model {ref.reference}: no {MODEL_CONFIG} among its "
                                 "artifacts; was it logged by deepfake_mlflow?")
        yield found[0].parent
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
