"""The model registry: the best model of each training dataset, by alias.

`promote` registers, per training dataset and architecture, the final model (runs tagged
final=true) with the lowest validation loss on that dataset's own validation split, as
deepfake-<architecture>-<dataset> (deepfake-effnetb4-dfdc for EfficientNetB4), and points
the alias `champion` at it. Test metrics never take part in the choice: picking on test
sets inflates cross-dataset results. The version carries tags users compare on
(validation loss, loss, augmentation, architecture, training run) and a description with
the cross-dataset AUCs that an evaluation copied onto the training run.

Idempotent: a model already registered is found by its logged-model id and reused; tags
and the alias are written only when they differ.
"""

from __future__ import annotations

import contextlib
import io

import math

import mlflow
import pandas as pd
from mlflow.entities import Run

from . import config, queries, tracking
from .errors import UserInputError
from .model_refs import version_model_id

VAL_LOSS = "best_val_loss"


def architecture_name(model: str) -> str:
    """The short name of a timm architecture in registered names: effnetb4, resnet10t."""
    return config.ARCHITECTURE_NAMES.get(model, model.replace("_", "-"))


def registered_name(dataset: str, model: str = config.MODEL_NAME) -> str:
    return f"{config.REGISTERED_MODEL_PREFIX}{architecture_name(model)}-{dataset}"


def champion_uri(dataset: str, model: str = config.MODEL_NAME) -> str:
    return f"models:/{registered_name(dataset, model)}@{config.CHAMPION_ALIAS}"


def model_of(run: Run) -> str:
    """The timm architecture a training run trained."""
    return run.data.tags.get("model") or run.data.params.get("model") or config.MODEL_NAME


def usable(run: Run) -> bool:
    """A final training that can be a champion: a finite validation loss, a logged model."""
    return (math.isfinite(run.data.metrics.get(VAL_LOSS, math.nan))
            and bool(tracking.logs.logged_model_id(run)))


def best_runs(datasets: list[str] | None = None) -> dict[tuple[str, str], Run]:
    """(dataset, architecture) -> its run with the lowest validation loss (ties: the
    earlier run). Architectures compete apart: each has its own registered model.

    The store orders the runs: one short search per dataset and architecture (and one to
    find each dataset and architecture there is), so promote reads a few runs whether the
    store holds ten trainings or ten thousand."""
    best: dict[tuple[str, str], Run] = {}
    for dataset in datasets or _tag_values("dataset"):
        models: list[str] = []
        while True:  # the best of each architecture, best architecture first
            run = queries.best_final_training(VAL_LOSS, usable, not_tags={"model": models},
                                              dataset=dataset)
            if run is None:
                break
            best[(dataset, model_of(run))] = run
            models.append(model_of(run))
    return best


def _tag_values(key: str) -> list[str]:
    """Every value a tag takes on finished final trainings, one search per value."""
    values: list[str] = []
    while True:
        run = queries.best_final_training(VAL_LOSS, lambda r: key in r.data.tags,
                                          not_tags={key: values})
        if run is None:
            return values
        values.append(run.data.tags[key])


def version_tags(run: Run) -> dict[str, str]:
    """What users filter versions on (the AUCs are in the version's description)."""
    return {"dataset": run.data.tags.get("dataset", ""), "loss": run.data.tags.get("loss", ""),
            "augment": run.data.tags.get("augment", ""), "model": model_of(run),
            "train_run_id": run.info.run_id,
            "val_loss": f"{run.data.metrics[VAL_LOSS]:.6g}"}


def version_description(run: Run) -> str:
    """A version's description: what it is, why it was chosen, and its test AUCs. Plain
    text, no markdown: the registry's list of versions shows it as it is written."""
    tags, metrics = run.data.tags, run.data.metrics
    tests = sorted(k.split("/", 1)[1] for k in metrics
                   if k.startswith("auc_frame/") and k.count("/") == 1)
    text = (f"{model_of(run)} trained on {tags.get('dataset', '?')} with "
            f"{tags.get('loss', '?')} loss, augmentation {tags.get('augment', '?')} "
            f"(training run {run.info.run_name}, {run.info.run_id}). Chosen on its "
            f"validation loss, {metrics[VAL_LOSS]:.4g}; test AUCs are reported, never used "
            "to choose.")
    if tests:
        from .evaluation.matrix import cell

        def auc(level: str, test: str) -> str:  # 0.582 [0.41, 0.75]: the 95% interval
            nan = float("nan")
            return cell(*(metrics.get(f"{k}/{test}", nan)
                          for k in (level, f"{level}_low", f"{level}_high")))

        def videos(test: str) -> str:
            count = metrics.get(f"videos/{test}")
            return "?" if count is None else f"{count:.0f}"
        text += (" Frame AUC with its 95% interval, video AUC, and test videos: " +
                 "; ".join(f"{t} {auc('auc_frame', t)}, video {auc('auc_video', t)}, "
                           f"{videos(t)} videos" for t in tests) + ".")
    return text


