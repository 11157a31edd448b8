"""MLflow conventions in one place: the store, experiments, the run life cycle, inputs.

The words of names and tags are deepfake_mlflow.naming's; every search of the store is
deepfake_mlflow.queries'.

- The embedded default is sqlite:///mlflow.db with artifacts in mlartifacts/ beside the
  database file (so one store's artifacts never scatter over working directories);
  MLFLOW_TRACKING_URI (a tracking server, PostgreSQL behind it) overrides it.
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

from __future__ import annotations

import logging
import os
import socket
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import mlflow
import pandas as pd

from . import naming
from .errors import EndedEarly, ReportedError, TrackingUnavailable, UserInputError
from .scoped_env import scoped_env

log = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_ARTIFACT_DIR = "mlartifacts"
EXPERIMENT_PREFIX = "deepfake-"
HOST_TAG, PID_TAG = "host", "pid"  # where a run's process runs: dead runs are found by them
REACH_TIMEOUT_S = 5
# MLflow 3's UI opens an experiment on its GenAI overview unless told it holds model training
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
DESCRIPTION_TAG = "mlflow.note.content"
DESCRIPTIONS = {
    "index": "Dataset indexes: one run per indexed dataset root, with its split summary.",
    "corpus": "Demo corpora built from real faces (FF++, DFD, DFDC and Celeb-DF layouts).",
    "extract": "Face extraction with BlazeFace: 32 frames a video, 256x256 square crops.",
    "train": "Trainings: BCE runs, and triplet parents with one child run per phase "
             "(bce, triplet, finetune). Group by the `variant` tag to see the paper's tables.",
    "evaluate": "Evaluations: frame and video AUC per test set; several models make a "
                "matrix run (the paper's Tables I-IV) with one child run per model.",
    "registry": "Promotions of the champion model of each training dataset.",
    "ablation": "Optuna studies over augmentations (the paper's Fig. 3): one child run per "
                "trial under the study's run.",
    "reproduce": "Whole studies from one study file: each step a child run; the study "
                 "run holds the report (report/report.html).",
    "demo": "`make demo`: the paper's whole study scaled down on the demo corpus. Open the "
            "demo run for the report (artifacts report/report.html); group runs by the "
            "`variant` tag to compare BCE against triplet, with and without augmentation.",
}
_QUICK = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
# Inside a stage's run: a server that stops answering is given about 15 s (3 retries at
# 2, 4, 8 s), not MLflow's default of 7 retries over four minutes; a user's own setting wins
_PATIENT = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3", "MLFLOW_HTTP_REQUEST_TIMEOUT": "60"}


def configure() -> str:
    """Point MLflow at MLFLOW_TRACKING_URI, or at the embedded default; return the URI."""
    # one progress bar per downloaded model file drowns the output of a CLI step
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    if uri.startswith("sqlite:///"):  # a store copied from elsewhere is said so, once
        from .relocate import warn_if_moved
        warn_if_moved(Path(uri.removeprefix("sqlite:///")))
        gather_statistics(Path(uri.removeprefix("sqlite:///")))
    return uri


STATISTICS_FROM_RUNS = 500  # below, any plan is fast
_gathered: set = set()


def gather_statistics(path: Path) -> None:
    """SQLite's table statistics (ANALYZE) for a store that has none, or has doubled since:
    without them SQLite plans MLflow's search ordered by a metric as a scan of every run's
    metric per run (quadratic: 1.2 s a search at 10,000 trainings, 0.07 s with them;
    promote makes one per dataset). Once per store and process; a store it cannot write
    (read-only, busy) is left as it is. PostgreSQL gathers its own (autovacuum)."""
    import contextlib
    import sqlite3
    if path in _gathered or not path.is_file():
        return
    _gathered.add(path)
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=1.0)) as db:
            runs = db.execute("SELECT count(*) FROM runs").fetchone()[0]
            if runs < STATISTICS_FROM_RUNS:
                return
            try:
                known = db.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = 'runs'"
                                   ).fetchone()
            except sqlite3.OperationalError:  # never analysed
                known = None
            if known is None or runs > 2 * int(str(known[0]).split()[0]):
                db.execute("ANALYZE")
                db.commit()
    except sqlite3.Error as err:
        log.debug("no statistics gathered for %s: %s", path, err)


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, or the embedded default made absolute: MLflow keeps one store
    per URI string, so a relative path would keep pointing at the folder of the first call."""
    return os.environ.get("MLFLOW_TRACKING_URI") or \
        "sqlite:///" + str(Path(DEFAULT_TRACKING_URI.removeprefix("sqlite:///")).resolve())


def store_exists() -> bool:
    """False when the store is a SQLite file not made yet (reading it would make it)."""
    uri = tracking_uri()
    return not uri.startswith("sqlite:///") or Path(uri.removeprefix("sqlite:///")).is_file()


