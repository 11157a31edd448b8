"""What each kind of task of a study does (study.graph builds the tasks): one class per kind,
each knowing three things, asked by everyone the same way:

- done(study, task, inputs): what an earlier invocation left that the task reuses (a
  finished training, an evaluation of the same models on the same faces), or None;
- state(study, task, inputs): what `reproduce --plan` says of it (done, resumes, to run,
  waits), from done() and nothing else of its own;
- perform(study, task, inputs): the task's work, reusing what done() finds; returns the
  task's value (a run id, a table) and its counts (trainings run or reused, evaluations
  reused).

`inputs` maps the keys of the tasks it needs to their values (a training's is
{"run_id": ...}); a task whose needs failed sees only those that succeeded. The same code
runs in the study's process and on a worker of a cluster (study.engine): it reads the
study's run by id (Study.parent), never as the process's active run. The work itself is
the domain packages': train.reuse, evaluation.evaluate, ablation.study, registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..evaluation.matrix import COLUMNS, INTERVALS, rows_of_run
from . import graph
from .plan import StudyPlan, tuples

DONE, RESUMES, TO_RUN, WAITS = "done", "resumes", "to run", "waits"


@dataclass(frozen=True)
class State:
    """What `--plan` says of a task: its state, a detail, and the run it reuses (done)."""
    state: str
    detail: str = ""
    run_id: str = ""


class Study:
    """A plan and its study's run, as every task reads them: the configs of its trainings
    and evaluations, and the evaluations already made under that run."""

    def __init__(self, plan: StudyPlan, parent: str):
        self.plan, self.parent = plan, parent
        # resamples of each AUC's interval, for every evaluation of the study
        self.bootstrap = plan.evaluation_defaults().bootstrap

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

    def matrix_options(self) -> dict:
        return {"robustness": "none", **tuples(self.plan.evaluate)}

    def sweep_config(self, champion: dict):
        from ..evaluation.config import EvaluateConfig
        # no error analysis: the matrix evaluation of the same model holds it for this
        # test set (a second gallery would cost Grad-CAM passes and show the same videos)
        return EvaluateConfig(champion["uri"], self.tests([champion["dataset"]]),
                              robustness="all", mds="none", bootstrap=self.bootstrap,
                              analysis=False, **tuples(self.plan.robustness))

    def earlier_evaluation(self, params: dict, train_run_id: str = "",
                           matrix_of: list | None = None):
        """A FINISHED evaluation run under this study's parent with these params (for one
        training run, or the matrix run of these training runs), that scored the faces
        the test sets hold now: reused, not redone."""
        import mlflow
        import pandas as pd

        from .. import queries
        from ..faces.index import faces_digest
        from ..tracking.logs import param_value
        if not self.parent:  # no study run yet: nothing evaluated
            return None
        scored = {f"faces_digest/{name}": faces_digest(index)
                  for name, index in self.tests(params["test_sets"].split(",")).items()}
        tags = {"stage": "evaluate", **({"train_run_id": train_run_id} if train_run_id else {})}
        for run in queries.children(self.parent, status="FINISHED", **tags):
            logged = run.data.params
            if any(logged.get(k) != param_value(v) for k, v in params.items()):
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


def trained(task, inputs: dict) -> list[str]:
    """The run ids of the trainings a task needs that are there (done or succeeded)."""
    return [inputs[key]["run_id"] for key in task.needs if key in inputs]


class Training:
    """One training of the grid or of a data-limited curve: reused when it finished,
    resumed from its checkpoint when it was interrupted (train.reuse)."""

    @staticmethod
    def init(task, inputs: dict) -> str | None:
        """The BCE run a triplet training starts from."""
        return inputs[task.needs[0]]["run_id"] if task.needs else None

    def done(self, study: Study, task, inputs: dict):
        from ..train.reuse import earlier_runs
        return earlier_runs(study.training_config(task, self.init(task, inputs))).done

    def state(self, study: Study, task, inputs: dict) -> State:
        from ..train.reuse import earlier_runs
        if task.needs and task.needs[0] not in inputs:
            return State(WAITS)  # its config names the BCE run it starts from
        found = earlier_runs(study.training_config(task, self.init(task, inputs)))
        if found.done is not None:
            return State(DONE, f"run {found.done.info.run_id}", found.done.info.run_id)
        if found.interrupted is not None:
            return State(RESUMES, f"run {found.interrupted.info.run_id} from its checkpoint")
        return State(TO_RUN)

    def perform(self, study: Study, task, inputs: dict) -> tuple:
        from ..train.reuse import train_or_reuse
        result = train_or_reuse(study.training_config(task, self.init(task, inputs)))
        return {"run_id": result.run_id}, {"reused" if result.reused else "trained": 1}


class Matrix:
    """Every model of the grid that trained, on every test set: Tables I-IV."""

    def done(self, study: Study, task, inputs: dict):
        options = study.matrix_options()
        runs = trained(task, inputs)
        scored = {"test_sets": ",".join(study.plan.test_datasets),
                  "bootstrap": study.bootstrap,
                  **{k: v for k, v in options.items() if k in ("robustness", "split")}}
        if len(runs) == 1:  # one model is one evaluation run (eval:..., not matrix:...),
            # whose mds param is the test sets it drew: the AUCs do not depend on it
            return study.earlier_evaluation(scored, train_run_id=runs[0])
        mds = {k: v for k, v in options.items() if k == "mds"}
        return study.earlier_evaluation({**scored, "models": len(runs), **mds}, matrix_of=runs)

    def state(self, study: Study, task, inputs: dict) -> State:
        if len(trained(task, inputs)) < len(task.needs):
            return State(WAITS)
        return State(DONE, "evaluation reused") if self.done(study, task, inputs) \
            else State(TO_RUN)

    def perform(self, study: Study, task, inputs: dict) -> tuple:
        import mlflow
        import pandas as pd

        from ..evaluation.config import EvaluateConfig
        from ..evaluation.evaluate import evaluate
        runs = trained(task, inputs)
        if not runs:
            return None, {}
        done = self.done(study, task, inputs)
        if done is None:
            return evaluate(EvaluateConfig(tuple(runs), study.tests(study.plan.test_datasets),
                                           **study.matrix_options())), {}
        if not done.info.run_name.startswith("matrix:"):  # one model's evaluation run
            return pd.DataFrame(rows_of_run(done), columns=COLUMNS), {"reused_evaluations": 1}
        return pd.read_csv(mlflow.artifacts.download_artifacts(
            run_id=done.info.run_id, artifact_path="matrix/cross_dataset_auc.csv")), \
            {"reused_evaluations": 1}


class LimitedPoint:
    """Fig. 1: one data-limited training tested on every test set of the study (in domain
    and across), one evaluation run per point."""

    def done(self, study: Study, task, inputs: dict):
        return study.earlier_evaluation(
            {"test_sets": ",".join(study.plan.test_datasets), "robustness": "none",
             "mds": "none", "bootstrap": study.bootstrap},
            train_run_id=trained(task, inputs)[0])

    def state(self, study: Study, task, inputs: dict) -> State:
        if not trained(task, inputs):
            return State(WAITS)
        return State(DONE, "evaluation reused") if self.done(study, task, inputs) \
            else State(TO_RUN)

    def perform(self, study: Study, task, inputs: dict) -> tuple:
        from ..evaluation.config import EvaluateConfig
        from ..evaluation.evaluate import evaluate
        a, tests = task.args, list(study.plan.test_datasets)
        run_id = trained(task, inputs)[0]
        measured = ("auc_frame", "auc_video", *INTERVALS)  # each AUC with its interval
        done = self.done(study, task, inputs)
        if done is not None:
            found = [{"test_set": t, "test_videos": done.data.metrics.get(f"videos/{t}"),
                      **{m: done.data.metrics.get(f"{m}/{t}", float("nan")) for m in measured},
                      "eval_run_id": done.info.run_id} for t in tests]
        else:
            # Fig. 1's points: their AUCs, not an error analysis each
            table = evaluate(EvaluateConfig(run_id, study.tests(tests), robustness="none",
                                            mds="none", bootstrap=study.bootstrap,
                                            analysis=False))
            # eval_run_id: where its predictions are (the paper's claim 1 compares them)
            found = table[["test_set", *measured, "test_videos", "eval_run_id"]].to_dict(
                "records")
        rows = [{"train_dataset": a["dataset"], "train_videos": a["train_videos"],
                 "loss": a["loss"], "seed": a["seed"], "run_id": run_id, **row}
                for row in found]
        return rows, {"reused_evaluations": int(done is not None)}


class Ablation:
    """Fig. 3: the Optuna study over one dataset's augmentations; its finished trials are
    reused by the study itself (Optuna's storage), its NONE trial is the grid's training."""

    def done(self, study: Study, task, inputs: dict):
        return None  # the Optuna study decides, trial by trial

    def state(self, study: Study, task, inputs: dict) -> State:
        return State(TO_RUN, "its finished trials are reused")

    def perform(self, study: Study, task, inputs: dict) -> tuple:
        from ..ablation.study import run_study
        return run_study(study.plan.ablation_config()), {}


class Promote:
    """The champion of each dataset the grid trained (its trainings that succeeded)."""

    def done(self, study: Study, task, inputs: dict):
        return None  # promoting again changes nothing if the best runs stay

    def state(self, study: Study, task, inputs: dict) -> State:
        return State(TO_RUN, "changes nothing if the best runs stay")

    def perform(self, study: Study, task, inputs: dict) -> tuple:
        from .. import registry
        datasets = sorted({task.args["grid"][key] for key in task.needs if key in inputs})
        if not datasets:
            return [], {}
        return registry.promote(datasets), {}


class Robustness:
    """The robustness sweeps of one dataset's champion on its own test set. `inputs` holds
    promote's champions; before promote has run, --plan asks about the champions
    registered now (promote may choose others)."""

    @staticmethod
    def champions(task, inputs: dict) -> list[dict]:
        return [c for c in inputs.get(task.needs[0]) or []
                if c["dataset"] == task.args["dataset"]]

    def sweep_done(self, study: Study, champion: dict):
        """The study's earlier robustness sweep of this champion, or None."""
        cfg = study.sweep_config(champion)
        return study.earlier_evaluation(
            {"test_sets": champion["dataset"], "robustness": champion["dataset"],
             "jpeg_qualities": ",".join(map(str, cfg.jpeg_qualities)),
             "scales": ",".join(map(str, cfg.scales)), "bootstrap": cfg.bootstrap},
            train_run_id=champion["train_run_id"])

    def done(self, study: Study, task, inputs: dict):
        champions = self.champions(task, inputs)
        sweeps = [self.sweep_done(study, c) for c in champions]
        return sweeps if champions and all(s is not None for s in sweeps) else None

    def state(self, study: Study, task, inputs: dict) -> State:
        return State(DONE, "of the champion registered now") \
            if self.done(study, task, inputs) else State(TO_RUN)

    def perform(self, study: Study, task, inputs: dict) -> tuple:
        from ..evaluation.evaluate import evaluate
        reused = 0
        for champion in self.champions(task, inputs):
            done = self.sweep_done(study, champion)
            if done is None:
                evaluate(study.sweep_config(champion))
            reused += done is not None
        return None, {"reused_evaluations": reused}


KINDS = {graph.TRAIN: Training(), graph.MATRIX: Matrix(), graph.LIMITED: LimitedPoint(),
         graph.ABLATION: Ablation(), graph.PROMOTE: Promote(),
         graph.ROBUSTNESS: Robustness()}


def perform(plan: StudyPlan, parent: str, task, inputs: dict) -> tuple:
    """(the task's value, its counts) from the values of the tasks it needs."""
    return KINDS[task.kind].perform(Study(plan, parent), task, inputs)
