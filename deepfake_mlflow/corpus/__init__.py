"""The demo corpus: four small datasets in the real layouts, made from real faces.
The stage that builds it as a tracked run is deepfake_mlflow.stages.corpus."""

from .build import LOOKS, MIN_SIZE, WRITERS, build_corpus, check_size, index_options

__all__ = ["LOOKS", "MIN_SIZE", "WRITERS", "build_corpus", "check_size", "index_options"]
