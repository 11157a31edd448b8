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
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from .. import config
from ..errors import EndedEarly
from ..vocabulary import Loss, choices
from .options import at_least, one_of, option
from .train import TrainConfig

log = logging.getLogger(__name__)

HELP = "Optuna study over augmentations (grid: the paper's Fig. 3; search: sampled, pruned)"
MODES = ("grid", "search")
SURPLUS = "surplus"  # user attr of a trial that found the grid taken (several workers)
GRID_POINT = "grid_point"  # user attr of a queued grid trial (and of its retries)
OBJECTIVES = ("val-loss", "cross-val-auc")
# training options an ablation passes through; augment is the trial's, the rest the study's
_SHARED = [f for f in dataclasses.fields(TrainConfig)
           if f.name not in ("dataset", "augment", "loss", "init", "resume")]


@dataclass(frozen=True)
class _AblationOptions:
    dataset: str = option(help="training dataset (its faces index in the workspace unless "
                               "--faces)")
    mode: str = option("grid", choices=MODES, help="grid: the Fig. 3 set; search: Optuna's "
                                                   "sampler with pruning")
    trials: int = option(config.ABLATION_SEARCH_TRIALS, help="search: trials in the study "
                                                             "(grid: the grid's size)")
    loss: str = option(Loss.BCE.value, choices=choices(Loss), help="loss of every trial")
    objective: str = option(OBJECTIVES[0], choices=OBJECTIVES,
                            help="val-loss (the training set's validation split), or "
                                 "cross-val-auc (mean frame AUC on the validation splits of "
                                 "--cross-datasets)")
    cross_datasets: str = option("", help="cross-val-auc: comma list of other datasets "
                                          "(NAME or NAME=faces.parquet; default: every other "
                                          "dataset in the workspace)")
    test_datasets: str = option("", help="test sets evaluated and reported per trial, never "
                                         "optimised (default: every dataset in the "
                                         "workspace; none for none)")
    storage: str = option("", help="Optuna storage URL (default sqlite:///optuna.db beside "
                                   "the tracking store; postgresql://... for many workers)")
    heartbeat: float = option(config.ABLATION_HEARTBEAT_S,
                              help="seconds between a trial's heartbeats; a trial silent for "
                                   "3 of them (its worker died) is failed and retried")
    study: str = option("", help="study name (default ablation-<dataset>-<mode>-<loss>-"
                                 "<fingerprint of the options and faces>)")


def _copied(f: dataclasses.Field) -> tuple:
    """A field of another config, for make_dataclass: same name, default, help, choices."""
    meta = {k: f.metadata.get(k) for k in ("help", "choices", "parse", "nargs")}
    return f.name, f.type, option(f.default, **meta)


def _check(self) -> None:
    one_of(self, "mode", MODES)
    one_of(self, "objective", OBJECTIVES)
    at_least(self, 1, "trials")
    self.train_config("NONE")  # the training options, checked by the train stage's rules


def _train_config(self, augment: str) -> TrainConfig:
    shared = {f.name: getattr(self, f.name) for f in _SHARED}
    return TrainConfig(self.dataset, augment=augment, loss=self.loss, **shared)


def _fingerprint(self) -> str:
    """What the study's trials learn from and report on, as 6 hex digits: the training
    options (with the faces' digest, see TrainConfig.config_hash), the search, and the
    faces of the cross-validation and test sets. A study holds trials of one fingerprint."""
    import hashlib
    import json

    from ..faces.index import faces_digest
    cross = (_datasets(self.cross_datasets, exclude=self.dataset)
             if self.objective == "cross-val-auc" else {})
    # not the number of search trials: asking for more continues the same study
    what = {"mode": self.mode, "loss": self.loss, "objective": self.objective,
            "training": self.train_config("NONE").config_hash(),
            "cross": {k: faces_digest(v) for k, v in cross.items()},
            "tests": {k: faces_digest(v) for k, v in _datasets(self.test_datasets).items()}}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:6]


