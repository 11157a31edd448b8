"""The `reproduce` stage: the paper's whole study from one study file, as one parent run.

A study file (deepfake_mlflow/studies/<name>.yaml, or any YAML file) names the training
datasets, losses and augmentation sets of the grid (Tables I-IV), the test sets, the
training options, the data-limited curves (Fig. 1), the ablation (Fig. 3), whether to
promote champions and the champions' robustness sweeps. Every step is a child run of the
study's parent run.

Idempotent: a training whose finished run has the same config hash (tag config_hash: its
options and the code version) is reused, not redone; an interrupted one is resumed; the
ablation resumes its Optuna study; a re-run reopens the same parent run. A step that fails
is reported and the others go on; the command exits 1 if any failed.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..vocabulary import Loss
from .options import option

log = logging.getLogger(__name__)

HELP = "the paper's whole study (grid, matrix, data-limited, ablation, champions) from one file"
STUDIES = Path(__file__).resolve().parents[1] / "studies"


@dataclass(frozen=True)
class ReproduceConfig:
    study: str = option("demo", help="a study file: demo, paper (deepfake_mlflow/studies/), "
                                     "or the path of a YAML file")
    report: str = option("report", help="folder of the study's report (report.html, figures/)")
    storage: str = option("", help="the ablation's Optuna storage (postgresql://... so that "
                                   "`deepfake-mlflow worker` on other machines joins it)")

    def __post_init__(self):
        self.plan()  # a bad file is named before any work

    def path(self) -> Path:
        named = STUDIES / f"{self.study}.yaml"
        return named if named.is_file() else Path(self.study)

    def plan(self) -> "StudyPlan":
        plan = StudyPlan.load(self.path())
        if self.storage and plan.ablation:
            plan = replace(plan, ablation={**plan.ablation, "storage": self.storage})
        return plan


CONFIG = ReproduceConfig


@dataclass(frozen=True)
class StudyPlan:
    name: str
    train_datasets: tuple
    test_datasets: tuple
    losses: tuple = (Loss.BCE.value, Loss.TRIPLET.value)
    augmentations: tuple = ("NONE", "SELECTED")
    train: dict = field(default_factory=dict)  # TrainConfig options
    evaluate: dict = field(default_factory=dict)  # EvaluateConfig options of the matrix
    data_limited: dict | None = None  # dataset, videos_per_class, losses
    ablation: dict | None = None  # AblationConfig options, dataset included
    promote: bool = True
    robustness: dict | None = None  # jpeg_qualities, scales of the champions' sweeps

    @classmethod
    def load(cls, path: Path) -> "StudyPlan":
        import yaml

        from ..errors import MalformedFileError, UserInputError
        if not path.is_file():
            raise UserInputError(f"--study {path}: neither a study of "
                                 f"{', '.join(sorted(p.stem for p in STUDIES.glob('*.yaml')))}"
                                 " nor a YAML file")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise MalformedFileError(path, f"not YAML ({str(err).splitlines()[0]})") from None
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown or not isinstance(data, dict):
            raise MalformedFileError(path, f"unknown keys {unknown}; a study has "
                                           + ", ".join(sorted(known)))
        for key in ("name", "train_datasets", "test_datasets"):
            if key not in data:
                raise MalformedFileError(path, f"missing key {key!r}")
        lists = {k: tuple(data[k]) for k in ("train_datasets", "test_datasets", "losses",
                                             "augmentations") if k in data}
        plan = cls(**{**data, **lists})
        plan.check(path)
        return plan

    def check(self, path: Path) -> None:
        """Every step's options, checked by the stage that will take them."""
        from ..errors import MalformedFileError, UserInputError
        try:
            for dataset in self.train_datasets:
                for loss in self.losses:
                    for aug in self.augmentations:
                        self.train_config(dataset, loss, aug)
            if self.data_limited:
                self.limited_configs()
            if self.ablation:
                self.ablation_config()
            if self.evaluate:
                from .evaluate import EvaluateConfig
                EvaluateConfig("m", "d", **_tuples(self.evaluate))
        except (TypeError, UserInputError) as err:
            raise MalformedFileError(path, str(err)) from None

    def train_config(self, dataset: str, loss: str, augment: str, **extra):
        """A training of the study; its faces index is named in full (the workspace's,
        unless the study file says), so that its config hash names the data it reads."""
        from .. import paths
        from .train import TrainConfig
        options = {"faces": str(paths.faces_index_path(dataset).resolve()), **self.train}
        return TrainConfig(dataset, loss=loss, augment=augment, **{**options, **extra})

    def limited_configs(self) -> list:
        spec = self.data_limited
        return [self.train_config(spec["dataset"], loss, "NONE", train_videos=int(n))
                for n in spec["videos_per_class"] for loss in spec.get("losses", self.losses)]

    def ablation_config(self):
        """The ablation, its faces named in full as the grid's are: its NONE trial is the
        grid's training of the same options, reused."""
        from .. import paths
        from .ablation import AblationConfig
        spec = _tuples(dict(self.ablation))
        dataset = spec.pop("dataset")
        options = {"faces": str(paths.faces_index_path(dataset).resolve()), **self.train}
        return AblationConfig(dataset, **{**options, **spec})


