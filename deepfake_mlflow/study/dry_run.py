"""`reproduce --plan`: every task of a study, what it needs, what is already done (and will
be reused), what will resume, and which inputs are missing, before a GPU-week is spent.
Reads the tracking store and the workspace; starts nothing and creates no run.
"""

from __future__ import annotations

from pathlib import Path

from . import graph
from .plan import StudyPlan

DONE, RESUMES, TO_RUN, MISSING, WAITS = "done", "resumes", "to run", "missing", "waits"


def survey(plan: StudyPlan, parent: str | None, store: bool = True) -> dict:
    """{"study", "parent_run_id", "tasks": [{key, kind, needs, state, detail}], "counts"}
    for a plan and the study's run of an earlier invocation (None: there is none);
    store=False: the tracking store does not exist yet, so nothing is done."""
    from ..train.reuse import UNFINISHED, final_runs
    from .runner import StudyRunner

    indexes = plan.faces_indexes()
    absent = {name for name, index in indexes.items() if not Path(index).is_file()}
    runner = StudyRunner(plan, parent or "")
    tasks, rows, runs = graph.build(plan), [], {}
    registered: list = []

    def champions() -> list:  # the registry's champions, read once
        if not registered:
            from .. import registry
            registered.append(registry.champions())
        return registered[0]

    def missing_of(names) -> list[str]:
        return sorted(set(names) & absent)

    for task in tasks:
        state, detail = TO_RUN, ""
        if task.kind == graph.TRAIN:
            lacking = missing_of([task.args["dataset"]])
            init = runs.get(task.needs[0]) if task.needs else None
            if lacking:
                state, detail = MISSING, f"no faces of {', '.join(lacking)}"
            elif not store:
                pass
            elif task.needs and init is None:
                state = WAITS  # its config names the BCE run it starts from
            else:
                found = final_runs(runner.training_config(task, init))
                done = next((r for r in found if r.info.status == "FINISHED"), None)
                stopped = [r for r in found if r.info.status in UNFINISHED
                           and "ended_early" not in r.data.tags]
                if done is not None:
                    state, detail = DONE, f"run {done.info.run_id}"
                    runs[task.key] = done.info.run_id
                elif stopped:
                    state, detail = RESUMES, f"run {stopped[0].info.run_id} from its checkpoint"
        elif task.kind in (graph.MATRIX, graph.LIMITED):
            lacking = missing_of(plan.test_datasets)
            trained = [runs[key] for key in task.needs if key in runs]
            if lacking:
                state, detail = MISSING, f"no faces of test sets {', '.join(lacking)}"
            elif len(trained) < len(task.needs):
                state = WAITS
            elif parent and _evaluated(runner, task, trained):
                state, detail = DONE, "evaluation reused"
        elif task.kind == graph.ABLATION:
            lacking = missing_of([plan.ablation["dataset"]])
            state, detail = (MISSING, f"no faces of {', '.join(lacking)}") if lacking else (
                TO_RUN, "its finished trials are reused")
        elif task.kind == graph.PROMOTE:
            detail = "changes nothing if the best runs stay"
        elif task.kind == graph.ROBUSTNESS and store and parent:
            # the champion registered now; promote may choose another
            champion = next((c for c in champions() if c.get("dataset") ==
                             task.args["dataset"]), None)
            if champion and not missing_of([champion["dataset"]]) and \
                    runner.sweep_done(champion) is not None:
                state, detail = DONE, "of the champion registered now"
        rows.append({"key": task.key, "kind": task.kind, "needs": list(task.needs),
                     "state": state, "detail": detail})
    trainings = [r for r in rows if r["kind"] == graph.TRAIN]
    evaluations = [r for r in rows if r["kind"] in (graph.MATRIX, graph.LIMITED,
                                                     graph.ROBUSTNESS)]
    counts = {"trainings_to_run": sum(r["state"] != DONE for r in trainings),
              "trainings_done": sum(r["state"] == DONE for r in trainings),
              "evaluations_to_run": sum(r["state"] != DONE for r in evaluations),
              "evaluations_done": sum(r["state"] == DONE for r in evaluations),
              "inputs_missing": sorted(absent)}
    return {"study": plan.name, "parent_run_id": parent, "tasks": rows, "counts": counts}


def _evaluated(runner, task, trained: list[str]) -> bool:
    if task.kind == graph.MATRIX:
        return runner.matrix_done(trained) is not None
    return runner.point_done(trained[0]) is not None


def report(survey_: dict) -> int:
    """The plan as a table (task, state, what it needs), then its counts; exit 0."""
    rows, parent = survey_["tasks"], survey_["parent_run_id"]
    print(f"study {survey_['study']}: " + (f"run {parent} exists; what is done is reused"
                                            if parent else "never run in this tracking store"))
    states = [r["state"] + (f" ({r['detail']})" if r["detail"] else "") for r in rows]
    width = max([len("task"), *(len(r["key"]) for r in rows)])
    state_width = max([len("state"), *(len(s) for s in states)])
    print(f"  {'task':<{width}}  {'state':<{state_width}}  needs")
    for row, state in zip(rows, states):
        needs = row["needs"]
        shown = "; ".join(needs) if len(needs) <= 2 else f"{len(needs)} trainings of the grid"
        print(f"  {row['key']:<{width}}  {state:<{state_width}}  {shown}".rstrip())
    c = survey_["counts"]
    print(f"{c['trainings_to_run']} trainings to run, {c['trainings_done']} done; "
          f"{c['evaluations_to_run']} evaluations to run, {c['evaluations_done']} done"
          + (f"; missing: faces of {', '.join(c['inputs_missing'])} (deepfake-mlflow index "
             "NAME ROOT && deepfake-mlflow extract NAME ROOT)" if c["inputs_missing"] else ""))
    print("nothing was started (--plan)")
    return 0
