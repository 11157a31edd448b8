"""A study read back from any MLflow tracking store: its runs, as the tables the report draws.

A study is a parent run (a `reproduce` or `demo` run) and every run beneath it, or the runs
of an experiment matching a filter. From those runs come, without re-computing anything the
evaluation already measured:
- the cross-dataset table (Tables I-IV): final training runs of the grid, with the AUCs the
  evaluation copied onto them, and the evaluation run and test-video count of each cell;
- the ablation trials (Fig. 3), the data-limited points (Fig. 1);
- the evaluation runs that logged MDS projections (Fig. 2), predictions (ROC curves) and
  robustness sweeps, and the validation-loss histories of the training phases.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.entities import Run

from deepfake_mlflow import naming, queries, tracking
from deepfake_mlflow.errors import UserInputError

PARENT = "mlflow.parentRunId"
STUDY_STAGES = ("reproduce", "demo")


class NoStudy(UserInputError):
    """The store holds no study to report on (said in one line)."""


@dataclass
class Study:
    """The runs of one study; `parent` is None for an experiment/filter selection.

    Indexed once (by id, parent, stage, and evaluations by the training they measured), so
    that every question a section asks is a lookup: a report stays linear in the number
    of runs, which a team's store counts in thousands."""
    name: str
    runs: list[Run]
    parent: Run | None = None
    by_id: dict[str, Run] = field(init=False)

    def __post_init__(self):
        self.by_id = {r.info.run_id: r for r in self.runs}
        self._children: dict[str, list[Run]] = defaultdict(list)
        self._stages: dict[str, list[Run]] = defaultdict(list)
        self._evaluations: dict[str, list[Run]] = defaultdict(list)
        for run in self.runs:
            tags = run.data.tags
            self._children[tags.get(PARENT)].append(run)
            self._stages[tags.get("stage")].append(run)
            if tags.get("stage") == "evaluate" and tags.get("train_run_id"):
                self._evaluations[tags["train_run_id"]].append(run)
        for found in self._evaluations.values():
            found.sort(key=lambda r: -r.info.start_time)

    # --- the shape of the run tree --------------------------------------------------------
    def ancestors(self, run: Run) -> list[Run]:
        out, seen = [], set()
        parent_id = run.data.tags.get(PARENT)
        while parent_id in self.by_id and parent_id not in seen:
            seen.add(parent_id)
            out.append(self.by_id[parent_id])
            parent_id = self.by_id[parent_id].data.tags.get(PARENT)
        return out

    def under_ablation(self, run: Run) -> bool:
        return any(a.data.tags.get("stage") == "ablation" for a in self.ancestors(run))

    def children(self, run_id: str) -> list[Run]:
        return list(self._children.get(run_id, ()))

    def stage(self, name: str) -> list[Run]:
        return list(self._stages.get(name, ()))

    # --- the runs each section reads ------------------------------------------------------
    def grid_runs(self) -> list[Run]:
        """Final training runs on all training videos, outside the ablation: Tables I-IV."""
        return [r for r in self.stage("train") if r.data.tags.get(naming.FINAL_TAG) == "true"
                and _videos_per_class(r) == 0 and not self.under_ablation(r)]

    def limited_runs(self) -> list[Run]:
        """Final training runs on a subset of the training videos: Fig. 1."""
        return [r for r in self.stage("train") if r.data.tags.get(naming.FINAL_TAG) == "true"
                and _videos_per_class(r) > 0]

    def trial_runs(self) -> list[Run]:
        return [r for r in self.stage("ablation") if "optuna_trial" in r.data.tags]

    def evaluations(self, train_run_id: str) -> list[Run]:
        """Evaluation runs of one training run's model, newest first."""
        return list(self._evaluations.get(train_run_id, ()))

    def evaluation_of(self, train_run_id: str, test_set: str) -> Run | None:
        """The evaluation that measured a model on a test set (the matrix's, when several)."""
        found = [r for r in self.evaluations(train_run_id)
                 if f"auc_frame/{test_set}" in r.data.metrics]
        # a matrix's child first (a champion's robustness sweep came later, and holds
        # its own test set alone), then the newest
        parents = [self.by_id.get(r.data.tags.get(PARENT, "")) for r in found]
        in_matrix = [r for r, up in zip(found, parents)
                     if up is not None and up.data.tags.get("stage") == "evaluate"]
        return (in_matrix or found or [None])[0]


def _videos_per_class(run: Run) -> int:
    try:
        return int(run.data.params.get("train_videos", "0") or 0)
    except ValueError:
        return 0