def run(cfg: ReproduceConfig) -> dict:
    """Run (or resume) the study; returns the matrix, the data-limited table, the ablation's
    summary, the champions, what was reused and what failed."""
    from .. import tracking

    plan = cfg.plan()
    with tracking.stage_run("reproduce", run_name=f"reproduce-{plan.name}",
                            tags={"study": plan.name},
                            run_id=parent_of("reproduce", plan.name),
                            params={"study": plan.name, "study_file": str(cfg.path())}) as parent:
        results = run_steps(plan, cfg.path(), Path(cfg.report))
        return {**results, "parent_run_id": parent.info.run_id}


def run_steps(plan: StudyPlan, study_file: Path, report_dir: Path) -> dict:
    """Every step of a plan as a child of the active run (a reproduce run, or the demo's),
    then the study's report (dashboards) written to report_dir and logged to that run."""
    import mlflow

    started = time.perf_counter()
    mlflow.log_artifact(str(study_file))
    study = _Study(plan)
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


def parent_of(stage: str, name: str, params: dict | None = None) -> str | None:
    """The study's parent run, when an earlier invocation made one (with these params):
    reopened, so that the study's steps, reused or new, sit under one run."""
    import mlflow

    from .. import tracking
    tracking.configure()
    query = f"tags.stage = '{stage}' and tags.study = '{name}'"
    for key, value in (params or {}).items():
        query += f" and params.{key} = '{value}'"
    found = mlflow.search_runs(search_all_experiments=True, output_format="list",
                               filter_string=query,
                               order_by=["attributes.start_time DESC"], max_results=1)
    return found[0].info.run_id if found else None


