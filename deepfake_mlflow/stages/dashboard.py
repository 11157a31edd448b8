"""The `dashboard` stage: the paper's tables and figures of a study, as one static report.

Reads the runs of a study from the tracking store (the newest reproduce or demo run by
default; --run names one; --experiment with --filter takes any runs), writes
<out>/report.html with its figures beside it, and logs both to the study's parent run
(artifacts report/). It opens no run of its own. --optuna serves the ablation's Optuna
storage in optuna-dashboard instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import config
from ..ablation.config import STORAGE_HELP
from ..options import option

HELP = "the paper's tables and figures of a study, as one static HTML report"
EXAMPLES = """\
    deepfake-mlflow dashboard --out report
    deepfake-mlflow dashboard --ui-url http://tracking.lab:5000
    deepfake-mlflow dashboard --optuna
"""


@dataclass(frozen=True)
class DashboardConfig:
    run: str = option("", help="the study's parent run id (default: the newest reproduce or "
                               "demo run)")
    study: str = option("", help="the newest parent run of this study name (demo, paper, ...)")
    experiment: str = option("", help="report on the runs of this experiment instead")
    filter: str = option("", help="with --experiment: an MLflow search filter, e.g. "
                                  "\"tags.dataset = 'dfdc'\"")
    out: str = option("report", help="folder of report.html and its figures/")
    ui_url: str = option("", help="the tracking UI that the report's links open",
                         shown=f"${config.UI_URL_ENV}, else {config.UI_URL}, where `make ui` "
                               "serves it")
    optuna: bool = option(False, help="serve the ablation's Optuna storage in "
                                      "optuna-dashboard instead of writing a report")
    storage: str = option("", help="with --optuna: " + STORAGE_HELP)
    port: int = option(8080, help="with --optuna: the port of optuna-dashboard")


CONFIG = DashboardConfig


def run(cfg: DashboardConfig) -> dict:
    """Write the report (or serve optuna-dashboard); returns the page and what it holds.
    Under `mlflow run`, the report is also logged to the run MLflow made for the command."""
    from pathlib import Path

    if cfg.optuna:
        return serve_optuna(cfg)
    from dashboards import report, store
    study = store.load(run_id=cfg.run, experiment=cfg.experiment, filter_string=cfg.filter,
                       study=cfg.study)
    page = report.build(study, Path(cfg.out), cfg.ui_url or None)
    from .. import tracking  # after the report: the store's load configured MLflow
    launched = tracking.runs.launched_run_id()  # `mlflow run . -e dashboard` made a run
    if launched and (study.parent is None or launched != study.parent.info.run_id):
        import mlflow
        mlflow.MlflowClient().log_artifacts(launched, str(page.parent), "report")
    return {"page": page.resolve(), "study": study.name, "runs": len(study.runs),
            "parent_run_id": study.parent.info.run_id if study.parent else None}


def serve_optuna(cfg: DashboardConfig) -> dict:
    """optuna-dashboard on 127.0.0.1 until Ctrl-C (its own server, through its Python API)."""
    import logging
    import os

    import optuna_dashboard

    from ..errors import UserInputError
    from ..ablation.storage import default_storage, shown_url
    storage = cfg.storage or default_storage()
    if storage.startswith("sqlite:///") and not os.path.isfile(storage.removeprefix("sqlite:///")):
        raise UserInputError(f"no Optuna storage at {storage}: run an ablation first "
                             "(deepfake-mlflow ablation DATASET), or pass --storage URL")
    logging.getLogger(__name__).info("optuna-dashboard of %s on http://127.0.0.1:%d/dashboard "
                                     "(Ctrl-C ends it)", shown_url(storage), cfg.port)
    optuna_dashboard.run_server(storage, host="127.0.0.1", port=cfg.port)
    return {}


def report(result) -> int:
    if not result:  # --optuna: the server ran until it was stopped
        return 0
    print(f"report of study {result['study']} ({result['runs']} runs): {result['page']}")
    if result["parent_run_id"]:
        print(f"logged to run {result['parent_run_id']} (artifacts report/)")
    return 0
