"""The paper's tables and figures rebuilt from an MLflow tracking store, as one static report.

    deepfake-mlflow dashboard                 the newest study (reproduce or demo run)
    deepfake-mlflow dashboard --run RUN_ID    one study's parent run
    deepfake-mlflow dashboard --optuna        optuna-dashboard on the ablation's storage

store reads a study's runs into tables; figures draws the paper's Fig. 1-3 and the tables'
heatmaps; report writes report.html with figures/ beside it and logs both to the study's
parent run; paper holds the paper's own values (paper_tables.csv).
"""
