"""What a run logs beside metrics: params as MLflow stores them, small tables, and an
index (videos or faces) as the run's dataset input, in time independent of its size."""

from __future__ import annotations

import warnings
from pathlib import Path

import mlflow
import pandas as pd

def param_value(value) -> str:
    """Params as MLflow stores them: strings; booleans lower case as in MLproject files."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def log_params(params: dict) -> None:
    """Log params, leaving alone those already logged (`mlflow run` logs the MLproject's
    parameters first, as the user typed them; MLflow forbids changing a param)."""
    run = mlflow.active_run()
    logged = mlflow.get_run(run.info.run_id).data.params
    mlflow.log_params({k: param_value(v) for k, v in params.items() if k not in logged})


def log_dataframe(frame: pd.DataFrame, artifact_file: str) -> None:
    """A small table as a CSV artifact (readable in the UI's artifact viewer)."""
    mlflow.log_text(frame.to_csv(index=False), artifact_file)


SCHEMA_SAMPLE_ROWS = 1000  # an index's columns have one type each: a sample tells them


def log_index_input(frame: pd.DataFrame, source: str, name: str, context: str):
    """Log an index (videos or faces) as the run's dataset input, so a run names its data;
    returns the MLflow dataset (metrics computed on it can name it).

    In time independent of the index's size: MLflow would infer the schema from every cell
    and digest after mapping type() over every cell, 20 s a million rows (77 s for DFDC's
    3.8M faces, at each phase of a training). The schema comes from a sample, and the
    digest from the index file's content (hashed once per process and file version) with
    the rows' count and ends."""
    from mlflow.types.utils import _infer_schema
    with warnings.catch_warnings():
        # a local path is "ambiguous" to MLflow's source registry, and integer columns
        # draw a schema hint meant for model inputs: neither applies to an index
        warnings.filterwarnings("ignore", message=".*interpreted in multiple ways.*")
        warnings.filterwarnings("ignore", message=".*Integer columns in Python.*")
        dataset = mlflow.data.from_pandas(frame, source=source, name=name, targets="label",
                                          digest=_index_digest(frame, source))
        # PandasDataset.schema is a cached property: given here, it is not inferred again
        dataset.__dict__["schema"] = _infer_schema(_schema_sample(frame, source))
        mlflow.log_input(dataset, context=context)
    return dataset


def _schema_sample(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """The first rows of the index file with every column (a training reads some columns
    alone: the dataset still shows the file's schema), else of the frame."""
    if str(source).endswith(".parquet") and Path(source).is_file():
        import pyarrow.parquet as pq
        try:
            batch = next(pq.ParquetFile(source).iter_batches(batch_size=SCHEMA_SAMPLE_ROWS))
            return batch.to_pandas()
        except (StopIteration, OSError, ValueError):
            pass
    return frame.head(SCHEMA_SAMPLE_ROWS)


def _index_digest(frame: pd.DataFrame, source: str) -> str:
    """8 hex digits naming an index's rows: the source file's content hash when the source
    is a file, else the rows' own hash (a video index: a row per video, cheap), with the
    row count and the first and last rows, which tell a split apart from its file."""
    import hashlib

    from ..faces.index import faces_digest  # the file's hash, once per file version
    if Path(source).is_file():
        # the rows by their keys, whatever columns were read: a training reads some alone,
        # and its dataset is the one the extraction logged
        named = [c for c in ("key", "face_path") if c in frame.columns]
        digest = hashlib.sha256(f"{len(frame)}|{','.join(named)}".encode())
        digest.update(faces_digest(source).encode())
        ends = pd.concat([frame.head(SCHEMA_SAMPLE_ROWS), frame.tail(SCHEMA_SAMPLE_ROWS)])
        ends = ends[named] if named else ends
    else:
        digest = hashlib.sha256(f"{len(frame)}|{','.join(map(str, frame.columns))}".encode())
        ends = frame
    digest.update(pd.util.hash_pandas_object(ends.astype(object), index=False)
                  .to_numpy().tobytes())
    return digest.hexdigest()[:8]


def logged_model_id(run: mlflow.entities.Run) -> str | None:
    """The id of the last model a run logged (MLflow 3 logged models), or None."""
    outputs = run.outputs.model_outputs if run.outputs else []
    return outputs[-1].model_id if outputs else None
