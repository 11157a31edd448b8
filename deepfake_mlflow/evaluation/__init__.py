"""Evaluation: metrics, test-set scoring, the cross-dataset matrix, MDS, robustness."""

from .run import run_evaluate

__all__ = ["run_evaluate"]
