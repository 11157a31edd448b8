"""The paper's whole study from one file: plan.py (the study file as a checked StudyPlan),
graph.py (its tasks and their order), runner.py (what each task does under one parent run,
reused, resumed or reported), engine.py (the tasks in this process or on a Dask cluster)
and dry_run.py (`reproduce --plan`). The `reproduce` and `demo` stages run it."""
