"""Where an ablation's trials live: the Optuna storage, its study and the grid's queue.

The study is kept in an Optuna RDB storage (SQLite beside the tracking store by default,
any SQLAlchemy URL such as PostgreSQL to share it between workers). Grid points are queued
trials that workers pop one each; a trial whose worker stops beating its heartbeat is
failed and queued again; the study's user attributes name its MLflow parent run, its
options (for `worker`) and its fingerprint.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path

from .. import config
from ..errors import TRACKING_EXIT_CODE, ReportedError, UserInputError

SURPLUS = "surplus"  # user attr of a trial that found the grid taken (several workers)
GRID_POINT = "grid_point"  # user attr of a queued grid trial (and of its retries)
INTERRUPTED = "interrupted"  # user attr of a trial stopped by Ctrl-C or SIGTERM: run again


def default_storage() -> str:
    """sqlite:///optuna.db in the folder of the SQLite tracking store (or here)."""
    import mlflow
    uri = mlflow.get_tracking_uri()  # as the entry point configured it
    folder = Path(uri.removeprefix("sqlite:///")).resolve().parent \
        if uri.startswith("sqlite:///") else Path.cwd()
    return f"sqlite:///{folder / 'optuna.db'}"


class StorageUnavailable(ReportedError):
    """The Optuna storage cannot be reached or opened (a database down, a folder that
    does not exist): one line naming the storage (password masked), exit 3 as for the
    tracking store."""

    exit_code = TRACKING_EXIT_CODE


@contextmanager
def storage_errors(url: str):
    """The Optuna storage's failures as one line each: a URL that cannot be parsed is bad
    input (exit 2); a database that cannot be reached or opened exits 3."""
    from sqlalchemy import exc

    from ..errors import first_line
    try:
        yield
    except (exc.ArgumentError, ValueError, ModuleNotFoundError) as err:
        raise UserInputError(f"--storage {shown_url(url)}: not a usable SQLAlchemy URL "
                             f"({first_line(err)})") from None
    except exc.SQLAlchemyError as err:
        raise StorageUnavailable(f"Optuna storage {shown_url(url)} cannot be used "
                                 f"({first_line(getattr(err, 'orig', None) or err)})") from None


def open_storage(url: str, heartbeat_s: float):
    """The RDB storage at `url`, with heartbeats every `heartbeat_s` (whole seconds): a
    trial silent for 3 of them is failed and retried up to config.ABLATION_MAX_RETRY times."""
    import optuna
    with warnings.catch_warnings():  # "experimental" since Optuna 2.8: said once, here
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(
            max_retry=config.ABLATION_MAX_RETRY)
    beat = heartbeat_seconds(heartbeat_s)
    return optuna.storages.RDBStorage(url, heartbeat_interval=beat, grace_period=3 * beat,
                                      heartbeat_stale_trial_callback=retry)


def heartbeat_seconds(heartbeat_s: float) -> int:
    return max(1, round(heartbeat_s))  # Optuna counts heartbeats in whole seconds


def check_fingerprint(study, cfg, storage_url: str) -> None:
    """A study named with --study is resumed only with the options and faces its trials
    ran with: anything else would mix trials that no longer compare."""
    from ..errors import UserInputError
    now, then = cfg.fingerprint(), study.user_attrs.get("fingerprint")
    if then is None:
        study.set_user_attr("fingerprint", now)
    elif then != now:
        raise UserInputError(
            f"Optuna study {study.study_name!r} in {shown_url(storage_url)} holds trials of "
            f"other training options or faces (fingerprint {then}, here {now}): name a new "
            "study with --study, or leave --study out to use "
            f"ablation-{cfg.dataset}-{cfg.mode}-{cfg.loss}-{now}; a worker must read the "
            "faces the study was started on")


def shown_url(url: str) -> str:
    """A storage URL as it may be shown and logged: its password masked."""
    from sqlalchemy.engine import make_url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not an SQLAlchemy URL: Optuna will say so
        return url


def parent_run_id(study) -> str | None:
    import mlflow
    run_id = study.user_attrs.get("mlflow_parent_run_id")
    if run_id is None:
        return None
    try:
        mlflow.get_run(run_id)
    except mlflow.exceptions.MlflowException:  # a study kept, its tracking store not
        return None
    return run_id


def remaining(study, cfg) -> int:
    """Trials still to run: a finished trial (complete, pruned or failed) is never redone;
    a trial re-queued by the heartbeat (its worker died) is, and an interrupted one does not
    count against a search's budget."""
    from optuna.trial import TrialState
    trials = [t for t in study.trials if SURPLUS not in t.user_attrs]
    waiting = sum(t.state == TrialState.WAITING for t in trials)
    if cfg.mode == "grid":  # every point not yet run is a queued (waiting) trial
        return waiting
    finished = sum(t.state.is_finished() and INTERRUPTED not in t.user_attrs for t in trials)
    return max(0, cfg.trials - finished - len(running(study))) + waiting


def enqueue_grid(study, points: list[str]) -> None:
    """Queue each grid point that no trial holds yet, as a trial of its own: workers pop
    queued trials one each (Optuna's storage hands a waiting trial to one worker), so with
    any number of workers every point runs once. A trial that failed because its worker
    was interrupted holds nothing: the next run of the study queues its point again."""
    from optuna.trial import TrialState
    held = set()
    for t in study.trials:
        if SURPLUS in t.user_attrs:
            continue
        if t.state == TrialState.FAIL and INTERRUPTED in t.user_attrs:
            continue  # stopped from outside (Ctrl-C, SIGTERM), not by its own fault: again
        if t.state == TrialState.FAIL and t.user_attrs.get(GRID_POINT) and any(
                r.state != TrialState.FAIL and r.user_attrs.get(GRID_POINT) ==
                t.user_attrs[GRID_POINT] for r in study.trials):
            continue  # failed, and re-queued by the heartbeat
        held.add(t.user_attrs.get(GRID_POINT) or t.params.get("augment"))
    for point in points:
        if point not in held:
            study.enqueue_trial({"augment": point}, user_attrs={GRID_POINT: point})


def running(study) -> list:
    from optuna.trial import TrialState
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if SURPLUS not in t.user_attrs]
