"""The tasks of a study plan (study.graph) run under the study's run (a reproduce or demo
run): the grid, the matrix, the data-limited points, the ablation, the champions and their
robustness sweeps, then the report. In this process by default, or on a cluster
(study.engine): the tasks do the same either way.

Every task is reused when already done (a training by its config hash, through
train_or_reuse; an evaluation by its params and the faces it scored), resumed when
interrupted, and reported, not fatal, when it fails.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..evaluation.matrix import INTERVALS
from .plan import StudyPlan, tuples
from ..errors import first_line

log = logging.getLogger(__name__)


def run_steps(plan: StudyPlan, study_file: Path, report_dir: Path, cluster=None) -> dict:
    """Every task of a plan as a child of the active run (a reproduce run, or the demo's),
    in this process, or on a Dask cluster (study.engine.connected); then the study's
    report (dashboards) written to report_dir and logged to that run."""
    import mlflow

    from . import engine, graph
    started = time.perf_counter()
    mlflow.log_artifact(str(study_file))
    parent = mlflow.active_run().info.run_id
    tasks = graph.build(plan)
    work = engine.Work.of(plan, parent)
    # where this invocation ran its tasks (a re-run elsewhere says so)
    mlflow.set_tag("scheduler", cluster.scheduler if cluster else "in-process")
    outcomes = (engine.on_cluster(tasks, work, cluster) if cluster
                else engine.in_process(tasks, work))
    study = StudyRunner(plan, parent)
    results = study.collect(tasks, outcomes)
    mlflow.log_metrics({"trainings_run": study.counts["trained"],
                        "trainings_reused": study.counts["reused"],
                        "steps_failed": len(study.failed),
                        "seconds": time.perf_counter() - started})
    results["report"] = study.report(report_dir)
    mlflow.set_tag("failed_steps", "; ".join(study.failed) or "none")
    return {**results, "failed": study.failed, "counts": study.counts}


def parent_run_id(stage: str, name: str, params: dict | None = None) -> str | None:
    """The study's parent run, when an earlier invocation made one (with these params):
    reopened, so that the study's steps, reused or new, sit under one run."""
    from .. import queries
    found = queries.study_run(stage, name, params)
    return found.info.run_id if found else None


class StudyRunner:
    """What each task of a plan does (study.graph), reused when already done, resumed when
    interrupted; and the study's results gathered from the tasks' outcomes. The same code
    runs a task in this process or on a worker of a cluster: it reads the study's run by
    id (`parent`), never as this process's active run."""

    def __init__(self, plan: StudyPlan, parent: str):
        self.plan, self.parent = plan, parent
        self.failed: list[str] = []
        self.counts = {"trained": 0, "reused": 0, "reused_evaluations": 0}
        # resamples of each AUC's interval, for every evaluation of the study
        from ..evaluation.config import EvaluateConfig
        self.bootstrap = EvaluateConfig("m", "d", **tuples(plan.evaluate)).bootstrap

    # --- the tasks ------------------------------------------------------------------------
    def perform(self, task, inputs: dict) -> tuple:
        """(the task's value, its counts) from the values of the tasks it needs."""
        from . import graph
        return {graph.TRAIN: self.training, graph.MATRIX: self.matrix,
                graph.LIMITED: self.limited_point, graph.ABLATION: self.ablation,
                graph.PROMOTE: self.promote, graph.ROBUSTNESS: self.robustness,
                }[task.kind](task, inputs)

    def training(self, task, inputs: dict) -> tuple:
        """The final run of a training: reused when finished, resumed when not; a triplet
        starts from the BCE training it needs."""
        from ..train.reuse import train_or_reuse
        init = inputs[task.needs[0]]["run_id"] if task.needs else None
        result = train_or_reuse(self.training_config(task, init))
        return ({"run_id": result.run_id},
                {"reused" if result.reused else "trained": 1})

    def training_config(self, task, init: str | None = None):
        """A training task's TrainConfig (a triplet's names the BCE run it starts from)."""
        a = task.args
        extra = {"train_videos": a["train_videos"]} if a["train_videos"] else {}
        if init:
            extra["init"] = init
        return self.plan.train_config(a["dataset"], a["loss"], a["augment"], seed=a["seed"],
                                      **extra)

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
        tags = {"stage": "evaluate", **({"train_run_id": train_run_id} if train_run_id else {})}
        for run in queries.children(self.parent, status="FINISHED", **tags):
            logged = run.data.params
            if any(logged.get(k) != tracking.logs.param_value(v) for k, v in params.items()):
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

    def matrix_options(self) -> dict:
        return {"robustness": "none", **tuples(self.plan.evaluate)}

    def matrix_done(self, final_runs: list[str]):
        """The study's earlier matrix run of these very models, or None."""
        options = self.matrix_options()
        return self.earlier_evaluation(
            {"test_sets": ",".join(self.plan.test_datasets), "models": len(final_runs),
             "bootstrap": self.bootstrap,
             **{k: v for k, v in options.items() if k in ("mds", "robustness", "split")}},
            matrix_of=final_runs)

    def point_done(self, run_id: str):
        """The study's earlier evaluation of a data-limited training, or None."""
        return self.earlier_evaluation(
            {"test_sets": ",".join(self.plan.test_datasets), "robustness": "none",
             "mds": "none", "bootstrap": self.bootstrap}, train_run_id=run_id)

    def matrix(self, task, inputs: dict) -> tuple:
        """Every model of the grid that trained on every test set: Tables I-IV."""
        import mlflow
        import pandas as pd

        from ..stages import evaluate
        final_runs = [inputs[key]["run_id"] for key in task.needs if key in inputs]
        if not final_runs:
            return None, {}
        done = self.matrix_done(final_runs)
        if done is None:
            cfg = evaluate.EvaluateConfig(tuple(final_runs), self.tests(self.plan.test_datasets),
                                          **self.matrix_options())
            return evaluate.run(cfg), {}
        return pd.read_csv(mlflow.artifacts.download_artifacts(
            run_id=done.info.run_id, artifact_path="matrix/cross_dataset_auc.csv")), \
            {"reused_evaluations": 1}

    def limited_point(self, task, inputs: dict) -> tuple:
        """Fig. 1: one data-limited training tested on every test set of the study (in
        domain and across), one evaluation run per point."""
        from ..stages import evaluate
        a, tests = task.args, list(self.plan.test_datasets)
        run_id = inputs[task.needs[0]]["run_id"]
        measured = ("auc_frame", "auc_video", *INTERVALS)  # each AUC with its interval
        done = self.point_done(run_id)
        if done is not None:
            found = [{"test_set": t, "test_videos": done.data.metrics.get(f"videos/{t}"),
                      **{m: done.data.metrics.get(f"{m}/{t}", float("nan")) for m in measured}}
                     for t in tests]
        else:
            table = evaluate.run(evaluate.EvaluateConfig(
                run_id, self.tests(tests), robustness="none", mds="none",
                bootstrap=self.bootstrap))
            found = table[["test_set", *measured, "test_videos"]].to_dict("records")
        rows = [{"train_dataset": a["dataset"], "train_videos": a["train_videos"],
                 "loss": a["loss"], "seed": a["seed"], "run_id": run_id, **row}
                for row in found]
        return rows, {"reused_evaluations": int(done is not None)}

    def ablation(self, task, inputs: dict) -> tuple:
        from ..stages import ablation
        return ablation.run(self.plan.ablation_config()), {}

    def promote(self, task, inputs: dict) -> tuple:
        """The champion of each dataset the grid trained (its trainings that succeeded)."""
        from ..stages import promote
        trained = sorted({task.args["grid"][key] for key in task.needs if key in inputs})
        if not trained:
            return [], {}
        return promote.run(promote.PromoteConfig(tuple(trained))), {}

    def robustness(self, task, inputs: dict) -> tuple:
        """The robustness sweeps of one dataset's champion on its own test set."""
        from ..stages import evaluate
        champions = [c for c in inputs[task.needs[0]] or []
                     if c["dataset"] == task.args["dataset"]]
        reused = 0
        for c in champions:
            done = self.sweep_done(c)
            if done is None:
                evaluate.run(self.sweep_config(c))
            reused += done is not None
        return None, {"reused_evaluations": reused}

    def sweep_config(self, champion: dict):
        from ..stages import evaluate
        return evaluate.EvaluateConfig(champion["uri"], self.tests([champion["dataset"]]),
                                       robustness="all", mds="none", bootstrap=self.bootstrap,
                                       **tuples(self.plan.robustness))

    def sweep_done(self, champion: dict):
        """The study's earlier robustness sweep of this champion, or None."""
        cfg = self.sweep_config(champion)
        return self.earlier_evaluation(
            {"test_sets": champion["dataset"], "robustness": champion["dataset"],
             "jpeg_qualities": ",".join(map(str, cfg.jpeg_qualities)),
             "scales": ",".join(map(str, cfg.scales)), "bootstrap": cfg.bootstrap},
            train_run_id=champion["train_run_id"])

    # --- the study's results --------------------------------------------------------------
    def collect(self, tasks: list, outcomes: dict) -> dict:
        """The study's results (as the report and the console show them) from every task's
        outcome; the data-limited table logged to the study's run."""
        import pandas as pd

        from . import graph
        results: dict = {}
        for task in tasks:
            outcome = outcomes[task.key]
            for name, n in outcome.counts.items():
                self.counts[name] += n
            if outcome.error is not None:
                self.failed.append(f"{task.key}: {outcome.error}")
        ok = {key: o.value for key, o in outcomes.items() if o.error is None}
        results["grid"] = {cell: ok[key]["run_id"]
                           for cell, key in graph.grid_cells(self.plan).items() if key in ok}
        kinds = {task.kind: task.key for task in tasks}
        if graph.MATRIX in kinds:
            results["matrix"] = ok.get(kinds[graph.MATRIX])
        if self.plan.data_limited:
            rows = [row for task in tasks if task.kind == graph.LIMITED
                    for row in ok.get(task.key) or []]
            table = pd.DataFrame(rows)
            results["data_limited"] = table
            if len(table):
                from .. import tracking
                tracking.logs.log_dataframe(table, "data_limited.csv")
        if graph.ABLATION in kinds:
            results["ablation"] = ok.get(kinds[graph.ABLATION])
        if graph.PROMOTE in kinds:
            results["champions"] = ok.get(kinds[graph.PROMOTE]) or []
        return results

    def report(self, folder: Path) -> Path | None:
        """The dashboards' report of the study, logged to the study's run."""
        from dashboards import report, store

        what, started = "report: the paper's tables and figures", time.perf_counter()
        try:
            built = report.build(store.load(run_id=self.parent), folder).resolve()
        except Exception as err:  # noqa: BLE001 - reported, as every step of a study
            self.failed.append(f"{what}: {first_line(err)}")
            log.warning("%-52s failed: %s", what, first_line(err))
            return None
        log.info("%-52s %6.0f s", what, time.perf_counter() - started)
        return built
