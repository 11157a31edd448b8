"""`reproduce --plan`: every task of a study, what it needs, what is already done (and will
be reused), what will resume, and which inputs are missing, before a GPU-week is spent.
Reads the tracking store and the workspace; starts nothing and creates no run.
"""

from __future__ import annotations

from pathlib import Path

from . import graph, tasks
from .plan import StudyPlan

MISSING = "missing"


def survey(plan: StudyPlan, parent: str | None, store: bool = True) -> dict:
    """{"study", "parent_run_id", "tasks": [{key, kind, needs, state, detail}], "counts"}
    for a plan and the study's run of an earlier invocation (None: there is none);
    store=False: the tracking store does not exist yet, so nothing is done (and nothing
    is asked of it, which would make it). Each task's state is its kind's
    (study.tasks: the same done() a run of the study reuses by)."""
    indexes = plan.faces_indexes()
    absent = {name for name, index in indexes.items() if not Path(index).is_file()}
    study = tasks.Study(plan, parent or "")
    rows, values = [], {}  # values: what a done task gives the tasks that need it
    for task in graph.build(plan):
        lacking = sorted(set(reads(plan, task)) & absent)
        if task.kind == graph.PROMOTE and store and parent:
            from .. import registry  # the robustness sweeps ask of the champions now
            values[task.key] = registry.champions()
        if lacking and task.kind != graph.ROBUSTNESS:
            state = tasks.State(MISSING, f"no faces of {', '.join(lacking)}")
        elif lacking or (not store and task.kind in (graph.TRAIN, graph.ROBUSTNESS)):
            state = tasks.State(tasks.TO_RUN)
        else:
            state = tasks.KINDS[task.kind].state(study, task, values)
        if task.kind == graph.TRAIN and state.run_id:
            values[task.key] = {"run_id": state.run_id}
        rows.append({"key": task.key, "kind": task.kind, "needs": list(task.needs),
                     "state": state.state, "detail": state.detail})
    trainings = [r for r in rows if r["kind"] == graph.TRAIN]
    evaluations = [r for r in rows if r["kind"] in (graph.MATRIX, graph.LIMITED,
                                                     graph.ROBUSTNESS)]
    done = tasks.DONE
    counts = {"trainings_to_run": sum(r["state"] != done for r in trainings),
              "trainings_done": sum(r["state"] == done for r in trainings),
              "evaluations_to_run": sum(r["state"] != done for r in evaluations),
              "evaluations_done": sum(r["state"] == done for r in evaluations),
              "inputs_missing": sorted(absent)}
    return {"study": plan.name, "parent_run_id": parent, "tasks": rows, "counts": counts}


def reads(plan: StudyPlan, task) -> list[str]:
    """The datasets whose faces a task reads."""
    if task.kind == graph.TRAIN:
        return [task.args["dataset"]]
    if task.kind in (graph.MATRIX, graph.LIMITED):
        return list(plan.test_datasets)
    if task.kind == graph.ABLATION:
        return [plan.ablation["dataset"]]
    if task.kind == graph.ROBUSTNESS:
        return [task.args["dataset"]]
    return []


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