def model_tags(dataset: str, model: str) -> dict[str, str]:
    """What users filter registered models on (each version adds its loss, augmentation
    and validation loss)."""
    return {"dataset": dataset, "model": model, "architecture": architecture_name(model),
            "task": "deepfake-detection", "input": "video", "project": "deepfake_mlflow"}


def _find_version(client: mlflow.MlflowClient, name: str, model_id: str):
    for version in client.search_model_versions(f"name = '{name}'"):
        if version_model_id(version) == model_id:
            return version
    return None


def promote(datasets: list[str] | None = None) -> list[dict]:
    """Register each dataset's best model and make it the champion; one dict per dataset
    saying what it points at and whether anything changed."""
    client = mlflow.MlflowClient()
    chosen = best_runs(datasets)
    missing = sorted(set(datasets or []) - {dataset for dataset, _ in chosen})
    if missing or not chosen:
        raise UserInputError(f"no finished training run with a model for {missing or 'any dataset'}"
                             " in the tracking store: train first")
    with tracking.runs.stage_run("registry", run_name="promote",
                                 params={"datasets": ",".join(datasets or []) or "all"}):
        results = [_promote_one(client, dataset, model, run)
                   for (dataset, model), run in sorted(chosen.items())]
        tracking.logs.log_dataframe(pd.DataFrame(results).assign(
            changed=lambda t: t["changed"].map(", ".join)), "champions.csv")
        mlflow.log_metric("champions", len(results))
    return results


def _promote_one(client: mlflow.MlflowClient, dataset: str, model: str, run: Run) -> dict:
    """Register one training run's model if needed and point the champion alias at it."""
    name, changed = registered_name(dataset, model), []
    model_id = tracking.logs.logged_model_id(run)
    version = _find_version(client, name, model_id)
    if version is None:  # creates the registered model too, the first time
        # MLflow prints two lines per registration to stderr; champions.csv says it
        with contextlib.redirect_stderr(io.StringIO()):
            version = mlflow.register_model(f"models:/{model_id}", name)
        changed.append(f"version {version.version}")
    registered = client.get_registered_model(name)
    if not registered.description:
        client.update_registered_model(name, description=(
            f"{model} deepfake detector (timm) trained on {dataset}. The alias "
            f"'{config.CHAMPION_ALIAS}' is the model with the lowest validation loss "
            "(deepfake-mlflow promote). Input: a DataFrame with a 'video' "
            "column of file paths; output: p_fake per video."))
        changed.append("description")
    for key, value in model_tags(dataset, model).items():
        if registered.tags.get(key) != value:
            client.set_registered_model_tag(name, key, value)
            changed.append(f"model tag {key}")
    for key, value in version_tags(run).items():
        if version.tags.get(key) != value:
            client.set_model_version_tag(name, version.version, key, value)
            changed.append(f"tag {key}")
    description = version_description(run)
    if version.description != description:
        client.update_model_version(name, version.version, description=description)
        changed.append("description")
    current = registered.aliases.get(config.CHAMPION_ALIAS)
    if str(current) != str(version.version):
        client.set_registered_model_alias(name, config.CHAMPION_ALIAS, version.version)
        changed.append(f"alias {config.CHAMPION_ALIAS}")
    return {"dataset": dataset, "model": model, "name": name, "version": int(version.version),
            "train_run_id": run.info.run_id, "val_loss": run.data.metrics[VAL_LOSS],
            "uri": champion_uri(dataset, model), "changed": changed}


def champions() -> list[dict]:
    """Every deepfake-* registered model and its champion version."""
    client = mlflow.MlflowClient()
    found = []
    for model in client.search_registered_models(
            f"name LIKE '{config.REGISTERED_MODEL_PREFIX}%'"):
        version = model.aliases.get(config.CHAMPION_ALIAS)
        if version is None:
            continue
        tags = client.get_model_version(model.name, version).tags
        found.append({"name": model.name, "version": int(version),
                      "uri": f"models:/{model.name}@{config.CHAMPION_ALIAS}", **tags})
    return found