def _study_name(self) -> str:
    """--study, else ablation-<dataset>-<mode>-<loss>-<fingerprint>: other options or
    faces open a new study instead of resuming one whose trials no longer apply."""
    return self.study or f"ablation-{self.dataset}-{self.mode}-{self.loss}-{self.fingerprint()}"


# the ablation's own options, then every training option of the train stage (one place of
# their defaults: TrainConfig)
AblationConfig = dataclasses.make_dataclass(
    "AblationConfig",
    [_copied(f) for f in [*dataclasses.fields(_AblationOptions), *_SHARED]],
    frozen=True,
    namespace={"__post_init__": _check, "train_config": _train_config,
               "study_name": _study_name, "fingerprint": _fingerprint})
AblationConfig.__module__ = __name__
CONFIG = AblationConfig


def grid() -> list[str]:
    """The paper's Fig. 3 set: no augmentation, each augmentation alone, all of them."""
    from ..augment import AUGMENTATIONS
    return ["NONE", *AUGMENTATIONS, "MIX"]


def default_storage() -> str:
    """sqlite:///optuna.db in the folder of the SQLite tracking store (or here)."""
    from .. import tracking
    uri = tracking.configure()
    folder = Path(uri.removeprefix("sqlite:///")).resolve().parent \
        if uri.startswith("sqlite:///") else Path.cwd()
    return f"sqlite:///{folder / 'optuna.db'}"


def _datasets(option_value: str, exclude: str = "") -> dict[str, Path]:
    """NAME / NAME=PATH comma list -> faces indexes; empty: every dataset in the workspace."""
    from .. import paths
    from ..evaluation.model_run import parse_test_sets
    if option_value.strip().lower() == "none":
        return {}
    if option_value.strip():
        return {k: v for k, v in parse_test_sets(option_value).items() if k != exclude}
    root = paths.workspace()
    return {d.name: d / paths.FACES_INDEX for d in sorted(root.iterdir())
            if (d / paths.FACES_INDEX).is_file() and d.name != exclude} if root.is_dir() else {}


def run(cfg) -> dict:
    """Run (or resume) the study; returns its summary: the trials table, the best trial."""
    import mlflow
    import optuna

    from .. import tracking

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage_url = cfg.storage or default_storage()
    with warnings.catch_warnings():  # "experimental" since Optuna 2.8: said once, here
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(
            max_retry=config.ABLATION_MAX_RETRY)
    beat = max(1, round(cfg.heartbeat))  # Optuna counts heartbeats in whole seconds
    storage = optuna.storages.RDBStorage(
        storage_url, heartbeat_interval=beat, grace_period=3 * beat,
        heartbeat_stale_trial_callback=retry)
    maximise = cfg.objective == "cross-val-auc"
    cross = _datasets(cfg.cross_datasets, exclude=cfg.dataset) if maximise else {}
    if maximise and not cross:
        from ..errors import UserInputError
        raise UserInputError("--objective cross-val-auc needs other datasets' faces "
                             "(--cross-datasets, or their faces indexes in the workspace)")
    tests = _datasets(cfg.test_datasets)
    if cfg.mode == "grid":
        sampler = optuna.samplers.GridSampler({"augment": grid()}, seed=cfg.seed)
        pruner = optuna.pruners.NopPruner()
    else:
        sampler = optuna.samplers.TPESampler(seed=cfg.seed)
        pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    name = cfg.study_name()
    study = optuna.create_study(storage=storage, study_name=name, sampler=sampler,
                                pruner=pruner, load_if_exists=True,
                                direction="maximize" if maximise else "minimize")
    _check_fingerprint(study, cfg, storage_url)
    log.info("ablation: Optuna study %s in %s", study.study_name, shown_url(storage_url))
    if cfg.mode == "grid":
        _enqueue_grid(study)
    if "ablation_config" not in study.user_attrs:  # what `worker STUDY` rebuilds it from
        stored = {k: list(v) if isinstance(v, tuple) else v
                  for k, v in dataclasses.asdict(cfg).items()}
        # the test and cross-validation sets as found here, so that a worker reads the
        # same files whatever its own workspace
        stored["test_datasets"] = _as_option(tests)
        if maximise:
            stored["cross_datasets"] = _as_option(cross)
        study.set_user_attr("ablation_config", stored)
    params = {**{k: v for k, v in dataclasses.asdict(cfg).items()},
              "storage": shown_url(storage_url), "study": name,
              "cross_datasets": ",".join(cross), "test_datasets": ",".join(tests)}
    with tracking.stage_run("ablation", run_name=name,
                            tags={"dataset": cfg.dataset, "loss": cfg.loss,
                                  "optuna_study": name}, params=params,
                            run_id=_parent_run_id(study)) as parent:
        # the study names its parent run: a re-run (or another worker) reopens it, so every
        # trial of the study sits under one run
        study.set_user_attr("mlflow_parent_run_id", parent.info.run_id)
        objective = _Objective(cfg, cross, tests, parent.info.run_id)
        while True:  # until no trial is left to run or running here or on other workers
            remaining = _remaining(study, cfg)
            if remaining:  # grid: the queued points (a trial past the queue stops, see
                # _Objective); catch: a trial that raises is recorded FAIL, the study goes on
                study.optimize(objective, n_trials=remaining, catch=(Exception,))
            elif _running(study):  # other workers' trials, or a dead worker's, failed
                time.sleep(beat)   # (and re-queued) once its heartbeat is stale
                optuna.storages.fail_stale_trials(study)
            else:
                break
        summary = _summarise(study, tests)
        _log_summary(study, summary, maximise)
        mlflow.log_metric("trials", len(summary["trials"]))
    return summary


