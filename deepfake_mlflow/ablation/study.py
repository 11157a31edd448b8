"""The ablation stage's work: an Optuna study over one dataset's augmentations, run (or
resumed) under one MLflow parent run, each trial a child run (ablation.objective).

In order: the study opened in its storage (made, or loaded and checked against the
options it was made with), the parent run the study names, the trials until none is left
here or on other workers, then the summary and each augmentation against NONE.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings

import mlflow
import optuna

from .. import config, tracking
from ..errors import UserInputError
from . import storage as store
from .config import AblationConfig, as_option, datasets_option
from .objective import Objective
from .summary import log_summary, summarise, tag_trainings, trainings_filter
from .verdicts import compare_with_none, earlier_comparison, inputs_digest, log_comparison

log = logging.getLogger(__name__)


def run_study(cfg: AblationConfig) -> dict:
    """Run (or resume) the study; returns its summary: the trials table, the best trial,
    the comparison with NONE."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage_url = cfg.storage or store.default_storage()
    with store.storage_errors(storage_url):  # one line, not SQLAlchemy's traceback
        storage = store.open_storage(storage_url, cfg.heartbeat)
    maximise = cfg.objective == "cross-val-auc"
    cross = datasets_option(cfg.cross_datasets, exclude=cfg.dataset) if maximise else {}
    if maximise and not cross:
        raise UserInputError("--objective cross-val-auc needs other datasets' faces "
                             "(--cross-datasets, or their faces indexes in the workspace)")
    tests = datasets_option(cfg.test_datasets)
    check_sets(tests, config.EVAL_SPLIT, cross, "val")
    study = open_study(cfg, storage, storage_url, maximise)
    keep_config(study, cfg, tests, cross)
    params = {**dataclasses.asdict(cfg), "storage": store.shown_url(storage_url),
              "study": study.study_name, "cross_datasets": ",".join(cross),
              "test_datasets": ",".join(tests)}
    with tracking.runs.stage_run("ablation", run_name=study.study_name,
                                 tags={"dataset": cfg.dataset, "loss": cfg.loss,
                                       "optuna_study": study.study_name}, params=params,
                                 run_id=store.parent_run_id(study)) as parent:
        # the study names its parent run: a re-run (or another worker) reopens it, so every
        # trial of the study sits under one run
        study.set_user_attr("mlflow_parent_run_id", parent.info.run_id)
        run_trials(study, Objective(cfg, cross, tests, parent.info.run_id), cfg)
        return conclude(study, cfg, tests, maximise, parent.info.run_id)


def check_sets(tests: dict, test_split: str, cross: dict, cross_split: str) -> None:
    """Every test set (and cross-validation set) holds faces of both classes in the split
    it is scored on: checked before any trial trains, not after each trial's training."""
    from ..evaluation.testset import load_test_set
    for sets, split in ((tests, test_split), (cross, cross_split)):
        for name, index in sets.items():
            load_test_set(name, index, split)


def open_study(cfg: AblationConfig, storage, storage_url: str, maximise: bool) -> optuna.Study:
    """The study in its storage, made or loaded (a grid's points queued once), checked
    against the options it was made with."""
    if cfg.mode == "grid":
        sampler = optuna.samplers.GridSampler({"augment": cfg.grid_points()}, seed=cfg.seed)
        pruner = optuna.pruners.NopPruner()
    else:
        sampler = optuna.samplers.TPESampler(seed=cfg.seed)
        pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    with store.storage_errors(storage_url):
        study = optuna.create_study(storage=storage, study_name=cfg.study_name(),
                                    sampler=sampler, pruner=pruner, load_if_exists=True,
                                    direction="maximize" if maximise else "minimize")
    store.check_fingerprint(study, cfg, storage_url)
    if study.metric_names is None:  # optuna-dashboard's axis says what is optimised
        with warnings.catch_warnings():  # "experimental" in Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(["cross_val_auc" if maximise else "val_loss"])
    log.info("ablation: Optuna study %s in %s", study.study_name, store.shown_url(storage_url))
    if cfg.mode == "grid":
        store.enqueue_grid(study, cfg.grid_points())
    return study


def keep_config(study: optuna.Study, cfg: AblationConfig, tests: dict, cross: dict) -> None:
    """The options the study was made with, as `worker STUDY` rebuilds them: the test and
    cross-validation sets as found here, so that a worker reads the same files whatever
    its own workspace."""
    if "ablation_config" in study.user_attrs:
        return
    stored = {k: list(v) if isinstance(v, tuple) else v
              for k, v in dataclasses.asdict(cfg).items()}
    stored["test_datasets"] = as_option(tests)
    if cross:
        stored["cross_datasets"] = as_option(cross)
    study.set_user_attr("ablation_config", stored)


def run_trials(study: optuna.Study, objective: Objective, cfg: AblationConfig) -> None:
    """Trials until none is left to run, here or running on other workers. A trial that
    raises is recorded FAIL and the study goes on; a dead worker's trial is failed (and a
    grid's re-queued) once its heartbeat is stale."""
    beat = store.heartbeat_seconds(cfg.heartbeat)
    while True:
        remaining = store.remaining(study, cfg)
        if remaining:  # grid: the queued points (a trial past the queue stops, see Objective)
            study.optimize(objective, n_trials=remaining, catch=(Exception,))
        elif store.running(study):
            time.sleep(beat)
            optuna.storages.fail_stale_trials(study)
        else:
            return


def conclude(study: optuna.Study, cfg: AblationConfig, tests: dict, maximise: bool,
             parent_run_id: str) -> dict:
    """The summary logged on the parent run, and each augmentation against NONE on each
    test set (a grid holds a NONE trial); a re-run of a finished study reads its earlier
    comparison."""
    summary = summarise(study, tests)
    summary["direction"] = study.direction.name  # MINIMIZE (val loss) or MAXIMIZE
    log_summary(study, summary, maximise)
    digest = inputs_digest(study, tests, cfg.seed)
    summary["comparison"] = earlier_comparison(parent_run_id, digest)
    if summary["comparison"] is None:
        summary["comparison"] = compare_with_none(study, tests, cfg.seed)
        log_comparison(summary["comparison"], digest)
    mlflow.log_metric("trials", len(summary["trials"]))
    if tag_trainings(study):
        summary["trainings_filter"] = trainings_filter(study.study_name)
        log.info("ablation: its trainings, one per trial, are the runs of: %s",
                 summary["trainings_filter"])
    return summary
