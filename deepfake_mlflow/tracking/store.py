"""Which tracking store this process uses, whether it answers, and what its drivers' errors
mean, in one line each.

The embedded default is sqlite:///mlflow.db with artifacts in mlartifacts/ beside the
database file (so one store's artifacts never scatter over working directories);
MLFLOW_TRACKING_URI (a tracking server, PostgreSQL behind it) overrides it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import mlflow

from ..errors import TrackingUnavailable, first_line
from ..scoped_env import scoped_env

log = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


DEFAULT_ARTIFACT_DIR = "mlartifacts"


REACH_TIMEOUT_S = 5


_QUICK = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def configure() -> str:
    """Point MLflow at MLFLOW_TRACKING_URI, or at the embedded default; return the URI."""
    # one progress bar per downloaded model file drowns the output of a CLI step
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    if uri.startswith("sqlite:///"):  # a store copied from elsewhere is said so, once
        from ..relocate import warn_if_moved
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


def readable_store() -> bool:
    """For a command that only reads (`reproduce --plan`): False when the store is a SQLite
    file not made yet; a SQLite file that is not a tracking store (an Optuna database, any
    other file) is refused, naming it, before MLflow would write its tables into it. The
    file is opened read-only to look."""
    import sqlite3

    from ..errors import UserInputError
    if not store_exists():
        return False
    uri = tracking_uri()
    if not uri.startswith("sqlite:///"):
        return True  # a server or another database: MLflow's own, or it says so
    path = Path(uri.removeprefix("sqlite:///"))
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro",
                                                uri=True, timeout=5.0)) as db:
            tables = {row[0] for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            found = db.execute("SELECT version_num FROM alembic_version").fetchone() \
                if "alembic_version" in tables else None
    except sqlite3.Error as err:
        raise UserInputError(f"{path}: not a SQLite database ({err}); expected an MLflow "
                             "tracking store") from None
    if not {"experiments", "runs"} <= tables:
        raise UserInputError(f"{path}: not an MLflow tracking store (no experiments or runs "
                             "tables); point MLFLOW_TRACKING_URI at one") from None
    # an older store: MLflow would refuse it too, deep inside; a look never migrates it
    from mlflow.store.db.utils import _get_latest_schema_revision
    wanted = _get_latest_schema_revision()
    if (found[0] if found else None) != wanted:
        raise UserInputError(
            f"{path}: a tracking store of another MLflow schema ({found[0] if found else 'none'}"
            f", this MLflow reads {wanted}); a read-only look leaves it as it is: back it up, "
            f"then `mlflow db upgrade {uri}`")
    return True


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
    from .. import config
    base = (ui_url or config.ui_url()).rstrip("/")
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


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


def store_problem(err: BaseException) -> str | None:
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


def store_lost(err: BaseException, uri: str) -> str | None:
    """What broke, when an error inside a run comes from a store that cannot be used any
    more (a server that died, a database that refuses writes); None for any other error.
    One test for every call a stage makes; a server is asked /health before it is blamed
    for an error MLflow reports without its cause."""
    problem = store_problem(err)
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
