"""One trial of an ablation: a child run holding the training, the objective on
validation splits, and the test sets' AUCs (reported, never optimised)."""

from __future__ import annotations

import logging
import time

from ..errors import EndedEarly
from .storage import GRID_POINT, INTERRUPTED, SURPLUS
from ..errors import first_line

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
            return trial.suggest_categorical("augment", self.cfg.grid_points())
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
            with tracking.runs.stage_run("ablation", run_name=name,
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
                    value = self._trial(trial, spec)
                    log.info("trial %-3d %-36s objective %.4f %6.0f s", trial.number,
                             naming.augment_label(tag), value, time.perf_counter() - started)
                    return value
                except Pruned:  # the training and this run end KILLED, tagged ended_early
                    log.info("trial %-3d %-36s pruned %13s %6.0f s", trial.number,
                             naming.augment_label(tag), "", time.perf_counter() - started)
                    mlflow.set_tag("optuna_state", "PRUNED")
                    raise
                except Exception as err:
                    trial.set_user_attr("fail_reason", first_line(err))
                    mlflow.set_tag("optuna_state", "FAIL")
                    raise
                except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM (see cli): Optuna
                    # records the trial FAIL; marked so that the next run queues it again
                    reason = f"interrupted ({err})" if str(err) else "interrupted (Ctrl-C)"
                    trial.set_user_attr(INTERRUPTED, reason)
                    trial.set_user_attr("fail_reason", reason)
                    raise
        except Pruned:
            raise optuna.TrialPruned() from None

    def _trial(self, trial, spec: str) -> float:
        """Train the trial's augmentation once per seed, evaluate each training, and
        return the mean objective over the seeds."""
        import mlflow
        import numpy as np

        def report(val_loss: float, iteration: int) -> None:
            trial.report(val_loss, iteration)
            if trial.should_prune():
                raise Pruned(f"pruned by the study's median rule at iteration {iteration}")

        name = mlflow.active_run().info.run_name  # trial-3-hf: its evaluations' names
        seeds = self.cfg.trial_seeds()
        values, trainings, evaluations, per_seed, curves = [], [], [], [], []
        for i, seed in enumerate(seeds):
            # the pruner reads the first seed's validation curve: one curve per trial
            value, result, validation, tables = self._one_seed(
                spec, seed, report if i == 0 else None,
                name if len(seeds) == 1 else f"{name}-s{seed}")
            values.append(value)
            trainings.append(result.run_id)
            evaluations.append(tables)
            per_seed.append({"best_val_loss": result.best_val_loss, **validation})
            curves.append(val_loss_curve(result.run_id))
        value = float(np.mean(values))
        # each measure as its mean over the seeds, and per seed when there are several
        metrics = {k: float(np.mean([m[k] for m in per_seed])) for k in per_seed[0]}
        metrics.update(objective=value, seeds=len(seeds))
        if len(seeds) > 1:
            metrics.update({f"{k}/seed_{seed}": v for seed, m in zip(seeds, per_seed)
                            for k, v in m.items()})
            metrics.update({f"objective/seed_{seed}": v for seed, v in zip(seeds, values)})
            metrics["objective_sd"] = float(np.std(values, ddof=1))
            trial.set_user_attr("objective_sd", metrics["objective_sd"])
        if self.tests:  # reported, never optimised
            metrics.update(self._test_aucs(trial, evaluations))
        trial.set_user_attr("train_run_id", trainings[0])
        trial.set_user_attr("train_run_ids", trainings)
        trial.set_user_attr("eval_run_ids", [t["eval_run_id"].iloc[0] for t in evaluations
                                             if t is not None and len(t)])
        mlflow.log_metrics(metrics)
        log_val_loss_curves(curves, seeds)
        mlflow.log_dict({"study": self.cfg.study_name(), "trial": trial.number,
                         "params": trial.params, "augment": spec, "seeds": list(seeds),
                         "train_run_ids": trainings, **metrics}, "trial.json")
        mlflow.set_tag("optuna_state", "COMPLETE")
        return value

    def _one_seed(self, spec: str, seed: int, report, name: str):
        """One training of the trial, its objective, its validation AUCs (cross-val-auc)
        and its test evaluation (or None)."""
        import mlflow

        from ..evaluation.config import EvaluateConfig
        from ..evaluation.evaluate import evaluate
        from ..train.reuse import train_or_reuse
        result = train_or_reuse(self.cfg.train_config(spec, seed), on_validation=report)
        if result.reused:  # the same training already ran (a study's grid): its model
            mlflow.set_tag("reused_training" if seed == self.cfg.trial_seeds()[0]
                           else f"reused_training/seed_{seed}", result.run_id)
        if self.cross:  # validation splits only: the objective never sees a test split
            table = evaluate(EvaluateConfig(
                result.run_id, self.cross, split="val", robustness="none", mds="none",
                analysis=False, device=self.cfg.device, run_name=f"val:{name}"))
            validation = {f"val_auc_frame/{r.test_set}": r.auc_frame
                          for r in table.itertuples()}
            value = float(table["auc_frame"].mean())
        else:
            validation, value = {}, float(result.best_val_loss)
        tests = None
        if self.tests:
            tests = evaluate(EvaluateConfig(
                result.run_id, self.tests, robustness="none", mds="none",
                analysis=False, device=self.cfg.device, run_name=f"eval:{name}"))
        return value, result, validation, tests

    def _test_aucs(self, trial, evaluations: list) -> dict:
        """Each test set's frame AUC with its 95% interval, as metrics and user attributes:
        one seed's as its evaluation measured it; over several seeds their mean, with the
        interval of the mean (test videos and seeds, evaluation.compare.mean_auc) and the
        seeds' spread (auc_frame_sd)."""
        import numpy as np

        from ..evaluation.predictions import predictions
        from ..evaluation import compare
        found = {}
        for test in self.tests:
            rows = [t[t["test_set"] == test].iloc[0] for t in evaluations]
            videos = rows[0]["test_videos"]
            if len(rows) == 1:
                mean, low, high = (rows[0][k] for k in ("auc_frame", "auc_frame_low",
                                                        "auc_frame_high"))
            else:
                labels, keys, logits, _ = compare.aligned(
                    [predictions(r["eval_run_id"], test) for r in rows], [])
                both = compare.mean_auc(labels, keys, logits, seed=self.cfg.seed)
                mean, low, high = both.difference, both.low, both.high
                found[f"auc_frame_sd/{test}"] = float(np.std([r["auc_frame"] for r in rows],
                                                             ddof=1))
            found.update({f"auc_frame/{test}": mean, f"auc_frame_low/{test}": low,
                          f"auc_frame_high/{test}": high})
            trial.set_user_attr(f"videos/{test}", videos)
        for key, value in found.items():
            trial.set_user_attr(key, float(value))
        return found


def val_loss_curve(train_run_id: str) -> dict[int, float]:
    """The validation losses of a training's final run by iteration (a BCE training's
    curve; empty for a triplet parent, whose curves are its phases')."""
    import mlflow
    history = mlflow.MlflowClient().get_metric_history(train_run_id, "val_loss")
    return {m.step: m.value for m in history}


def log_val_loss_curves(curves: list[dict], seeds) -> None:
    """The trial's val_loss by iteration onto its run, the mean over its seeds (and each
    seed's as val_loss/seed_<k>): the MLflow UI's chart view of an ablation's trial runs
    then draws every augmentation's curve in one chart, the reused NONE's too."""
    import time

    import mlflow
    import numpy as np
    from mlflow.entities import Metric
    stamp, rows = int(time.time() * 1000), []
    steps = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
    for step in steps:
        rows.append(Metric("val_loss", float(np.mean([c[step] for c in curves])), stamp, step))
        if len(curves) > 1:
            rows += [Metric(f"val_loss/seed_{seed}", c[step], stamp, step)
                     for seed, c in zip(seeds, curves)]
    if rows:
        mlflow.MlflowClient().log_batch(mlflow.active_run().info.run_id, metrics=rows)