def load(run_id: str = "", experiment: str = "", filter_string: str = "",
         study: str = "") -> Study:
    """The study of a parent run (default: the newest reproduce or demo run, of `study`
    when named), or the runs of an experiment matching a filter."""
    uri = tracking.store.configure()
    tracking.store.check_reachable(uri)
    if experiment:
        found = mlflow.get_experiment_by_name(experiment)
        if found is None:
            raise NoStudy(f"no experiment {experiment!r} in the tracking store {uri}")
        runs = queries.experiment_runs(found.experiment_id, filter_string)
        if not runs:
            raise NoStudy(f"no runs in experiment {experiment!r} match {filter_string!r}")
        return Study(name=experiment, runs=runs)
    parent = _parent(run_id, study, uri)
    runs = queries.experiment_runs(parent.info.experiment_id)
    tree = defaultdict(list)
    for run in runs:
        tree[run.data.tags.get(PARENT)].append(run)
    chosen, todo = [], [parent.info.run_id]
    while todo:  # the parent's descendants, breadth first
        children = tree.get(todo.pop(), [])
        chosen += children
        todo += [c.info.run_id for c in children]
    name = parent.data.tags.get("study") or parent.info.run_name
    dropped = superseded(chosen)
    return Study(name=name, runs=[parent, *(r for r in chosen if r.info.run_id not in dropped)],
                 parent=parent)


def _step_key(run: Run) -> tuple | None:
    """What a run is a step of, when a newer run of the same step replaces it: a grid or
    data-limited training re-run on new faces, an ablation re-run as a new Optuna study,
    the matrix evaluated again."""
    tags, parent = run.data.tags, run.data.tags.get(PARENT)
    stage = tags.get("stage")
    if stage == "train" and tags.get(naming.FINAL_TAG) == "true":
        # each seed of a variant is its own step: a second seed replaces nothing
        return ("train", parent, tags.get("dataset"), tags.get("loss"), tags.get("augment"),
                _videos_per_class(run), tags.get("seed") or run.data.params.get("seed"))
    if stage == "ablation" and "optuna_trial" not in tags:
        return ("ablation", parent, tags.get("dataset"), tags.get("loss"),
                run.data.params.get("mode"))
    if stage == "evaluate" and run.info.run_name.startswith("matrix:"):
        return ("matrix", parent)
    return None


def superseded(runs: list[Run]) -> set[str]:
    """Run ids the report leaves out: steps replaced by a newer run of the same step, all
    the runs beneath them, and the evaluations of the models they trained."""
    newest, dropped = {}, set()
    for run in sorted(runs, key=lambda r: r.info.start_time):
        key = _step_key(run)
        if key is not None:
            if key in newest:
                dropped.add(newest[key])
            newest[key] = run.info.run_id
    changed = bool(dropped)
    while changed:  # beneath a dropped run, or evaluating a dropped model
        changed = False
        for run in runs:
            tags = run.data.tags
            if run.info.run_id not in dropped and (tags.get(PARENT) in dropped
                                                   or tags.get("train_run_id") in dropped):
                dropped.add(run.info.run_id)
                changed = True
    return dropped


def _parent(run_id: str, study: str, uri: str) -> Run:
    if run_id:
        try:
            return mlflow.get_run(run_id)
        except mlflow.exceptions.MlflowException:
            raise NoStudy(f"no run {run_id} in the tracking store {uri}") from None
    query = " or ".join(f"tags.stage = '{s}'" for s in STUDY_STAGES)
    named = {"study": study} if study else {}
    found = [r for s in STUDY_STAGES for r in queries.runs({"stage": s, **named}, max_results=1)]
    if not found:
        what = f"study {study!r}" if study else "study (" + query.replace("tags.", "") + ")"
        raise NoStudy(f"no {what} in the tracking store {uri}: run `make demo` or "
                      "`deepfake-mlflow reproduce` first, or name runs with --experiment")
    return max(found, key=lambda r: r.info.start_time)


# --- tables ---------------------------------------------------------------------------------
def matrix_rows(study: Study) -> pd.DataFrame:
    """One row per grid model x test set (the newest run of a variant and seed when
    repeated; report.tables_section takes the seeds' mean): the
    matrix's rows of the training run, with the evaluation run that measured each cell and
    its number of test videos."""
    from deepfake_mlflow.evaluation import matrix
    rows = []
    for run in sorted(study.grid_runs(), key=lambda r: -r.info.start_time):
        for row in matrix.rows_of_run(run):
            evaluation = study.evaluation_of(run.info.run_id, row["test_set"])
            if evaluation is not None:
                row["test_videos"] = evaluation.data.metrics.get(f"videos/{row['test_set']}")
                row["fake_videos"] = evaluation.data.metrics.get(
                    f"fake_videos/{row['test_set']}")
            row["eval_run_id"] = evaluation.info.run_id if evaluation else ""
            rows.append(row)
    table = pd.DataFrame(rows, columns=[*matrix.COLUMNS, "fake_videos"])
    return table.drop_duplicates([*matrix.VARIANT, "seed"], keep="first")


