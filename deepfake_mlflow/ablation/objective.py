"""One trial of an ablation: a child run holding the training, the objective on
validation splits, and the test sets' AUCs (reported, never optimised)."""

from __future__ import annotations

import logging
import time

from ..errors import EndedEarly
from .storage import GRID_POINT, SURPLUS, grid

log = logging.getLogger(__name__)


class Pruned(EndedEarly):
    """A trial stopped by the pruner: its runs end KILLED; Optuna records PRUNED."""


class Objective:
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

        from .. import naming, tracking

        # grid points are queued trials (popped by one worker each); a retry of a dead
        # worker's trial carries the same user attributes. A trial without them found the
        # queue empty: every point is taken, it runs nothing
        if self.cfg.mode == "grid" and GRID_POINT not in trial.user_attrs:
            trial.set_user_attr(SURPLUS, "the grid's trials were all taken by other workers")
            trial.study.stop()
            raise optuna.TrialPruned()
        spec = self.augment(trial)
        training = self.cfg.train_config(spec)
        tag = training.augment_tag
        try:
            name = f"trial-{trial.number}-{naming.augment_label(tag)}"
            with tracking.stage_run("ablation", run_name=name,
                                    tags={"dataset": self.cfg.dataset, "loss": self.cfg.loss,
                                          "augment": tag,
                                          "variant": naming.variant(self.cfg.loss, tag),
                                          "optuna_study": self.cfg.study_name(),
                                          "optuna_trial": str(trial.number)},
                                    # the param spelled as the tag, as the trainings log it
                                    params={"augment": tag, "trial": trial.number}) as run:
                trial.set_user_attr("mlflow_run_id", run.info.run_id)
                trial.set_user_attr("augment", tag)
                started = time.perf_counter()
                try:
                    value = self._trial(trial, spec, training)
                    log.info("trial %-3d %-36s objective %.4f %6.0f s", trial.number,
                             naming.augment_label(tag), value, time.perf_counter() - started)
                    return value
                except Pruned:  # the training and this run end KILLED, tagged ended_early
                    log.info("trial %-3d %-36s pruned %13s %6.0f s", trial.number,
                             naming.augment_label(tag), "", time.perf_counter() - started)
                    mlflow.set_tag("optuna_state", "PRUNED")
                    raise
                except Exception as err:
                    trial.set_user_attr("fail_reason", tracking.first_line(err))
                    mlflow.set_tag("optuna_state", "FAIL")
                    raise
        except Pruned:
            raise optuna.TrialPruned() from None

    def _trial(self, trial, spec: str, training) -> float:
        import mlflow

        from ..train.reuse import train_or_reuse
        from ..stages import evaluate

        def report(val_loss: float, iteration: int) -> None:
            trial.report(val_loss, iteration)
            if trial.should_prune():
                raise Pruned(f"pruned by the study's median rule at iteration {iteration}")

        result = train_or_reuse(training, on_validation=report)
        if result.reused:  # the same training already ran (a study's grid): its model
            mlflow.set_tag("reused_training", result.run_id)
        metrics = {"best_val_loss": result.best_val_loss}
        name = mlflow.active_run().info.run_name  # trial-3-hf: its evaluations' names
        if self.cross:  # validation splits only: the objective never sees a test split
            table = evaluate.run(evaluate.EvaluateConfig(
                result.run_id, self.cross, split="val", robustness="none", mds="none",
                device=self.cfg.device, run_name=f"val:{name}"))
            metrics.update({f"val_auc_frame/{r.test_set}": r.auc_frame
                            for r in table.itertuples()})
            value = float(table["auc_frame"].mean())
        else:
            value = float(result.best_val_loss)
        metrics["objective"] = value
        if self.tests:  # reported, never optimised
            table = evaluate.run(evaluate.EvaluateConfig(
                result.run_id, self.tests, robustness="none", mds="none",
                device=self.cfg.device, run_name=f"eval:{name}"))
            for row in table.to_dict("records"):  # each AUC with its 95% interval
                for key in ("auc_frame", "auc_frame_low", "auc_frame_high"):
                    metrics[f"{key}/{row['test_set']}"] = row[key]
                    trial.set_user_attr(f"{key}/{row['test_set']}", row[key])
                trial.set_user_attr(f"videos/{row['test_set']}", row["test_videos"])
        trial.set_user_attr("train_run_id", result.run_id)
        mlflow.log_metrics(metrics)
        mlflow.log_dict({"study": self.cfg.study_name(), "trial": trial.number,
                         "params": trial.params, "augment": spec,
                         "train_run_id": result.run_id, **metrics}, "trial.json")
        mlflow.set_tag("optuna_state", "COMPLETE")
        return value
