"""The paper's whole study from one file: plan.py (the study file as a checked StudyPlan)
and runner.py (its steps under one parent run, each reused, resumed or reported). The
`reproduce` and `demo` stages run it."""