def _as_option(datasets: dict) -> str:
    """{name: faces index} as the NAME=PATH option that names the same files anywhere."""
    return ",".join(f"{k}={Path(v).resolve()}" for k, v in datasets.items()) or "none"


def _check_fingerprint(study, cfg, storage_url: str) -> None:
    """A study named with --study is resumed only with the options and faces its trials
    ran with: anything else would mix trials that no longer compare."""
    from ..errors import UserInputError
    now, then = cfg.fingerprint(), study.user_attrs.get("fingerprint")
    if then is None:
        study.set_user_attr("fingerprint", now)
    elif then != now:
        raise UserInputError(
            f"Optuna study {study.study_name!r} in {shown_url(storage_url)} holds trials of "
            f"other training options or faces (fingerprint {then}, here {now}): name a new "
            "study with --study, or leave --study out to use "
            f"ablation-{cfg.dataset}-{cfg.mode}-{cfg.loss}-{now}; a worker must read the "
            "faces the study was started on")


def shown_url(url: str) -> str:
    """A storage URL as it may be shown and logged: its password masked."""
    from sqlalchemy.engine import make_url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not an SQLAlchemy URL: Optuna will say so
        return url


def _parent_run_id(study) -> str | None:
    import mlflow
    run_id = study.user_attrs.get("mlflow_parent_run_id")
    if run_id is None:
        return None
    try:
        mlflow.get_run(run_id)
    except mlflow.exceptions.MlflowException:  # a study kept, its tracking store not
        return None
    return run_id


def _remaining(study, cfg) -> int:
    """Trials still to run: a finished trial (complete, pruned or failed) is never redone;
    a trial re-queued by the heartbeat (its worker died) is."""
    from optuna.trial import TrialState
    trials = [t for t in study.trials if SURPLUS not in t.user_attrs]
    waiting = sum(t.state == TrialState.WAITING for t in trials)
    if cfg.mode == "grid":  # every point not yet run is a queued (waiting) trial
        return waiting
    finished = sum(t.state.is_finished() for t in trials)
    return max(0, cfg.trials - finished - len(_running(study))) + waiting