def uses_embedded_store() -> bool:
    """True when this process writes the store itself (a database URI), not a server.

    Then artifacts go to artifact_root(); a tracking server chooses its own artifact store.
    """
    return not mlflow.get_tracking_uri().startswith(("http://", "https://", "databricks"))


def artifact_root() -> Path:
    """mlartifacts/ beside a SQLite store's file; ./mlartifacts for another database URI."""
    uri = mlflow.get_tracking_uri()
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).resolve().parent / DEFAULT_ARTIFACT_DIR
    return Path(DEFAULT_ARTIFACT_DIR).resolve()


def ui_runs_url(experiment_id: str, ui_url: str | None = None) -> str:
    """The tracking UI's page of an experiment's runs (MLflow 3 opens experiments in its
    GenAI mode, on a traces overview, unless the link says workflowType)."""
    from . import config
    base = (ui_url or config.ui_url()).rstrip("/")
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def experiment_name(stage: str) -> str:
    from .stages import EXPERIMENTS  # the one list of stages and their experiments
    if stage not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {stage!r}; one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENT_PREFIX + stage


def experiment_id(stage: str) -> str:
    """The stage's experiment, created on first use (artifacts beside a local store)."""
    configure()
    name = experiment_name(stage)
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        if "mlflow.experimentKind" not in found.tags:  # made by an earlier version
            try:
                for key, value in {**EXPERIMENT_KIND,
                                   DESCRIPTION_TAG: DESCRIPTIONS.get(stage, "")}.items():
                    mlflow.MlflowClient().set_experiment_tag(found.experiment_id, key, value)
            except mlflow.exceptions.MlflowException as err:  # another user's (auth server)
                log.debug("experiment %s keeps its tags: %s", name, first_line(err))
        return found.experiment_id
    location = None
    if uses_embedded_store():
        location = (artifact_root() / name).as_uri()
    tags = {**EXPERIMENT_KIND, DESCRIPTION_TAG: DESCRIPTIONS.get(stage, "")}
    try:
        return mlflow.create_experiment(name, artifact_location=location, tags=tags)
    except mlflow.exceptions.MlflowException:  # created meanwhile by a parallel worker
        return mlflow.get_experiment_by_name(name).experiment_id


@contextmanager
def stage_run(stage: str, run_name: str | None = None, tags: dict | None = None,
              params: dict | None = None, run_id: str | None = None,
              system_metrics: bool = False) -> Iterator[mlflow.ActiveRun]:
    """One run of an entry point: a child run if a study run is active, else a top run.
    With run_id, the run is reopened (a resumed training continues in the same run).

    The run ends FINISHED, FAILED, or KILLED (Ctrl-C, SIGTERM); a run whose process died
    without ending it (kill -9, a lost machine) is ended KILLED by the next stage started
    on the same host. A store that cannot be reached fails in seconds with one line."""
    uri = configure()
    check_reachable(uri)
    parent = mlflow.active_run()
    tags = {"stage": stage, HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid()),
            **{k: naming.canonical(v) for k, v in (tags or {}).items()}}
    if run_id is None and _LAUNCHED.get("stage") == stage and not _LAUNCHED.get("claimed") \
            and parent is not None and parent.info.run_id == _LAUNCHED.get("run_id"):
        # under `mlflow run`: the run MLflow made for the entry point becomes this run
        # (launched_run opened it and ends it)
        _LAUNCHED["claimed"] = True
        mlflow.set_tags({**tags, "mlflow.runName": run_name or stage})
        if params:
            log_params(params)
        yield parent
        return
    if run_id is not None and _held_by_another_process(run_id):
        # a second process joining a live run (a worker reopening an ablation's parent)
        # leaves its owner's host and pid: the dead-run check reads the owner's
        tags = {k: v for k, v in tags.items() if k not in (HOST_TAG, PID_TAG)}
    common = {"run_id": run_id, "tags": tags, "log_system_metrics": system_metrics or None}
    if run_id is None:
        common["run_name"] = run_name
    adopted = _ADOPTED.get("run_id") if parent is None and run_id is None else None
    if adopted:  # a study's task on a worker: a child of the study's run, in its experiment
        common["parent_run_id"] = adopted
    try:
        # a reopened run stays in its experiment
        experiment = parent.info.experiment_id if parent else (
            _ADOPTED["experiment_id"] if adopted else
            experiment_id(stage) if run_id is None else None)
        # at every run, child runs too: a long ablation ends the trials of a worker
        # killed beside it; of every stage: a killed train is ended by the next index
        end_dead_runs()
        run = mlflow.start_run(nested=parent is not None, experiment_id=experiment, **common)
    except mlflow.exceptions.RestException as err:  # the store answered: a real refusal
        raise UserInputError(f"tracking store {uri}: {err.message.splitlines()[0]}") from None
    except Exception as err:  # noqa: BLE001 - any driver's way of saying "unreachable"
        raise TrackingUnavailable(f"tracking store {uri} cannot be used "
                                  f"({_store_problem(err) or first_line(err)})") from None
    status, lost = "FINISHED", None
    patience = {k: v for k, v in _PATIENT.items() if k not in os.environ}
    try:
        with scoped_env(**patience):
            if params:
                log_params(params)
            yield run
    except EndedEarly as err:  # stopped on purpose (a pruned trial): KILLED, with the reason
        status = "KILLED"
        mlflow.set_tag("ended_early", str(err))
        raise
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except ReportedError as err:  # already one line (a nested run's lost store among them)
        status = "FAILED"
        lost = str(err) if isinstance(err, TrackingUnavailable) else None
        raise
    except BaseException as err:
        status = "FAILED"
        lost = _store_lost(err, uri)
        if lost is None:
            raise
        raise TrackingUnavailable(
            f"tracking store {uri} failed during run {run.info.run_id} ({lost}); "
            "what was logged before is kept, the run stays RUNNING until a stage runs again "
            "on this host, and a re-run redoes the step") from None
    finally:
        _end_run(run.info.run_id, status, uri, quiet=lost is not None)


