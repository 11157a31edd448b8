"""The augmentation ablation (the paper's Fig. 3) as an Optuna study, one trial a child
run: config.py (AblationConfig), storage.py (the Optuna storage, the study, the grid's
queue), objective.py (one trial), summary.py (the trials table and figures). The stage
(deepfake_mlflow.stages.ablation) puts them together; `worker` joins a study."""
