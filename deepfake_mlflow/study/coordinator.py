"""A study under its parent run (a reproduce or demo run): every task of the plan run by the
engine (study.engine: in this process, or on a Dask cluster), the outcomes gathered into
the study's results, then the report. Coordination only: what each task does is
study.tasks'.

Every task is reused when already done (a training by its config hash; an evaluation by
its params and the faces it scored), resumed when interrupted, and reported, not fatal,
when it fails.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..errors import first_line
from . import engine, graph
from .plan import StudyPlan

log = logging.getLogger(__name__)


def parent_run_id(stage: str, name: str, params: dict | None = None) -> str | None:
    """The study's parent run, when an earlier invocation made one (with these params):
    reopened, so that the study's steps, reused or new, sit under one run."""
    from .. import queries
    found = queries.study_run(stage, name, params)
    return found.info.run_id if found else None


def run_steps(plan: StudyPlan, study_file: Path, report_dir: Path, cluster=None) -> dict:
    """Every task of a plan as a child of the active run (a reproduce run, or the demo's),
    in this process, or on a Dask cluster (study.engine.connected); then the study's
    report (dashboards) written to report_dir and logged to that run."""
    import mlflow
    started = time.perf_counter()
    mlflow.log_artifact(str(study_file))
    parent = mlflow.active_run().info.run_id
    tasks = graph.build(plan)
    work = engine.Work.of(plan, parent)
    # where this invocation ran its tasks (a re-run elsewhere says so)
    mlflow.set_tag("scheduler", cluster.scheduler if cluster else "in-process")
    outcomes = (engine.on_cluster(tasks, work, cluster) if cluster
                else engine.in_process(tasks, work))
    results, counts, failed = collect(plan, tasks, outcomes)
    results["claims"] = judge_claims(plan, results, failed)
    mlflow.log_metrics({"trainings_run": counts["trained"],
                        "trainings_reused": counts["reused"],
                        "steps_failed": len(failed),
                        "seconds": time.perf_counter() - started})
    results["report"] = report(parent, report_dir, failed)
    mlflow.set_tag("failed_steps", "; ".join(failed) or "none")
    return {**results, "failed": failed, "counts": counts}


def collect(plan: StudyPlan, tasks: list, outcomes: dict) -> tuple[dict, dict, list]:
    """The study's results (as the report and the console show them), its counts and its
    failures, from every task's outcome; the data-limited table logged to the study's run."""
    import pandas as pd

    from .. import tracking
    counts = {"trained": 0, "reused": 0, "reused_evaluations": 0}
    failed: list[str] = []
    for task in tasks:
        outcome = outcomes[task.key]
        for name, n in outcome.counts.items():
            counts[name] += n
        if outcome.error is not None:
            failed.append(f"{task.key}: {outcome.error}")
    ok = {key: o.value for key, o in outcomes.items() if o.error is None}
    results: dict = {"grid": {cell: ok[key]["run_id"]
                              for cell, key in graph.grid_cells(plan).items() if key in ok}}
    kinds = {task.kind: task.key for task in tasks}
    if graph.MATRIX in kinds:
        results["matrix"] = ok.get(kinds[graph.MATRIX])
    if plan.data_limited:
        rows = [row for task in tasks if task.kind == graph.LIMITED
                for row in ok.get(task.key) or []]
        table = pd.DataFrame(rows)
        results["data_limited"] = table
        if len(table):
            tracking.logs.log_dataframe(table, "data_limited.csv")
    if graph.ABLATION in kinds:
        results["ablation"] = ok.get(kinds[graph.ABLATION])
    if graph.PROMOTE in kinds:
        results["champions"] = ok.get(kinds[graph.PROMOTE]) or []
    return results, counts, failed


def reported_step(what: str, work, failed: list[str]):
    """A step of the study's own process (the claims, the report): its value, or None when
    it failed, its failure added to `failed` as every task's is; one line either way."""
    started = time.perf_counter()
    try:
        value = work()
    except Exception as err:  # noqa: BLE001 - reported, as every step of a study
        failed.append(f"{what}: {first_line(err)}")
        log.warning("%-52s failed: %s", what, first_line(err))
        return None
    log.info("%-52s %6.0f s", what, time.perf_counter() - started)
    return value


def judge_claims(plan: StudyPlan, results: dict, failed: list[str]):
    """The paper's claims judged on the study's runs (study.claims), logged to the study's
    run."""
    from . import claims

    def work():
        verdicts, evidence = claims.judge(results, plan, seed=plan.evaluation_defaults().seed)
        claims.log(verdicts, evidence)
        return verdicts
    return reported_step("claims: the paper's conclusions judged", work, failed)


def report(parent: str, folder: Path, failed: list[str]) -> Path | None:
    """The dashboards' report of the study, logged to the study's run."""
    from dashboards import report as dashboard, store
    return reported_step("report: the paper's tables and figures",
                         lambda: dashboard.build(store.load(run_id=parent), folder).resolve(),
                         failed)