_LAUNCHED: dict = {}  # the run `mlflow run` made for this process, while launched_run holds it
_ADOPTED: dict = {}  # the study run whose children this process makes, while children_of holds it


@contextmanager
def children_of(run_id: str) -> Iterator[None]:
    """Stages run in this block are child runs of `run_id` (a study's run, live in another
    process: the coordinator of a study run on many machines) without this process opening
    or ending that run: it stays its owner's."""
    configure()
    experiment = mlflow.MlflowClient().get_run(run_id).info.experiment_id
    saved = dict(_ADOPTED)
    _ADOPTED.update(run_id=run_id, experiment_id=experiment)
    try:
        yield
    finally:
        _ADOPTED.clear()
        _ADOPTED.update(saved)


@contextmanager
def launched_run(entry: str) -> Iterator[mlflow.ActiveRun | None]:
    """Under `mlflow run` (MLFLOW_RUN_ID set), the run MLflow made for the entry point is
    opened around the whole command and named and tagged as the entry point's stage: the
    stage's own run is this run, and a step made on the way (the index an extract needs)
    is its child run, as in a study. Without MLFLOW_RUN_ID, nothing happens."""
    if not os.environ.get("MLFLOW_RUN_ID") or mlflow.active_run() is not None:
        yield None
        return
    # taken out of the environment: MLflow would give it to the next run started (the
    # index on the way), and worker processes would inherit it
    run_id = os.environ.pop("MLFLOW_RUN_ID")
    from .stages import STAGES
    stage = STAGES.get(entry)  # None: an entry point whose work logs no run (predict)
    with stage_run(stage or entry, run_id=run_id, tags={"entry_point": entry}) as run:
        mlflow.set_tag("mlflow.runName", entry)
        _LAUNCHED.update(run_id=run_id, stage=stage, claimed=False)
        _say_where(run, stage)
        try:
            yield run
        finally:
            _LAUNCHED.clear()


def launched_run_id() -> str | None:
    """The run `mlflow run` made for this command, while it is open."""
    return _LAUNCHED.get("run_id")


def _say_where(run: mlflow.ActiveRun, stage: str | None) -> None:
    """A run of `mlflow run` lands in the experiment MLflow chose (Default unless
    --experiment-name): said once when that is not the stage's own experiment."""
    if stage is None:
        return
    wanted = experiment_name(stage)
    found = mlflow.get_experiment(run.info.experiment_id)
    if found.name == wanted:
        experiment_id(stage)  # the project's experiment tags, had `mlflow run` made it
        return
    log.warning("this run is in experiment %r, the command line's %s runs are in %r: pass "
                "`--experiment-name %s` to `mlflow run` to keep them together",
                found.name, stage, wanted, wanted)


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else 'no message'}"


def _store_problem(err: BaseException) -> str | None:
    """The store's own words, when an error comes from the store's driver: a database
    that refuses (read-only, locked, gone) or a server that does not answer. MLflow wraps
    them, so the chain of causes is read; None for any other error."""
    import requests
    import sqlalchemy.exc
    chain, seen = [], err
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for cause in chain:
        if isinstance(cause, sqlalchemy.exc.OperationalError):
            return str(cause.orig or cause).strip().splitlines()[0]
        if isinstance(cause, (requests.ConnectionError, requests.Timeout)):
            return _transport_problem(cause)
    return None


