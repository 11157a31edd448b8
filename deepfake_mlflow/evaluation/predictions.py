"""The per-face predictions an evaluation run logged (predictions/<test set>.parquet),
read back for the paired comparisons (an ablation's trials, `compare`)."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

COLUMNS = ["key", "frame", "label", "logit"]  # what a comparison reads


@lru_cache(maxsize=8)  # NONE's, read again for every trial compared with it
def predictions(eval_run_id: str, test_set: str) -> pd.DataFrame:
    import mlflow

    from ..errors import UserInputError
    try:
        path = mlflow.artifacts.download_artifacts(
            run_id=eval_run_id, artifact_path=f"predictions/{test_set}.parquet")
    except mlflow.exceptions.MlflowException as err:
        raise UserInputError(f"evaluation run {eval_run_id}: no predictions of {test_set} "
                             f"(predictions/{test_set}.parquet): {str(err).splitlines()[0]}"
                             ) from None
    return pd.read_parquet(path, columns=COLUMNS)



def face_distances(eval_run_id: str, test_set: str):
    """The distances between the MDS faces' features an evaluation logged for claim 7
    (evaluation/separability.py), or None when it kept no features of that test set (it
    was not among its --mds sets)."""
    import mlflow

    from .separability import FaceDistances, artifact
    try:
        path = mlflow.artifacts.download_artifacts(run_id=eval_run_id,
                                                   artifact_path=artifact(test_set))
    except (mlflow.exceptions.MlflowException, OSError):
        return None
    return FaceDistances.load(path)
