"""Every search of the tracking store, in one place: MLflow's filter strings are built
here, from keyword conditions, and nowhere else.

A lookup says what it wants (the final runs of a training, a parent's children, a
study's parent run, a study's earlier evaluations) and gets Run objects, newest first.
The searches span every experiment unless told otherwise: a training inside a study
(the demo, an ablation) lives in the study's experiment, not in deepfake-train. They read
the store the entry point configured (tracking.store.configure).
"""

from __future__ import annotations

import re

import mlflow
from mlflow.entities import Run

from .naming import FINAL_TAG

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.]+")


def _key(kind: str, name: str) -> str:
    """tags.dataset, tags.`faces_digest/ff`: MLflow needs backticks around odd keys."""
    return f"{kind}.{name}" if _PLAIN_KEY.fullmatch(name) else f"{kind}.`{name}`"


def _value(value) -> str:
    text = str(value)
    return f'"{text}"' if "'" in text else f"'{text}'"


def where(tags: dict | None = None, params: dict | None = None,
          status: str | None = None, not_tags: dict | None = None) -> str:
    """An MLflow filter string: every condition must hold (`not_tags`: key -> values the
    tag must differ from)."""
    parts = [f"{_key('tags', k)} = {_value(v)}" for k, v in (tags or {}).items()]
    parts += [f"{_key('tags', k)} != {_value(v)}" for k, values in (not_tags or {}).items()
              for v in values]
    parts += [f"{_key('params', k)} = {_value(v)}" for k, v in (params or {}).items()]
    if status:
        parts.append(f"attributes.status = {_value(status)}")
    return " and ".join(parts)


def runs(tags: dict | None = None, params: dict | None = None, status: str | None = None,
         experiments: list[str] | None = None, max_results: int | None = None) -> list[Run]:
    """The runs matching every condition, newest first (in every experiment unless
    `experiments` names some)."""
    scope = {"experiment_ids": experiments} if experiments else {"search_all_experiments": True}
    limit = {"max_results": max_results} if max_results else {}
    return mlflow.search_runs(**scope, filter_string=where(tags, params, status),
                              output_format="list", order_by=["attributes.start_time DESC"],
                              **limit)


def experiment_runs(experiment_id: str, filter_string: str = "") -> list[Run]:
    """Every run of an experiment, oldest first, in one search (a report reads a whole
    study at once); filter_string is the user's own, passed through as typed."""
    return mlflow.search_runs([experiment_id], filter_string=filter_string,
                              output_format="list", order_by=["attributes.start_time ASC"])


def final_trainings(status: str | None = None, **tags) -> list[Run]:
    """Training runs holding a variant's final model (a bce run, a triplet parent)."""
    return runs({"stage": "train", FINAL_TAG: "true", **tags}, status=status)


def best_final_training(metric: str, accept, not_tags: dict | None = None,
                        page: int = 25, **tags) -> Run | None:
    """The finished final training with the lowest `metric` (ties: the earlier run) that
    `accept(run)` takes, ordered by the store: a few runs read, not every training of
    every experiment (a team's store holds thousands)."""
    client = mlflow.MlflowClient()
    experiments = [e.experiment_id for e in mlflow.search_experiments()]
    token = None
    while experiments:
        found = client.search_runs(
            experiments, where({"stage": "train", FINAL_TAG: "true", **tags}, status="FINISHED",
                               not_tags=not_tags),
            max_results=page, page_token=token,
            order_by=[f"{_key('metrics', metric)} ASC", "attributes.start_time ASC"])
        for run in found:
            if accept(run):
                return run
        token = found.token
        if not token:
            break
    return None


def children(parent_id: str, status: str | None = None, **tags) -> list[Run]:
    """The child runs of a parent (a triplet training's phases, a study's steps)."""
    return runs({"mlflow.parentRunId": parent_id, **tags}, status=status)


def study_run(stage: str, study: str, params: dict | None = None) -> Run | None:
    """The newest parent run of a study (a reproduce or demo run of that name)."""
    found = runs({"stage": stage, "study": study}, params=params, max_results=1)
    return found[0] if found else None


def running_on_host(experiments: list[str], host: str, host_tag: str) -> list[Run]:
    """The RUNNING runs of these experiments started on a host (dead ones are ended)."""
    if not experiments:
        return []
    return runs({host_tag: host}, status="RUNNING", experiments=list(experiments))


def logged_models(run_id: str) -> list:
    """Every logged model a run made, whatever its status."""
    experiment = mlflow.get_run(run_id).info.experiment_id
    return mlflow.search_logged_models(experiment_ids=[experiment], output_format="list",
                                       filter_string=f"source_run_id = {_value(run_id)}")