class _Study:
    """The steps of one plan, each run once: reused when already done, resumed when
    interrupted, reported (not fatal) when it fails."""

    def __init__(self, plan: StudyPlan):
        self.plan = plan
        self.results: dict = {}
        self.failed: list[str] = []
        self.counts = {"trained": 0, "reused": 0, "reused_evaluations": 0}
        self.final_runs: list[str] = []

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

    def trained(self, cfg) -> dict:
        """The final run of this training: reused when finished, resumed when not."""
        from . import train
        found = train.final_runs(cfg)
        done = train.finished_run(found)
        if done is not None:
            self.counts["reused"] += 1
            return {"run_id": done.info.run_id,
                    "best_val_loss": done.data.metrics.get("best_val_loss")}
        self.counts["trained"] += 1
        unfinished = [r for r in found if r.info.status in ("KILLED", "FAILED", "RUNNING")]
        if unfinished:
            return train.run(replace(cfg, resume=unfinished[0].info.run_id))
        return train.run(cfg)

    def variant(self, dataset: str, loss: str, aug: str, **extra) -> str | None:
        """One trained variant; a triplet starts from the BCE model of the same options."""
        if loss == Loss.TRIPLET:
            bce = self.trained(self.plan.train_config(dataset, Loss.BCE, aug, **extra))
            cfg = self.plan.train_config(dataset, loss, aug, init=bce["run_id"], **extra)
        else:
            cfg = self.plan.train_config(dataset, loss, aug, **extra)
        return self.trained(cfg)["run_id"]

    def grid(self) -> None:
        runs = {}
        for dataset in self.plan.train_datasets:
            for aug in self.plan.augmentations:
                for loss in self.plan.losses:
                    run_id = self.step(f"train {dataset}, {loss}, {aug.lower()}",
                                       lambda: self.variant(dataset, loss, aug))
                    if run_id:
                        runs[(dataset, loss, aug)] = run_id
        self.final_runs = list(runs.values())
        self.results["grid"] = runs

    def tests(self, names) -> dict:
        from ..evaluation.model_run import parse_test_sets
        return parse_test_sets(list(names))  # NAME: its faces index in the workspace

    def earlier_evaluation(self, params: dict, train_run_id: str = "",
                           matrix_of: list | None = None):
        """A FINISHED evaluation run under this study's parent with these params (for one
        training run, or the matrix run of these training runs), that scored the faces
        the test sets hold now: reused, not redone."""
        import mlflow
        import pandas as pd

        from .. import tracking
        from ..faces.index import faces_digest
        scored = {f"faces_digest/{name}": faces_digest(index)
                  for name, index in self.tests(params["test_sets"].split(",")).items()}
        parent = mlflow.active_run().info.run_id
        query = (f"tags.mlflow.parentRunId = '{parent}' and tags.stage = 'evaluate' and "
                 "attributes.status = 'FINISHED'")
        if train_run_id:
            query += f" and tags.train_run_id = '{train_run_id}'"
        for run in mlflow.search_runs(search_all_experiments=True, output_format="list",
                                      filter_string=query):
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

        from . import evaluate
        if not self.final_runs:
            return
        options = {"robustness": "none", **_tuples(self.plan.evaluate)}
        cfg = evaluate.EvaluateConfig(tuple(self.final_runs),
                                      self.tests(self.plan.test_datasets), **options)

        def work():
            done = self.earlier_evaluation(
                {"test_sets": ",".join(self.plan.test_datasets), "models": len(self.final_runs),
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
        import pandas as pd

        from . import evaluate
        spec, rows = self.plan.data_limited, []
        dataset = spec["dataset"]
        for n in spec["videos_per_class"]:
            for loss in spec.get("losses", self.plan.losses):
                def point(n=n, loss=loss):
                    run_id = self.variant(dataset, loss, "NONE", train_videos=int(n))
                    done = self.earlier_evaluation({"test_sets": dataset, "robustness": "none",
                                                    "mds": "none"}, train_run_id=run_id)
                    if done is not None:
                        self.counts["reused_evaluations"] += 1
                        auc = [done.data.metrics[f"{m}/{dataset}"]
                               for m in ("auc_frame", "auc_video")]
                    else:
                        table = evaluate.run(evaluate.EvaluateConfig(
                            run_id, self.tests([dataset]), robustness="none", mds="none"))
                        auc = [float(table[m].iloc[0]) for m in ("auc_frame", "auc_video")]
                    return {"train_videos": int(n), "loss": loss, "run_id": run_id,
                            "auc_frame": auc[0], "auc_video": auc[1]}
                row = self.step(f"data-limited {dataset}, {loss}, {n} videos per class", point)
                if row:
                    rows.append(row)
        table = pd.DataFrame(rows)
        self.results["data_limited"] = table
        if len(table):
            from .. import tracking
            tracking.log_dataframe(table, "data_limited.csv")

    def ablation(self) -> None:
        from . import ablation
        self.results["ablation"] = self.step(
            f"ablation on {self.plan.ablation['dataset']}",
            lambda: ablation.run(self.plan.ablation_config()))

    def promote(self) -> None:
        from . import evaluate, promote
        trained = sorted({d for (d, _, _) in self.results.get("grid", {})})
        if not trained:
            return
        champions = self.step("promote the champion of each dataset",
                              lambda: promote.run(promote.PromoteConfig(tuple(trained))))
        self.results["champions"] = champions or []
        if not self.plan.robustness:
            return
        sweep = _tuples(self.plan.robustness)
        for champion in champions or []:
            name = champion["dataset"]

            def work(c=champion):
                cfg = evaluate.EvaluateConfig(c["uri"], self.tests([c["dataset"]]),
                                              robustness="all", mds="none", **sweep)
                done = self.earlier_evaluation(
                    {"test_sets": c["dataset"], "robustness": c["dataset"],
                     "jpeg_qualities": ",".join(map(str, cfg.jpeg_qualities)),
                     "scales": ",".join(map(str, cfg.scales))}, train_run_id=c["train_run_id"])
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


def _tuples(options: dict) -> dict:
    """YAML lists as the tuples the frozen configs hold."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
