"""MLflow conventions in one place: the store, experiment names, run shape, tags.

- The embedded default is sqlite:///mlflow.db with artifacts under ./mlartifacts;
  MLFLOW_TRACKING_URI (a tracking server, PostgreSQL behind it) overrides it.
- Each entry point is one run in its stage's experiment; a study (the demo, an ablation)
  is a parent run whose stages are child runs in the parent's experiment.
- Under `mlflow run`, MLflow has already created the run (MLFLOW_RUN_ID): it is reused.
- Tags are canonical short strings users filter on: dataset=dfdc, loss=bce,
  augment=bc+hf+hsv+jpeg (sorted, lower case, "none" when empty).
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

import mlflow
import pandas as pd

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_ARTIFACT_DIR = "mlartifacts"
EXPERIMENT_PREFIX = "deepfake-"
STAGES = ("index", "corpus", "extract", "train", "evaluate", "registry", "ablation", "demo")
FINAL_TAG = "final"  # "true" on the training run that holds a variant's final model


def configure() -> str:
    """Point MLflow at MLFLOW_TRACKING_URI, or at the embedded default; return the URI."""
    # one progress bar per downloaded model file drowns the output of a CLI step
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    mlflow.set_tracking_uri(uri)
    return uri


def uses_embedded_store() -> bool:
    """True when this process writes the store itself (a database URI), not a server.

    Then artifacts go to ./mlartifacts; a tracking server chooses its own artifact store.
    """
    return not mlflow.get_tracking_uri().startswith(("http://", "https://", "databricks"))


def experiment_name(stage: str) -> str:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; one of {STAGES}")
    return EXPERIMENT_PREFIX + stage


def experiment_id(stage: str) -> str:
    """The stage's experiment, created on first use (artifacts in ./mlartifacts locally)."""
    configure()
    name = experiment_name(stage)
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if uses_embedded_store():
        location = (Path(DEFAULT_ARTIFACT_DIR).resolve() / name).as_uri()
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException:  # created meanwhile by a parallel worker
        return mlflow.get_experiment_by_name(name).experiment_id


def canonical(value) -> str:
    return str(value).strip().lower()


def augment_tag(names: Iterable[str]) -> str:
    """Canonical augmentation tag: sorted, lower case, '+'-joined, 'none' when empty."""
    cleaned = sorted({canonical(n) for n in names if canonical(n) not in ("", "none")})
    return "+".join(cleaned) or "none"


@contextmanager
def stage_run(stage: str, run_name: str | None = None, tags: dict | None = None,
              params: dict | None = None, run_id: str | None = None,
              system_metrics: bool = False) -> Iterator[mlflow.ActiveRun]:
    """One run of an entry point: a child run if a study run is active, else a top run.
    With run_id, the run is reopened (a resumed training continues in the same run)."""
    configure()
    parent = mlflow.active_run()
    tags = {"stage": stage, **{k: canonical(v) for k, v in (tags or {}).items()}}
    common = {"run_id": run_id, "tags": tags, "log_system_metrics": system_metrics or None}
    if run_id is None:
        common["run_name"] = run_name
    if parent is not None:
        run = mlflow.start_run(nested=True, experiment_id=parent.info.experiment_id, **common)
    else:
        run = mlflow.start_run(experiment_id=experiment_id(stage), **common)
    with run:
        if params:
            log_params(params)
        yield run


def param_value(value) -> str:
    """Params as MLflow stores them: strings; booleans lower case as in MLproject files."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def log_params(params: dict) -> None:
    """Log params, leaving alone those already logged (`mlflow run` logs the MLproject's
    parameters first, as the user typed them; MLflow forbids changing a param)."""
    run = mlflow.active_run()
    logged = mlflow.get_run(run.info.run_id).data.params
    mlflow.log_params({k: param_value(v) for k, v in params.items() if k not in logged})


def log_dataframe(frame: pd.DataFrame, artifact_file: str) -> None:
    """A small table as a CSV artifact (readable in the UI's artifact viewer)."""
    mlflow.log_text(frame.to_csv(index=False), artifact_file)


def log_index_input(frame: pd.DataFrame, source: str, name: str, context: str):
    """Log an index (videos or faces) as the run's dataset input, so a run names its data;
    returns the MLflow dataset (metrics computed on it can name it)."""
    with warnings.catch_warnings():
        # a local path is "ambiguous" to MLflow's source registry, and integer columns
        # draw a schema hint meant for model inputs: neither applies to an index
        warnings.filterwarnings("ignore", message=".*interpreted in multiple ways.*")
        warnings.filterwarnings("ignore", message=".*Integer columns in Python.*")
        dataset = mlflow.data.from_pandas(frame, source=source, name=name, targets="label")
        mlflow.log_input(dataset, context=context)
    return dataset


def logged_model_id(run: mlflow.entities.Run) -> str | None:
    """The id of the last model a run logged (MLflow 3 logged models), or None."""
    outputs = run.outputs.model_outputs if run.outputs else []
    return outputs[-1].model_id if outputs else None


def final_training_runs(filter_string: str = "") -> list[mlflow.entities.Run]:
    """Runs holding a variant's final model, newest first, in every experiment: a training
    run inside a study (the demo, an ablation) lives in the study's experiment."""
    configure()
    query = f"tags.stage = 'train' and tags.{FINAL_TAG} = 'true'"
    if filter_string:
        query += f" and {filter_string}"
    return mlflow.search_runs(search_all_experiments=True, filter_string=query,
                              output_format="list", order_by=["attributes.start_time DESC"])
