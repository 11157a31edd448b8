"""Evaluation internals: metrics, test-set scoring, one model's evaluation run, the
cross-dataset matrix, MDS, robustness. The stage is deepfake_mlflow.stages.evaluate."""
