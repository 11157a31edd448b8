"""Running a study's tasks (study.graph): in this process, one after the other (the default),
or as tasks of a Dask distributed cluster, each task started once the tasks it needs are
done, on whichever worker is free.

Why Dask distributed: it is one pure-Python package whose scheduler takes task graphs with
dependencies as they are (a future passed to the task that needs it), reschedules the task
of a worker that died, and places tasks by declared resources (a worker started with
`--resources GPU=1` takes one training at a time). Research groups reach it the ways they
already run jobs: dask-jobqueue's SLURMCluster, the Dask Kubernetes operator or Helm
chart, `dask scheduler` and `dask worker` on any machines, dask-cuda's one worker per
GPU. The study passes run ids and small tables between tasks, never tensors, so Ray's
object store and its larger runtime buy nothing here; submitit reaches SLURM alone.

A task runs the same code on a worker as in this process (study.tasks): its
runs are children of the study's run, with the same names, tags and config hashes, and
are reused or resumed the same way, so the tables, the report and a second invocation do
not depend on where the tasks ran. A task whose worker dies is run again elsewhere
(Dask's rescheduling; a training resumes from its checkpoint); after
`distributed.scheduler.allowed-failures` deaths (3 by default) it fails, with its
dependents, and the others finish.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Iterator

from .plan import StudyPlan
from .tasks import perform
from ..errors import first_line

log = logging.getLogger(__name__)

LOCAL = "local:"  # --scheduler local:N, a cluster of N worker processes on this machine
WORKER_WAIT_S = 120.0  # for the first worker of a cluster to join
TASK_THREADS_ENV = "DEEPFAKE_MLFLOW_TASK_THREADS"  # torch's threads in a worker's task


@dataclass
class Outcome:
    """What one task gave: its value (a run id, a table), or the first line of its failure."""
    key: str
    value: object = None
    error: str | None = None
    counts: dict = field(default_factory=dict)  # trainings run or reused, evaluations reused
    seconds: float = 0.0
    where: str = ""  # host:pid that ran it


@dataclass(frozen=True)
class Work:
    """One task of the study as a callable a worker can be sent: the plan, the study's run
    id, and the environment the coordinator resolved (the tracking store, the workspace),
    which a worker of a cluster adopts for the length of the task."""
    plan: StudyPlan
    parent: str
    env: dict = field(default_factory=dict)
    workers_per_host: dict = field(default_factory=dict)  # of the cluster, as it started

    @classmethod
    def of(cls, plan: StudyPlan, parent: str) -> "Work":
        import mlflow

        from .. import paths
        env = {"MLFLOW_TRACKING_URI": mlflow.get_tracking_uri(),
               "DEEPFAKE_MLFLOW_WORKSPACE": str(paths.workspace().resolve())}
        for name in ("MLFLOW_REGISTRY_URI", "DEEPFAKE_MLFLOW_VERBOSE"):
            if os.environ.get(name):
                env[name] = os.environ[name]
        return cls(plan, parent, env)

    def __call__(self, task, inputs: dict) -> Outcome:
        failed = [key for key in task.needs if key in inputs and inputs[key].error is not None]
        if failed and not task.partial:
            return Outcome(task.key, error=f"needs {failed[0]!r}, which failed")
        values = {key: o.value for key, o in inputs.items() if o.error is None}
        started = time.perf_counter()
        try:
            with self._joined():
                value, counts = perform(self.plan, self.parent, task, values)
        except Exception as err:  # noqa: BLE001 - a failed task is reported, the study goes on
            return Outcome(task.key, error=first_line(err),
                           seconds=time.perf_counter() - started, where=_here())
        return Outcome(task.key, value, counts=counts, seconds=time.perf_counter() - started,
                       where=_here())

    def _joined(self):
        """In the study's own process: nothing to do. On a worker: the coordinator's
        store and workspace, and child runs of the study's run."""
        import mlflow

        from .. import tracking
        from ..scoped_env import scoped_env
        active = mlflow.active_run()
        if active is not None and active.info.run_id == self.parent:
            return contextlib.nullcontext()
        _quiet_worker()
        _share_cores(self.workers_per_host)
        stack = contextlib.ExitStack()
        stack.enter_context(scoped_env(**self.env))
        tracking.store.configure()  # a task on a worker is an entry point: the study's store
        stack.enter_context(tracking.runs.children_of(self.parent))
        return stack