def _store_lost(err: BaseException, uri: str) -> str | None:
    """What broke, when an error inside a run comes from a store that cannot be used any
    more (a server that died, a database that refuses writes); None for any other error.
    One test for every call a stage makes; a server is asked /health before it is blamed
    for an error MLflow reports without its cause."""
    problem = _store_problem(err)
    if problem is not None:
        return problem
    text = str(err)
    if uri.startswith(("http://", "https://")) and isinstance(
            err, mlflow.exceptions.MlflowException) and text.startswith("API request to"):
        try:
            check_reachable(uri)
        except TrackingUnavailable:
            return text.split(" failed with exception ")[0] + " failed: no answer"
    return None


def _transport_problem(err) -> str:
    """`POST /api/2.0/mlflow/runs/log-inputs: Connection refused`, from requests' and
    urllib3's nested wording."""
    import re
    text = str(err)
    url = re.search(r"with url: (\S+)", text)
    reason = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    where = f"{url.group(1)}: " if url else ""
    return where + (reason.group(1).strip() if reason else type(err).__name__)


def _end_run(run_id: str, status: str, uri: str, quiet: bool = False) -> None:
    try:
        with quick_requests():
            mlflow.end_run(status)
    except Exception as err:  # noqa: BLE001
        if status != "FINISHED":  # the error already on its way says more
            (log.debug if quiet else log.warning)(
                "run %s could not be marked %s: %s", run_id, status, first_line(err))
            return
        raise TrackingUnavailable(
            f"run {run_id} is done, but the tracking store {uri} could not record its end "
            f"({first_line(err)}); its status stays RUNNING until a stage runs again on "
            "this host") from None


def check_reachable(uri: str) -> None:
    """A tracking server that does not answer /health within seconds is reported at once,
    not after MLflow's minutes of retries."""
    if not uri.startswith(("http://", "https://")):
        return
    import requests
    try:
        requests.get(uri.rstrip("/") + "/health", timeout=REACH_TIMEOUT_S).raise_for_status()
    except requests.RequestException as err:
        raise TrackingUnavailable(f"tracking server {uri} does not answer ({first_line(err)}):"
                                  " start it, or unset MLFLOW_TRACKING_URI to track into "
                                  f"{DEFAULT_TRACKING_URI}") from None


def quick_requests():
    """MLflow calls that fail in seconds (no retries, a short timeout): for calls whose
    failure is handled (the metric journal keeps what could not be sent)."""
    return scoped_env(**_QUICK)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _held_by_another_process(run_id: str) -> bool:
    """Whether the run is RUNNING in a process other than this one that may be alive
    (another host's, or a live pid of this host)."""
    try:
        run = mlflow.MlflowClient().get_run(run_id)
    except mlflow.exceptions.MlflowException:
        return False  # start_run names the problem
    if run.info.status != "RUNNING":
        return False
    host, pid = run.data.tags.get(HOST_TAG), int(run.data.tags.get(PID_TAG, "0") or 0)
    if not pid or pid == os.getpid():
        return False
    return host != socket.gethostname() or _alive(pid)


def end_dead_runs() -> list[str]:
    """End KILLED the RUNNING runs of this project's experiments (deepfake-*) started on
    this host by a process that no longer exists, and fail their unfinished logged models;
    returns their ids. One search over the project's experiments: RUNNING runs of this
    host are few, whatever the size of the store."""
    from . import queries
    client, ended = mlflow.MlflowClient(), []
    experiments = [e.experiment_id for e in mlflow.search_experiments(
        filter_string=f"name LIKE '{EXPERIMENT_PREFIX}%'")]
    for run in queries.running_on_host(experiments, socket.gethostname(), HOST_TAG):
        pid = int(run.data.tags.get(PID_TAG, "0") or 0)
        if not pid or pid == os.getpid() or _alive(pid):
            continue
        client.set_tag(run.info.run_id, "ended_by", f"process {pid} ended without closing "
                                                    "the run (killed)")
        client.set_terminated(run.info.run_id, "KILLED")
        fail_pending_models(run.info.run_id)
        ended.append(run.info.run_id)
    if ended:
        log.info("ended %d run(s) left RUNNING by dead processes: %s", len(ended),
                 ", ".join(ended))
    return ended


def fail_pending_models(run_id: str) -> list:
    """A logged model left PENDING (its process died while logging it) is marked FAILED;
    returns the run's models as they stand after that."""
    from mlflow.entities import LoggedModelStatus
    from . import queries
    models = queries.logged_models(run_id)
    for i, model in enumerate(models):
        if model.status == LoggedModelStatus.PENDING:
            models[i] = mlflow.MlflowClient().finalize_logged_model(model.model_id,
                                                                    LoggedModelStatus.FAILED)
    return models


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

    from .faces.index import faces_digest  # the file's hash, once per file version
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