def _enqueue_grid(study) -> None:
    """Queue each grid point that no trial holds yet, as a trial of its own: workers pop
    queued trials one each (Optuna's storage hands a waiting trial to one worker), so with
    any number of workers every point runs once."""
    from optuna.trial import TrialState
    held = set()
    for t in study.trials:
        if SURPLUS in t.user_attrs:
            continue
        if t.state == TrialState.FAIL and t.user_attrs.get(GRID_POINT) and any(
                r.state != TrialState.FAIL and r.user_attrs.get(GRID_POINT) ==
                t.user_attrs[GRID_POINT] for r in study.trials):
            continue  # failed, and re-queued by the heartbeat
        held.add(t.user_attrs.get(GRID_POINT) or t.params.get("augment"))
    for point in grid():
        if point not in held:
            study.enqueue_trial({"augment": point}, user_attrs={GRID_POINT: point})


def _running(study) -> list:
    from optuna.trial import TrialState
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if SURPLUS not in t.user_attrs]


class Pruned(EndedEarly):
    """A trial stopped by the pruner: its runs end KILLED; Optuna records PRUNED."""


class _Objective:
    """One trial: a child run holding the training, the objective on validation splits,
    and the test sets' AUCs (reported only)."""

    def __init__(self, cfg, cross: dict, tests: dict, parent_id: str):
        self.cfg, self.cross, self.tests, self.parent_id = cfg, cross, tests, parent_id

    def augment(self, trial) -> str:
        if self.cfg.mode == "grid":
            return trial.suggest_categorical("augment", grid())
        from ..augment import AUGMENTATIONS
        chosen = [name for name in AUGMENTATIONS
                  if trial.suggest_categorical(name, [False, True])]
        return ",".join(chosen) or "NONE"

    def __call__(self, trial) -> float:
        import mlflow
        import optuna

        from .. import augment, tracking
        from . import evaluate, train

        # grid points are queued trials (popped by one worker each); a retry of a dead
        # worker's trial carries the same user attributes. A trial without them found the
        # queue empty: every point is taken, it runs nothing
        if self.cfg.mode == "grid" and GRID_POINT not in trial.user_attrs:
            trial.set_user_attr(SURPLUS, "the grid's trials were all taken by other workers")
            trial.study.stop()
            raise optuna.TrialPruned()
        spec = self.augment(trial)
        tag = tracking.augment_tag(augment.parse(spec))
        try:
            name = f"trial-{trial.number}-{tracking.augment_label(tag)}"
            with tracking.stage_run("ablation", run_name=name,
                                    tags={"dataset": self.cfg.dataset, "loss": self.cfg.loss,
                                          "augment": tag,
                                          "optuna_study": self.cfg.study_name(),
                                          "optuna_trial": str(trial.number)},
                                    params={"augment": spec, "trial": trial.number}) as run:
                trial.set_user_attr("mlflow_run_id", run.info.run_id)
                trial.set_user_attr("augment", tag)
                started = time.perf_counter()
                try:
                    value = self._trial(trial, spec, train, evaluate, mlflow)
                    log.info("trial %-3d %-36s objective %.4f %6.0f s", trial.number,
                             tracking.augment_label(tag), value, time.perf_counter() - started)
                    return value
                except Pruned:  # the training and this run end KILLED, tagged ended_early
                    log.info("trial %-3d %-36s pruned %13s %6.0f s", trial.number,
                             tracking.augment_label(tag), "", time.perf_counter() - started)
                    mlflow.set_tag("optuna_state", "PRUNED")
                    raise
                except Exception as err:
                    trial.set_user_attr("fail_reason", tracking.first_line(err))
                    mlflow.set_tag("optuna_state", "FAIL")
                    raise
        except Pruned:
            raise optuna.TrialPruned() from None

    def _trial(self, trial, spec: str, train, evaluate, mlflow) -> float:
        def report(val_loss: float, iteration: int) -> None:
            trial.report(val_loss, iteration)
            if trial.should_prune():
                raise Pruned(f"pruned by the study's median rule at iteration {iteration}")

        cfg = self.cfg.train_config(spec)
        done = train.finished_run(train.final_runs(cfg))
        if done is not None:  # the same training already ran (a study's grid): its model
            result = {"run_id": done.info.run_id,
                      "best_val_loss": done.data.metrics["best_val_loss"]}
            mlflow.set_tag("reused_training", result["run_id"])
        else:
            result = train.run(cfg, on_validation=report)
        metrics = {"best_val_loss": result["best_val_loss"]}
        name = mlflow.active_run().info.run_name  # trial-3-hf: its evaluations' names
        if self.cross:  # validation splits only: the objective never sees a test split
            table = evaluate.run(evaluate.EvaluateConfig(
                result["run_id"], self.cross, split="val", robustness="none", mds="none",
                device=self.cfg.device, run_name=f"val:{name}"))
            metrics.update({f"val_auc_frame/{r.test_set}": r.auc_frame
                            for r in table.itertuples()})
            value = float(table["auc_frame"].mean())
        else:
            value = float(result["best_val_loss"])
        metrics["objective"] = value
        if self.tests:  # reported, never optimised
            table = evaluate.run(evaluate.EvaluateConfig(
                result["run_id"], self.tests, robustness="none", mds="none",
                device=self.cfg.device, run_name=f"eval:{name}"))
            for r in table.itertuples():
                metrics[f"auc_frame/{r.test_set}"] = r.auc_frame
                trial.set_user_attr(f"auc_frame/{r.test_set}", r.auc_frame)
        trial.set_user_attr("train_run_id", result["run_id"])
        mlflow.log_metrics(metrics)
        mlflow.log_dict({"study": self.cfg.study_name(), "trial": trial.number,
                         "params": trial.params, "augment": spec,
                         "train_run_id": result["run_id"], **metrics}, "trial.json")
        mlflow.set_tag("optuna_state", "COMPLETE")
        return value