def _here() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _quiet_worker() -> None:
    """A worker prints nothing of its own: the coordinator prints one line per task."""
    from .. import console
    console.setup()
    if not console.verbose():
        logging.getLogger("deepfake_mlflow").setLevel(logging.WARNING)
    os.environ[console.NO_PROGRESS_ENV] = "1"


def _share_cores(workers_per_host: dict) -> None:
    """Torch's threads on a worker: this machine's cores shared by the workers on it (Dask
    starts workers with OMP_NUM_THREADS=1, for tasks that each use one thread; a training or
    an evaluation uses them all). DEEPFAKE_MLFLOW_TASK_THREADS says otherwise."""
    import torch
    from distributed import get_worker
    threads = int(os.environ.get(TASK_THREADS_ENV, "0") or 0)
    if not threads:
        host = _host_of(get_worker().address)
        cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                 else os.cpu_count() or 1)
        threads = max(1, cores // workers_per_host.get(host, 1))
    torch.set_num_threads(threads)


def _host_of(address: str) -> str:
    return address.rsplit(":", 1)[0]


def _line(outcome: Outcome, where: bool = False) -> None:
    place = f"  ({outcome.where})" if where and outcome.where else ""
    if outcome.error is None:
        log.info("%-52s %6.0f s%s", outcome.key, outcome.seconds, place)
    else:
        log.warning("%-52s failed: %s%s", outcome.key, outcome.error, place)


def in_process(tasks: list, work: Work) -> dict[str, Outcome]:
    """Each task in the graph's order, in this process: nothing to start."""
    outcomes: dict[str, Outcome] = {}
    for task in tasks:
        outcomes[task.key] = work(task, {key: outcomes[key] for key in task.needs})
        _line(outcomes[task.key])
    return outcomes


@dataclass
class Cluster:
    """A client of a Dask cluster, and the local cluster it started, if any."""
    scheduler: str
    client: object
    local: object = None


@contextlib.contextmanager
def connected(scheduler: str) -> Iterator[Cluster | None]:
    """The cluster at `scheduler` for the length of a block (None without one): connected
    before the study opens its run, so that a wrong address leaves no run behind."""
    if not scheduler:
        yield None
        return
    client, local = connect(scheduler)
    try:
        yield Cluster(scheduler, client, local)
    finally:
        # workers slow to stop are killed on close, each with a warning of Dask's: not news
        logging.getLogger("distributed.nanny").setLevel(logging.ERROR)
        client.close()
        if local is not None:
            local.close()


def on_cluster(tasks: list, work: Work, cluster: Cluster) -> dict[str, Outcome]:
    """Every task submitted at once to a Dask cluster, each after the tasks it needs; one
    line per task as it finishes, with the worker that ran it; stopped (Ctrl-C), the runs
    its workers were running are ended KILLED with the study's run."""
    client, scheduler = cluster.client, cluster.scheduler
    store = work.env.get("MLFLOW_TRACKING_URI", "")
    if not scheduler.startswith(LOCAL) and store.startswith("sqlite:"):
        log.warning("the tracking store is a SQLite file (%s): every worker must see it at "
                    "that path; a tracking server is the way for many machines "
                    "(deploy/README.md)", store)
    workers = client.scheduler_info()["workers"]
    gpu = any(w.get("resources", {}).get("GPU") for w in workers.values())
    hosts = [_host_of(address) for address in workers]
    work = replace(work, workers_per_host={h: hosts.count(h) for h in set(hosts)})
    futures: dict = {}
    token = uuid.uuid4().hex[:8]  # keys of this invocation alone on a shared scheduler
    for task in tasks:
        needs = {key: futures[key] for key in task.needs}
        futures[task.key] = client.submit(
            work, task, needs, key=f"{task.kind}-{token}-{len(futures)}", pure=False,
            resources={"GPU": 1} if gpu and task.gpu else None)
    log.info("%d tasks on %s%s", len(tasks), shown(scheduler, len(workers)),
             "; trainings take a GPU each" if gpu else "")
    keys = {future.key: key for key, future in futures.items()}
    needs = {task.key: task.needs for task in tasks}
    outcomes: dict[str, Outcome] = {}
    try:
        _gather(futures, keys, needs, outcomes)
    except KeyboardInterrupt:  # Ctrl-C: the workers' runs end with the study's, not later
        from .. import tracking
        client.cancel(list(futures.values()), force=True)
        if cluster.local is not None:  # its workers are this machine's processes: stopped
            cluster.local.close()
        tracking.runs.end_descendants(work.parent, "the study's coordinator was stopped "
                                                   "(Ctrl-C) while a worker ran it")
        raise
    return {task.key: outcomes[task.key] for task in tasks}


def _gather(futures: dict, keys: dict, needs: dict, outcomes: dict) -> None:
    """Each task's outcome as it finishes, one line each (the engine's own failures, a
    dead worker among them, turned into one line each)."""
    from distributed import as_completed
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    for future in as_completed(list(futures.values())):
        key = keys[future.key]
        try:
            outcomes[key] = future.result()
        except Exception as err:  # noqa: BLE001 - the engine's own failures, one line each
            # a task whose dependency errored in the engine gets that error: name the cause
            lost = [k for k in needs[key] if k in outcomes and outcomes[k].error is not None]
            if lost:
                reason = f"needs {lost[0]!r}, which failed"
            elif isinstance(err, KilledWorker):  # more worker deaths than the scheduler allows
                reason = "its worker died each time it ran"
            elif isinstance(err, FutureCancelledError):
                reason = "cancelled"
            else:
                reason = first_line(err)
            outcomes[key] = Outcome(key, error=reason)
        _line(outcomes[key], where=True)


def connect(scheduler: str):
    """(client, cluster): a client of the scheduler at an address (tcp://host:8786) or
    described by a scheduler file (as `dask scheduler --scheduler-file` and dask-jobqueue
    write it), or of a cluster of N local worker processes started here (local:N)."""
    from pathlib import Path

    from distributed import Client, LocalCluster

    from ..errors import UserInputError
    _quiet_engine()
    cluster = None
    try:
        if scheduler.startswith(LOCAL):
            workers = int(scheduler.removeprefix(LOCAL))
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        elif Path(scheduler).suffix == ".json":
            client = Client(scheduler_file=scheduler, timeout="10s")
        else:
            client = Client(scheduler, timeout="10s")
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except (OSError, TimeoutError) as err:
        if cluster is not None:
            cluster.close()
        raise UserInputError(f"--scheduler {scheduler}: no Dask cluster there with a worker "
                             f"({str(err).splitlines()[0] if str(err) else type(err).__name__}"
                             "); start one (`dask scheduler`, then `dask worker ADDRESS`), "
                             "or use local:N") from None
    return client, cluster


def shown(scheduler: str, workers: int) -> str:
    if scheduler.startswith(LOCAL):
        return f"a local Dask cluster of {workers} workers"
    return f"the Dask cluster at {scheduler} ({workers} workers)"


def _quiet_engine() -> None:
    """Dask's own INFO lines (workers starting, the scheduler's address) out of the study's
    console; its warnings (a worker lost) stay."""
    from .. import console
    if not console.verbose():
        for name in ("distributed", "distributed.nanny", "distributed.scheduler",
                     "distributed.core", "distributed.worker"):
            logging.getLogger(name).setLevel(logging.WARNING)