def variants(study: Study) -> list[tuple[str, str, str]]:
    """(dataset, loss, augment) of every grid training, trained or not yet evaluated."""
    return sorted({(r.data.tags.get("dataset", "?"), r.data.tags.get("loss", "?"),
                    r.data.tags.get("augment", "?")) for r in study.grid_runs()})


def trial_rows(study: Study) -> pd.DataFrame:
    """One row per ablation trial: study, trial, augment, state, objective, test AUCs."""
    rows = []
    for run in study.trial_runs():
        tags, metrics = run.data.tags, run.data.metrics
        rows.append({"optuna_study": tags.get("optuna_study", ""),
                     "trial": int(tags.get("optuna_trial", -1)),
                     "augment": tags.get("augment", "?"), "dataset": tags.get("dataset", "?"),
                     "state": tags.get("optuna_state", run.info.status),
                     "objective": metrics.get("objective", float("nan")),
                     "objective_sd": metrics.get("objective_sd", float("nan")),
                     "run_id": run.info.run_id,
                     "seeds": metrics.get("seeds", 1.0),
                     # each test set's AUC (a mean over seeds), its interval and spread
                     **{k: v for k, v in metrics.items()
                        if k.startswith(("auc_frame/", "auc_frame_low/", "auc_frame_high/",
                                         "auc_frame_sd/"))}})
    return pd.DataFrame(rows)


def limited_rows(study: Study) -> pd.DataFrame:
    """One row per data-limited model x test set; full-data grid runs of the same dataset
    and loss (augment none) come as rows with train_videos 0 (drawn as reference lines)."""
    rows = []
    chosen = study.limited_runs()
    datasets = {r.data.tags.get("dataset") for r in chosen}
    reference = [r for r in study.grid_runs() if r.data.tags.get("dataset") in datasets
                 and r.data.tags.get("augment") == "none"]
    for run in [*chosen, *reference]:
        for key, value in run.data.metrics.items():
            if key.startswith("auc_frame/") and key.count("/") == 1:
                test = key.split("/", 1)[1]
                rows.append({"dataset": run.data.tags.get("dataset"),
                             "loss": run.data.tags.get("loss"),
                             "train_videos": _videos_per_class(run),
                             "test_set": test, "auc_frame": value,
                             **{f"auc_frame_{b}": run.data.metrics.get(f"auc_frame_{b}/{test}",
                                                                       float("nan"))
                                for b in ("low", "high")},
                             "run_id": run.info.run_id})
    return pd.DataFrame(rows, columns=["dataset", "loss", "train_videos", "test_set",
                                       "auc_frame", "auc_frame_low", "auc_frame_high",
                                       "run_id"])


def download_csv(run: Run, artifact: str, scratch: Path) -> pd.DataFrame | None:
    """A CSV or Parquet artifact of a run, or None when the run has no such artifact."""
    try:
        local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=artifact,
                                                    dst_path=tempfile.mkdtemp(dir=scratch))
    except Exception:  # noqa: BLE001 - a run without the artifact is a missing figure, not a crash
        return None
    return pd.read_parquet(local) if artifact.endswith(".parquet") else pd.read_csv(local)


def mds_runs(study: Study) -> list[tuple[Run, Run, str]]:
    """(evaluation run, training run, test set) of every MDS projection of a grid model."""
    grid = {r.info.run_id: r for r in study.grid_runs()}
    out = []
    for run in study.stage("evaluate"):
        trained = grid.get(run.data.tags.get("train_run_id", ""))
        projected = run.data.params.get("mds", "none")
        if trained is None or projected in ("", "none"):
            continue
        out += [(run, trained, name) for name in projected.split(",")]
    return out


def robustness_runs(study: Study) -> list[Run]:
    return [r for r in study.stage("evaluate")
            if r.data.params.get("robustness", "none") not in ("", "none")]


def history(run_id: str, metric: str) -> pd.DataFrame:
    points = mlflow.MlflowClient().get_metric_history(run_id, metric)
    return pd.DataFrame({"step": [p.step for p in points], "value": [p.value for p in points]})
