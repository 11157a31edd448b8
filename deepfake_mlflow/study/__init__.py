"""The paper's whole study from one file, read in this order:

- plan.py         the study file as a checked StudyPlan (its grid enumerated once: grid());
- graph.py        its tasks and their order (what each task needs);
- tasks.py        what each kind of task does: done() (what it reuses), state() (what
                  --plan says), perform() (its work, through the domain packages);
- engine.py       where the tasks run: this process, or a Dask cluster;
- coordinator.py  the study under its parent run: the engine, the results, the report;
- dry_run.py      `reproduce --plan`, from the tasks' own state().

The `reproduce` and `demo` stages run it: stage -> coordinator.run_steps -> engine ->
tasks.perform -> train.reuse.train_or_reuse / evaluation.evaluate.evaluate.
"""