def _summarise(study, tests: dict) -> dict:
    rows = []
    for t in study.trials:
        if SURPLUS in t.user_attrs:
            continue
        rows.append({"trial": t.number, "state": t.state.name,
                     "augment": t.user_attrs.get("augment", ""),
                     "objective": t.value, "mlflow_run_id": t.user_attrs.get("mlflow_run_id", ""),
                     "fail_reason": t.user_attrs.get("fail_reason", ""),
                     **{f"auc_frame/{name}": t.user_attrs.get(f"auc_frame/{name}")
                        for name in tests}})
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    best = study.best_trial if complete else None
    return {"trials": rows, "best": None if best is None else {
        "trial": best.number, "augment": best.user_attrs.get("augment"), "objective": best.value,
        "mlflow_run_id": best.user_attrs.get("mlflow_run_id")}}


def _log_summary(study, summary: dict, maximise: bool) -> None:
    import mlflow
    import pandas as pd

    from .. import tracking
    from ..evaluation import plots

    table = pd.DataFrame(summary["trials"])
    if len(table):
        table = table.sort_values("objective", ascending=not maximise, na_position="last")
    tracking.log_dataframe(table, "trials.csv")
    best = summary["best"]
    if best is not None:
        mlflow.log_metric("best_objective", best["objective"])
        mlflow.set_tags({"best_augment": best["augment"], "best_trial": str(best["trial"]),
                         "best_run_id": best["mlflow_run_id"]})
    import matplotlib
    import optuna
    from optuna.visualization import matplotlib as views
    for name, draw in (("history", views.plot_optimization_history),
                       ("importances", views.plot_param_importances)):
        # Optuna's views switch matplotlib to its ggplot style for good: kept to this block,
        # or every later figure of the process turns grey
        with matplotlib.rc_context():
            try:
                with warnings.catch_warnings():  # Optuna's matplotlib views are "experimental"
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    axes = draw(study)
            except Exception as err:  # too few finished trials for the plot: said, not fatal
                log.info("ablation: no %s plot (%s)", name, tracking.first_line(err))
                continue
            figure = axes.figure if hasattr(axes, "figure") else axes
            figure.set_size_inches(8, 4.5)
            figure.tight_layout()
            plots.log(figure, f"optuna_{name}.png")
