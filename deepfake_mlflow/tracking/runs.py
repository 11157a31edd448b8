"""The run life cycle: every run of the project opens through stage_run, which names, tags
and ends it (FINISHED, FAILED, KILLED), reuses the run `mlflow run` made (launched_run),
makes a study's task on a worker a child of the study's run (children_of), and ends the
runs of processes that died (end_dead_runs)."""

from __future__ import annotations

import logging
import os
import socket
from contextlib import contextmanager
from typing import Iterator

import mlflow

from .. import naming, queries
from ..errors import EndedEarly, ReportedError, TrackingUnavailable, UserInputError, first_line
from ..naming import EXPERIMENT_PREFIX
from ..scoped_env import scoped_env
from .experiments import experiment_id, experiment_name
from .logs import log_params
from .store import check_reachable, quick_requests, store_lost, store_problem

log = logging.getLogger(__name__)

HOST_TAG, PID_TAG = "host", "pid"  # where a run's process runs: dead runs are found by them


_PATIENT = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3", "MLFLOW_HTTP_REQUEST_TIMEOUT": "60"}


@contextmanager
def stage_run(stage: str, run_name: str | None = None, tags: dict | None = None,
              params: dict | None = None, run_id: str | None = None,
              system_metrics: bool = False) -> Iterator[mlflow.ActiveRun]:
    """One run of an entry point: a child run if a study run is active, else a top run.
    With run_id, the run is reopened (a resumed training continues in the same run).

    The run ends FINISHED, FAILED, or KILLED (Ctrl-C, SIGTERM); a run whose process died
    without ending it (kill -9, a lost machine) is ended KILLED by the next stage started
    on the same host. A store that cannot be reached fails in seconds with one line."""
    uri = mlflow.get_tracking_uri()  # configure()d by the entry point
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
                                  f"({store_problem(err) or first_line(err)})") from None
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
        lost = store_lost(err, uri)
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
    experiment = mlflow.MlflowClient().get_run(run_id).info.experiment_id
    saved = dict(_ADOPTED)
    _ADOPTED.update(run_id=run_id, experiment_id=experiment)
    try:
        yield
    finally:
        _ADOPTED.clear()
        _ADOPTED.update(saved)


@contextmanager
def launched_run(entry: str, stage: str | None) -> Iterator[mlflow.ActiveRun | None]:
    """Under `mlflow run` (MLFLOW_RUN_ID set), the run MLflow made for the entry point is
    opened around the whole command and named and tagged as the entry point's stage: the
    stage's own run is this run, and a step made on the way (the index an extract needs)
    is its child run, as in a study. `stage`: the experiment the entry point's runs go to
    (stages.STAGES), None for one whose work logs no run (predict). Without MLFLOW_RUN_ID,
    nothing happens."""
    if not os.environ.get("MLFLOW_RUN_ID") or mlflow.active_run() is not None:
        yield None
        return
    # taken out of the environment: MLflow would give it to the next run started (the
    # index on the way), and worker processes would inherit it
    run_id = os.environ.pop("MLFLOW_RUN_ID")
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


def end_descendants(run_id: str, reason: str, status: str = "KILLED") -> list[str]:
    """End `status` every RUNNING run beneath `run_id` (at any depth): the runs of a
    study's tasks that workers of a cluster were running when the coordinator was stopped
    (their processes may live on elsewhere; the study's record must not). One search of
    the RUNNING runs of the run's experiment, then each one's ancestors: RUNNING runs are
    few, whatever the size of the store. Returns their ids."""
    client = mlflow.MlflowClient()
    experiment = client.get_run(run_id).info.experiment_id
    running = {r.info.run_id: r for r in queries.runs({}, status="RUNNING",
                                                        experiments=[experiment])}
    parents: dict[str, str | None] = {}

    def parent_of(rid: str) -> str | None:
        if rid not in parents:
            run = running.get(rid) or client.get_run(rid)
            parents[rid] = run.data.tags.get("mlflow.parentRunId")
        return parents[rid]

    ended = []
    for rid in running:
        seen, up = {rid}, parent_of(rid)
        while up is not None and up != run_id and up not in seen:
            seen.add(up)
            up = parent_of(up)
        if up == run_id:
            client.set_tag(rid, "ended_by", reason)
            client.set_terminated(rid, status)
            fail_pending_models(rid)
            ended.append(rid)
    if ended:
        log.info("ended %d run(s) of the study's tasks %s: %s", len(ended), status,
                 ", ".join(ended))
    return ended


def fail_pending_models(run_id: str) -> list:
    """A logged model left PENDING (its process died while logging it) is marked FAILED;
    returns the run's models as they stand after that."""
    from mlflow.entities import LoggedModelStatus
    models = queries.logged_models(run_id)
    for i, model in enumerate(models):
        if model.status == LoggedModelStatus.PENDING:
            models[i] = mlflow.MlflowClient().finalize_logged_model(model.model_id,
                                                                    LoggedModelStatus.FAILED)
    return models
