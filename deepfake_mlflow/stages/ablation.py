"""The `ablation` stage: an Optuna study over the augmentations of one training dataset.

--mode grid    the paper's Fig. 3 set (NONE, each single augmentation, MIX), one trial
               each, through Optuna's GridSampler.
--mode search  on/off of each augmentation drawn by Optuna's sampler, trials pruned on
               the validation losses the training loop computes (median rule).

Each trial is a child run of the study's parent run (tags optuna_study, optuna_trial; the
trial's user attribute mlflow_run_id names the run); its training and evaluations are
runs beneath it. The objective reads validation splits only: the training set's
validation loss (minimised), or with --objective cross-val-auc the mean frame AUC on the
validation splits of other datasets (maximised). Test AUCs are measured and reported,
never optimised. The study lives in an Optuna storage (SQLite beside the tracking store
by default, any SQLAlchemy URL such as PostgreSQL to share it between workers): a re-run
resumes it, a failed trial is recorded FAIL with its reason, and a trial left RUNNING by
a killed worker is failed and retried through Optuna's heartbeat.
"""

from __future__ import annotations

import dataclasses
import logging

from ..ablation.config import AblationConfig

log = logging.getLogger(__name__)

HELP = "Optuna study over augmentations (grid: the paper's Fig. 3; search: sampled, pruned)"
EXAMPLES = """\
    deepfake-mlflow ablation dfdc
    deepfake-mlflow ablation dfdc --seeds 0,1,2 --storage postgresql://host/optuna
"""
CONFIG = AblationConfig


def run(cfg) -> dict:
    """Run (or resume) the study; returns its summary: the trials table, the best trial."""
    import time

    import mlflow
    import optuna

    from .. import tracking
    from ..ablation import storage as store
    from ..ablation.config import as_option, datasets_option
    from ..ablation.objective import Objective
    from ..ablation.storage import default_storage, shown_url
    from ..ablation.summary import log_summary, summarise, tag_trainings, trainings_filter
    from ..ablation.verdicts import (compare_with_none, earlier_comparison, inputs_digest,
                                     log_comparison)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage_url = cfg.storage or default_storage()
    with store.storage_errors(storage_url):  # one line, not SQLAlchemy's traceback
        storage = store.open_storage(storage_url, cfg.heartbeat)
    beat = store.heartbeat_seconds(cfg.heartbeat)
    maximise = cfg.objective == "cross-val-auc"
    cross = datasets_option(cfg.cross_datasets, exclude=cfg.dataset) if maximise else {}
    if maximise and not cross:
        from ..errors import UserInputError
        raise UserInputError("--objective cross-val-auc needs other datasets' faces "
                             "(--cross-datasets, or their faces indexes in the workspace)")
    tests = datasets_option(cfg.test_datasets)
    if cfg.mode == "grid":
        sampler = optuna.samplers.GridSampler({"augment": store.grid()}, seed=cfg.seed)
        pruner = optuna.pruners.NopPruner()
    else:
        sampler = optuna.samplers.TPESampler(seed=cfg.seed)
        pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    name = cfg.study_name()
    with store.storage_errors(storage_url):
        study = optuna.create_study(storage=storage, study_name=name, sampler=sampler,
                                    pruner=pruner, load_if_exists=True,
                                    direction="maximize" if maximise else "minimize")
    store.check_fingerprint(study, cfg, storage_url)
    if study.metric_names is None:  # optuna-dashboard's axis says what is optimised
        import warnings
        with warnings.catch_warnings():  # "experimental" in Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(["cross_val_auc" if maximise else "val_loss"])
    log.info("ablation: Optuna study %s in %s", study.study_name, shown_url(storage_url))
    if cfg.mode == "grid":
        store.enqueue_grid(study)
    if "ablation_config" not in study.user_attrs:  # what `worker STUDY` rebuilds it from
        stored = {k: list(v) if isinstance(v, tuple) else v
                  for k, v in dataclasses.asdict(cfg).items()}
        # the test and cross-validation sets as found here, so that a worker reads the
        # same files whatever its own workspace
        stored["test_datasets"] = as_option(tests)
        if maximise:
            stored["cross_datasets"] = as_option(cross)
        study.set_user_attr("ablation_config", stored)
    params = {**{k: v for k, v in dataclasses.asdict(cfg).items()},
              "storage": shown_url(storage_url), "study": name,
              "cross_datasets": ",".join(cross), "test_datasets": ",".join(tests)}
    with tracking.runs.stage_run("ablation", run_name=name,
                            tags={"dataset": cfg.dataset, "loss": cfg.loss,
                                  "optuna_study": name}, params=params,
                            run_id=store.parent_run_id(study)) as parent:
        # the study names its parent run: a re-run (or another worker) reopens it, so every
        # trial of the study sits under one run
        study.set_user_attr("mlflow_parent_run_id", parent.info.run_id)
        objective = Objective(cfg, cross, tests, parent.info.run_id)
        while True:  # until no trial is left to run or running here or on other workers
            remaining = store.remaining(study, cfg)
            if remaining:  # grid: the queued points (a trial past the queue stops, see
                # _Objective); catch: a trial that raises is recorded FAIL, the study goes on
                study.optimize(objective, n_trials=remaining, catch=(Exception,))
            elif store.running(study):  # other workers' trials, or a dead worker's, failed
                time.sleep(beat)   # (and re-queued) once its heartbeat is stale
                optuna.storages.fail_stale_trials(study)
            else:
                break
        summary = summarise(study, tests)
        summary["direction"] = study.direction.name  # MINIMIZE (val loss) or MAXIMIZE
        log_summary(study, summary, maximise)
        # each augmentation against NONE, on each test set (grid mode holds a NONE trial)
        digest = inputs_digest(study, tests, cfg.seed)  # a re-run of a finished study
        summary["comparison"] = earlier_comparison(parent.info.run_id, digest)  # reads it
        if summary["comparison"] is None:
            summary["comparison"] = compare_with_none(study, tests, cfg.seed)
            log_comparison(summary["comparison"], digest)
        mlflow.log_metric("trials", len(summary["trials"]))
        if tag_trainings(study):
            summary["trainings_filter"] = trainings_filter(name)
            log.info("ablation: its trainings, one per trial, are the runs of: %s",
                     summary["trainings_filter"])
    return summary


