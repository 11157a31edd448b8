"""The `reproduce` stage: the paper's whole study from one study file, as one parent run.

The study file and its checks are deepfake_mlflow.study.plan (StudyPlan); its tasks and
their order are deepfake_mlflow.study.graph, what each does and whether it is done
deepfake_mlflow.study.tasks, where they run deepfake_mlflow.study.engine (this process,
or a Dask cluster with --scheduler), the whole under its parent run
deepfake_mlflow.study.coordinator; the paper's claims are judged at the end
(deepfake_mlflow.study.claims). Every task is a child run of the study's parent run;
a re-run reopens the same parent run and redoes only what is missing. A task that fails
is reported, with the tasks that needed it, and the others go on; the command exits 1 if
any failed. --plan prints the tasks and what is already done, and starts nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from ..ablation.config import STORAGE_HELP
from ..options import option
from ..study.plan import STUDIES, StudyPlan

HELP = "the paper's whole study (grid, matrix, data-limited, ablation, champions) from one file"
EXAMPLES = """\
    deepfake-mlflow reproduce --study paper
    deepfake-mlflow reproduce --study my_study.yaml --plan
    deepfake-mlflow reproduce --study paper --scheduler tcp://head-node:8786
    deepfake-mlflow reproduce --study paper --scheduler local:4
"""


@dataclass(frozen=True)
class ReproduceConfig:
    study: str = option("demo", help="a study file: demo, paper (deepfake_mlflow/studies/), "
                                     "or the path of a YAML file")
    report: str = option("report", help="folder of the study's report (report.html, figures/)")
    storage: str = option("", help=STORAGE_HELP)
    scheduler: str = option("", help="run the study's trainings and evaluations as tasks of "
                                     "a Dask cluster: its scheduler's address "
                                     "(tcp://host:8786), its scheduler file (*.json), or "
                                     "local:N worker processes started here (default: one "
                                     "task after another in this process)")
    plan: bool = option(False, help="print every task, what it needs, what is already done "
                                    "and what inputs are missing; start nothing")

    def __post_init__(self):
        self.study_plan()  # a bad file is named before any work
        if self.scheduler:
            check_scheduler(self.scheduler)  # before any run, and before any wait

    def path(self) -> Path:
        named = STUDIES / f"{self.study}.yaml"
        return named if named.is_file() else Path(self.study)

    def study_plan(self) -> "StudyPlan":
        plan = StudyPlan.load(self.path())
        if self.storage and plan.ablation:
            plan = replace(plan, ablation={**plan.ablation, "storage": self.storage})
        return plan


CONFIG = ReproduceConfig
SCHEDULER_ADDRESS = re.compile(r"^((tcp|tls|ucx|ws|wss)://)?[\w.\-\[\]:]+:\d{1,5}$")


def check_scheduler(scheduler: str) -> None:
    """--scheduler as one of its three forms, checked before anything waits on it: local:N
    (N >= 1), a scheduler file that exists and names an address (as `dask scheduler
    --scheduler-file` writes it), or an address (tcp://host:8786)."""
    import json

    from ..errors import UserInputError
    where = f"--scheduler {scheduler}"
    if scheduler.startswith("local:"):
        count = scheduler.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise UserInputError(f"{where}: expected local:N, N >= 1 worker processes")
    elif scheduler.endswith(".json"):
        path = Path(scheduler)
        if not path.is_file():
            raise UserInputError(f"{where}: no such scheduler file (start the scheduler with "
                                 "`dask scheduler --scheduler-file FILE` first)")
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise UserInputError(f"{where}: not a scheduler file (not JSON: {err})") from None
        if not isinstance(found, dict) or not isinstance(found.get("address"), str):
            raise UserInputError(f"{where}: not a scheduler file (expected a JSON object "
                                 "with the scheduler's \"address\")")
    elif not SCHEDULER_ADDRESS.match(scheduler):
        raise UserInputError(f"{where}: expected tcp://HOST:PORT, a scheduler file "
                             "(*.json), or local:N")


def run(cfg: ReproduceConfig) -> dict:
    """Run (or resume) the study; returns the matrix, the data-limited table, the ablation's
    summary, the champions, what was reused and what failed."""
    from .. import tracking
    from ..study.coordinator import parent_run_id, run_steps

    plan = cfg.study_plan()
    if cfg.plan:
        from ..study import dry_run
        # no store yet: nothing done, and none made; a file that is no store: refused
        store = tracking.store.readable_store()
        return {"plan": dry_run.survey(plan, parent_run_id("reproduce", plan.name)
                                       if store else None, store)}
    plan.check_faces()  # every dataset it names extracted, before any run exists
    from ..study import engine
    with engine.connected(cfg.scheduler) as cluster, tracking.runs.stage_run(
            "reproduce", run_name=f"reproduce-{plan.name}", tags={"study": plan.name},
            run_id=parent_run_id("reproduce", plan.name),
            params={"study": plan.name, "study_file": str(cfg.path())}) as parent:
        results = run_steps(plan, cfg.path(), Path(cfg.report), cluster)
        return {**results, "parent_run_id": parent.info.run_id}


def report(result) -> int:
    if "plan" in result:
        from ..study import dry_run
        return dry_run.report(result["plan"])
    counts = result["counts"]
    print(f"study: {counts['trained']} trainings run, {counts['reused']} reused; "
          f"parent run {result['parent_run_id']}")
    return report_study(result)


def report_study(result) -> int:
    """What a study found: Tables I-IV, Fig. 1's points, Fig. 3's ranking, the champions;
    exit 1 when a step failed (each named on stderr)."""
    import sys

    import pandas as pd

    from ..evaluation.model_run import format_table
    if result.get("matrix") is not None:
        print(format_table(result["matrix"]))
    limited = result.get("data_limited")
    if limited is not None and len(limited):
        from ..evaluation.matrix import cells, print_marked
        print("\ndata-limited training (Fig. 1), frame AUC [95% interval] on each test set:")
        shown = limited.assign(cell=cells(limited, "auc_frame"))
        index = ["train_dataset", "loss", "train_videos"]
        if "seed" in limited and limited["seed"].nunique() > 1:
            index.append("seed")  # each seed's point, one row each
        grid = shown.pivot_table(index=index, columns="test_set", values="cell",
                                 aggfunc="first")
        videos = limited.groupby("test_set")["test_videos"].max()
        print_marked(grid.rename(columns=lambda t: f"{t} ({videos[t]:.0f} videos)"
                                 if not pd.isna(videos[t]) else t).to_string())
    ablation = result.get("ablation")
    if ablation and ablation.get("trials"):
        from .ablation import report as report_ablation
        print()
        report_ablation(ablation)  # the same tables as the ablation stage prints
    if result.get("claims") is not None:
        from ..study.claims import printed
        print()
        print(printed(result["claims"]))
    for champion in result.get("champions") or []:
        print(f"champion of {champion['dataset']}: {champion['uri']} (version "
              f"{champion['version']}, validation loss {champion['val_loss']:.4f})")
    if result.get("report"):
        print(f"report (the paper's tables and figures beside ours): {result['report']}")
    for failure in result["failed"]:
        print(f"failed: {failure}", file=sys.stderr)
    return 1 if result["failed"] else 0
