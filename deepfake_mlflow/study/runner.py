"""The steps of a study plan, run in order under the active run (a reproduce or demo run):
the grid, the matrix, the data-limited points, the ablation, the champions and their
robustness sweeps, then the report.

Every step is reused when already done (a training by its config hash, through
train_or_reuse; an evaluation by its params and the faces it scored), resumed when
interrupted, and reported, not fatal, when it fails.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..vocabulary import Loss
from ..evaluation.matrix import INTERVALS
from .plan import StudyPlan, tuples

log = logging.getLogger(__name__)


def run_steps(plan: StudyPlan, study_file: Path, report_dir: Path) -> dict:
    """Every step of a plan as a child of the active run (a reproduce run, or the demo's),
    then the study's report (dashboards) written to report_dir and logged to that run."""
    import mlflow

    started = time.perf_counter()
    mlflow.log_artifact(str(study_file))
    study = StudyRunner(plan)
    study.grid()
    study.matrix()
    if plan.data_limited:
        study.data_limited()
    if plan.ablation:
        study.ablation()
    if plan.promote:
        study.promote()
    mlflow.log_metrics({"trainings_run": study.counts["trained"],
                        "trainings_reused": study.counts["reused"],
                        "steps_failed": len(study.failed),
                        "seconds": time.perf_counter() - started})
    study.report(report_dir)
    mlflow.set_tag("failed_steps", "; ".join(study.failed) or "none")
    return {**study.results, "failed": study.failed, "counts": study.counts}


def parent_run_id(stage: str, name: str, params: dict | None = None) -> str | None:
    """The study's parent run, when an earlier invocation made one (with these params):
    reopened, so that the study's steps, reused or new, sit under one run."""
    from .. import queries
    found = queries.study_run(stage, name, params)
    return found.info.run_id if found else None


class StudyRunner:
    """The steps of one plan, each run once: reused when already done, resumed when
    interrupted, reported (not fatal) when it fails."""

    def __init__(self, plan: StudyPlan):
        self.plan = plan
        self.results: dict = {}
        self.failed: list[str] = []
        self.counts = {"trained": 0, "reused": 0, "reused_evaluations": 0}
        self.final_runs: list[str] = []
        # resamples of each AUC's interval, for every evaluation of the study
        from ..evaluation.config import EvaluateConfig
        self.bootstrap = EvaluateConfig("m", "d", **tuples(plan.evaluate)).bootstrap

    def step(self, what: str, work):
        from .. import tracking
        started = time.perf_counter()
        try:
            out = work()
        except Exception as err:  # noqa: BLE001 - a failed step is reported, the study goes on
            self.failed.append(f"{what}: {tracking.first_line(err)}")
            log.warning("%-52s failed: %s", what, tracking.first_line(err))
            return None
        log.info("%-52s %6.0f s", what, time.perf_counter() - started)
        return out

    def trained(self, cfg):
        """The final run of this training: reused when finished, resumed when not."""
        from ..train.reuse import train_or_reuse
        result = train_or_reuse(cfg)
        self.counts["reused" if result.reused else "trained"] += 1
        return result

    def variant(self, dataset: str, loss: str, aug: str, **extra) -> str | None:
        """One trained variant; a triplet starts from the BCE model of the same options."""
        if loss == Loss.TRIPLET:
            bce = self.trained(self.plan.train_config(dataset, Loss.BCE, aug, **extra))
            cfg = self.plan.train_config(dataset, loss, aug, init=bce.run_id, **extra)
        else:
            cfg = self.plan.train_config(dataset, loss, aug, **extra)
        return self.trained(cfg).run_id

    def seeded(self, what: str, seed: int) -> str:
        """A step's name, with its seed when the study has several."""
        return what if len(self.plan.study_seeds()) == 1 else f"{what}, seed {seed}"

    def grid(self) -> None:
        runs = {}
        for dataset in self.plan.train_datasets:
            for aug in self.plan.augmentations:
                for loss in self.plan.losses:
                    for seed in self.plan.study_seeds():
                        run_id = self.step(
                            self.seeded(f"train {dataset}, {loss}, {aug.lower()}", seed),
                            lambda: self.variant(dataset, loss, aug, seed=seed))
                        if run_id:
                            runs[(dataset, loss, aug, seed)] = run_id
        self.final_runs = list(runs.values())
        self.results["grid"] = runs

    def tests(self, names) -> dict:
        from ..evaluation.config import parse_test_sets
        return parse_test_sets(list(names))  # NAME: its faces index in the workspace

    def earlier_evaluation(self, params: dict, train_run_id: str = "",
                           matrix_of: list | None = None):
        """A FINISHED evaluation run under this study's parent with these params (for one
        training run, or the matrix run of these training runs), that scored the faces
        the test sets hold now: reused, not redone."""
        import mlflow
        import pandas as pd

        from .. import queries, tracking
        from ..faces.index import faces_digest
        scored = {f"faces_digest/{name}": faces_digest(index)
                  for name, index in self.tests(params["test_sets"].split(",")).items()}
        parent = mlflow.active_run().info.run_id
        tags = {"stage": "evaluate", **({"train_run_id": train_run_id} if train_run_id else {})}
        for run in queries.children(parent, status="FINISHED", **tags):
            logged = run.data.params
            if any(logged.get(k) != tracking.param_value(v) for k, v in params.items()):
                continue
            if any(run.data.tags.get(k) != v for k, v in scored.items()):
                continue  # faces extracted again since
            if matrix_of is None:
                return run
            if run.info.run_name.startswith("matrix:"):
                models = pd.read_csv(mlflow.artifacts.download_artifacts(
                    run_id=run.info.run_id, artifact_path="models.csv"))
                if sorted(models["train_run_id"]) == sorted(matrix_of):
                    return run
        return None

    def matrix(self) -> None:
        import mlflow
        import pandas as pd

        from ..stages import evaluate
        if not self.final_runs:
            return
        options = {"robustness": "none", **tuples(self.plan.evaluate)}
        cfg = evaluate.EvaluateConfig(tuple(self.final_runs),
                                      self.tests(self.plan.test_datasets), **options)

        def work():
            done = self.earlier_evaluation(
                {"test_sets": ",".join(self.plan.test_datasets), "models": len(self.final_runs),
                 "bootstrap": cfg.bootstrap,
                 **{k: v for k, v in options.items() if k in ("mds", "robustness", "split")}},
                matrix_of=self.final_runs)
            if done is None:
                return evaluate.run(cfg)
            self.counts["reused_evaluations"] += 1
            return pd.read_csv(mlflow.artifacts.download_artifacts(
                run_id=done.info.run_id, artifact_path="matrix/cross_dataset_auc.csv"))
        self.results["matrix"] = self.step(
            f"evaluate {len(self.final_runs)} models on {len(self.plan.test_datasets)} test sets",
            work)

    def data_limited(self) -> None:
        """Fig. 1: each data-limited training dataset, loss and size, tested on every test
        set of the study (in domain and across), one evaluation run per point."""
        import pandas as pd

        from ..stages import evaluate
        spec, rows = self.plan.data_limited, []
        tests = list(self.plan.test_datasets)
        measured = ("auc_frame", "auc_video", *INTERVALS)  # each AUC with its interval
        for dataset, n, loss, seed in [
                (d, n, loss, seed) for d in self.plan.limited_datasets()
                for n in spec["videos_per_class"] for loss in spec.get("losses", self.plan.losses)
                for seed in self.plan.study_seeds()]:
            def point(dataset=dataset, n=n, loss=loss, seed=seed):
                run_id = self.variant(dataset, loss, "NONE", train_videos=int(n),
                                      seed=seed)
                done = self.earlier_evaluation(
                    {"test_sets": ",".join(tests), "robustness": "none",
                     "mds": "none", "bootstrap": self.bootstrap},
                    train_run_id=run_id)
                if done is not None:
                    self.counts["reused_evaluations"] += 1
                    found = [{"test_set": t, "test_videos":
                              done.data.metrics.get(f"videos/{t}"),
                              **{m: done.data.metrics.get(f"{m}/{t}", float("nan"))
                                 for m in measured}} for t in tests]
                else:
                    table = evaluate.run(evaluate.EvaluateConfig(
                        run_id, self.tests(tests), robustness="none", mds="none",
                        bootstrap=self.bootstrap))
                    found = table[["test_set", *measured, "test_videos"]].to_dict(
                        "records")
                return [{"train_dataset": dataset, "train_videos": int(n),
                         "loss": loss, "seed": seed, "run_id": run_id, **row}
                        for row in found]
            points = self.step(self.seeded(f"data-limited {dataset}, {loss}, {n} "
                                           "videos per class", seed), point)
            rows += points or []
        table = pd.DataFrame(rows)
        self.results["data_limited"] = table
        if len(table):
            from .. import tracking
            tracking.log_dataframe(table, "data_limited.csv")

    def ablation(self) -> None:
        from ..stages import ablation
        self.results["ablation"] = self.step(
            f"ablation on {self.plan.ablation['dataset']}",
            lambda: ablation.run(self.plan.ablation_config()))

    def promote(self) -> None:
        from ..stages import evaluate, promote
        trained = sorted({key[0] for key in self.results.get("grid", {})})
        if not trained:
            return
        champions = self.step("promote the champion of each dataset",
                              lambda: promote.run(promote.PromoteConfig(tuple(trained))))
        self.results["champions"] = champions or []
        if not self.plan.robustness:
            return
        sweep = tuples(self.plan.robustness)
        for champion in champions or []:
            name = champion["dataset"]

            def work(c=champion):
                cfg = evaluate.EvaluateConfig(c["uri"], self.tests([c["dataset"]]),
                                              robustness="all", mds="none",
                                              bootstrap=self.bootstrap, **sweep)
                done = self.earlier_evaluation(
                    {"test_sets": c["dataset"], "robustness": c["dataset"],
                     "jpeg_qualities": ",".join(map(str, cfg.jpeg_qualities)),
                     "scales": ",".join(map(str, cfg.scales)), "bootstrap": cfg.bootstrap},
                    train_run_id=c["train_run_id"])
                if done is None:
                    return evaluate.run(cfg)
                self.counts["reused_evaluations"] += 1
                return None
            self.step(f"robustness of the {name} champion", work)

    def report(self, folder: Path) -> None:
        """The dashboards' report of the active run's study, logged to that run."""
        import mlflow
        from dashboards import report, store

        parent = mlflow.active_run().info.run_id
        self.results["report"] = self.step(
            "report: the paper's tables and figures",
            lambda: report.build(store.load(run_id=parent), folder).resolve())