def report(summary) -> int:
    """The trials table, best objective first, and the best trial."""
    import pandas as pd

    from ..evaluation.matrix import print_marked, test_auc_cells
    from ..naming import augment_label
    table = pd.DataFrame(summary["trials"])
    if len(table):
        table = table.sort_values("objective", na_position="last",  # best first
                                  ascending=summary.get("direction") != "MAXIMIZE")
        table["augment"] = table["augment"].map(augment_label)  # mix, not all seven names
        spread = table.get("objective_sd", pd.Series(dtype=float))
        table["objective"] = [  # over seeds: the mean and its spread, 1.261±0.30
            "-" if pd.isna(v) else f"{v:.4f}" + ("" if pd.isna(sd) else f"\u00b1{sd:.2f}")
            for v, sd in zip(table["objective"], spread.reindex(table.index))]
        table = test_auc_cells(table)  # AUC [95% interval]
        shown = [c for c in table.columns
                 if c not in ("mlflow_run_id", "fail_reason", "objective_sd")]
        print("ablation (Fig. 3), best objective first; test AUCs [95% interval] (over "
              "seeds: mean\u00b1sd [interval of the mean]) reported, never optimised:")
        print_marked(table[shown].to_string(index=False))
        if spread.notna().any():
            print("objective: mean over the seeds \u00b1 their standard deviation; trials "
                  "whose objectives lie within each other's spread could trade places "
                  "with other seeds")
    comparison = summary.get("comparison")
    if comparison is not None and len(comparison):
        from ..ablation.verdicts import printed
        print("\neach augmentation against NONE, frame AUC difference [95% interval] "
              "on the same test videos:")
        print(printed(comparison))
    best = summary["best"]
    if best is not None:
        print(f"best: trial {best['trial']} ({augment_label(best['augment'])}), objective "
              f"{best['objective']:.4f}, run {best['mlflow_run_id']}")
    return 0
