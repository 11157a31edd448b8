"""MLflow conventions in one place, one module per concern:

- store.py        which store (MLFLOW_TRACKING_URI, or the embedded default
                  sqlite:///mlflow.db with artifacts in mlartifacts/ beside it), its
                  statistics, whether it answers, and its drivers' errors in one line;
- experiments.py  the stages' experiments (deepfake-<stage>), created on first use;
- runs.py         the run life cycle: a stage's run (a child run inside a study), the run
                  `mlflow run` made, a study's runs on a worker, runs of dead processes;
- logs.py         what a run logs beside metrics: params, tables, dataset inputs.

configure() (store.py) is called once per entry point: the command line, a study's task
on a Dask worker, the dashboards. The words of names and tags are deepfake_mlflow.naming's;
every search of the store is deepfake_mlflow.queries'.

- Each entry point is one run in its stage's experiment; a study (the demo, an ablation)
  is a parent run whose stages are child runs in the parent's experiment.
- Under `mlflow run`, MLflow has already created the run (MLFLOW_RUN_ID): it is reused.
- Tags are canonical short strings users filter on: dataset=dfdc, loss=bce,
  augment=bc+hf+hsv+jpeg (sorted, lower case, "none" when empty), and variant=bce/selected
  (loss/augmentation set: the paper's four tables are the four variants) to group by.
- Run names are short and unique within a study, the distinguishing part first:
  dfdc-bce-none (a training), triplet:dfdc-triplet-none (its phase), auc:dfdc-bce-none (its
  evaluation), robust:... (a robustness sweep), matrix:16x4, trial-3-hf.
- Experiments open on their runs in the UI (experiment kind tag) and carry a description.
"""

# the parts, reached as tracking.store, tracking.runs, ...: one import path per name
from . import experiments, logs, runs, store  # noqa: F401
