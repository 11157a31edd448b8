"""Team scale on real services: a PostgreSQL server (Debian's), an MLflow tracking server on
it, and ablation workers as separate processes drawing trials from one Optuna study on the
same PostgreSQL (tests/services.py starts them)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import mlflow
import optuna
import pytest

import services
from deepfake_mlflow.ablation.config import GRID
from deepfake_mlflow.ablation.storage import SURPLUS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres():
    with services.postgres() as url:
        yield url


@pytest.fixture(scope="module")
def server(postgres, tmp_path_factory):
    folder = tmp_path_factory.mktemp("server")
    with services.tracking_server(services.create_database(postgres, "mlflow"), folder) as url:
        yield url


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "deepfake_mlflow.cli", *args]


KILLED = ("NONE", "HF", "BC", "HSV", "JPEG")


def _study(postgres, faces_ff, name: str, iters: int = 2,
           points: tuple = GRID) -> tuple[list[str], str]:
    """The command that starts a tiny grid ablation on FF++ (the 9 points of Fig. 3, or
    `points`), and its storage."""
    storage = services.create_database(postgres, name)
    return _cli("ablation", "ff", "--faces", str(faces_ff), "--study", name,
                "--augmentations", ",".join(points),
                "--storage", storage, "--model", "test_efficientnet", "--pretrained", "none",
                "--size", "64", "--batch-size", "4", "--max-iters", str(iters), "--val-interval", "1",
                "--val-size", "8", "--workers", "0", "--test-datasets", "none",
                "--heartbeat", "1"), storage


def _start(command, server, tmp_path, name) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_TRACKING_URI": server,
           "DEEPFAKE_MLFLOW_WORKSPACE": str(tmp_path / "workspace")}
    return subprocess.Popen(command, cwd=tmp_path, env=env, start_new_session=True,
                            stdout=(tmp_path / f"{name}.log").open("w"),
                            stderr=subprocess.STDOUT)


def _finish(process, tmp_path, name, timeout=600) -> None:
    assert process.wait(timeout=timeout) == 0, (tmp_path / f"{name}.log").read_text()[-3000:]


def _complete(storage: str, name: str) -> list:
    study = optuna.load_study(study_name=name, storage=storage)
    return [t for t in study.trials if t.state.name == "COMPLETE" and SURPLUS not in t.user_attrs]


def test_two_workers_run_every_grid_trial_exactly_once_under_one_parent(postgres, server,
                                                                         faces_ff, tmp_path):
    command, storage = _study(postgres, faces_ff, "two-workers")
    started = time.perf_counter()
    first = _start(command, server, tmp_path, "first")  # creates the study, and works
    second = _start(_cli("worker", "two-workers", "--storage", storage), server, tmp_path,
                    "second")  # joins it as soon as it is ready
    _finish(first, tmp_path, "first")
    _finish(second, tmp_path, "second")
    seconds = time.perf_counter() - started

    done = _complete(storage, "two-workers")
    assert sorted(t.params["augment"] for t in done) == sorted(GRID)  # once each
    study = optuna.load_study(study_name="two-workers", storage=storage)
    parent = study.user_attrs["mlflow_parent_run_id"]
    mlflow.set_tracking_uri(server)
    trials = mlflow.search_runs(search_all_experiments=True, output_format="list",
                                filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    assert len(trials) == 9 and all(r.info.status == "FINISHED" for r in trials)
    # the study and the tracking store agree, trial by trial
    assert {t.user_attrs["mlflow_run_id"] for t in done} == {r.info.run_id for r in trials}
    assert {r.data.tags["optuna_trial"] for r in trials} == {str(t.number) for t in done}
    workers = {r.data.tags["pid"] for r in trials}
    assert workers == {str(first.pid), str(second.pid)}  # both drew trials
    print(f"two workers: 9 trials in {seconds:.0f} s")


def test_a_worker_killed_mid_trial_leaves_its_trial_to_the_other(postgres, server, faces_ff,
                                                                  tmp_path):
    # longer trials, five of them: a kill lands mid-trial and the survivor finishes
    command, storage = _study(postgres, faces_ff, "killed-worker", iters=20, points=KILLED)
    first = _start(command, server, tmp_path, "first")
    second = _start(_cli("worker", "killed-worker", "--storage", storage), server, tmp_path,
                    "second")
    mlflow.set_tracking_uri(server)
    deadline = time.monotonic() + 300
    seen = []
    while time.monotonic() < deadline:  # the second worker's first trial, under way
        mine = mlflow.search_runs(search_all_experiments=True, output_format="list",
                                  filter_string=f"tags.pid = '{second.pid}'")
        seen = [(r.info.run_name, r.info.status) for r in mine]
        running = [r for r in mine if "optuna_trial" in r.data.tags
                   and r.info.status == "RUNNING"]
        if running:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"the second worker never started a trial: {seen}")
    os.killpg(second.pid, signal.SIGKILL)
    second.wait()
    _finish(first, tmp_path, "first")

    done = _complete(storage, "killed-worker")
    assert sorted(t.params["augment"] for t in done) == sorted(KILLED)  # none lost, none twice
    study = optuna.load_study(study_name="killed-worker", storage=storage)
    states = {t.state.name for t in study.trials if SURPLUS not in t.user_attrs}
    assert "RUNNING" not in states and "FAIL" in states  # the killed trial: failed, retried
    killed = mlflow.get_run(running[0].info.run_id)
    assert killed.info.status == "KILLED"  # ended by the survivor, not left RUNNING


def test_the_basic_auth_server_refuses_strangers_and_keeps_experiments_apart(postgres,
                                                                             tmp_path):
    """MLflow's basic-auth app on the PostgreSQL store (users in a database of their own):
    no request without credentials, and a user cannot write to another's experiment."""
    import secrets

    import requests

    admin = ("admin", secrets.token_urlsafe(16))  # no password is shipped: made here
    config = tmp_path / "basic_auth.ini"
    config.write_text("[mlflow]\ndefault_permission = READ\n"
                      f"database_uri = {services.create_database(postgres, 'auth')}\n"
                      "admin_username = admin\n"
                      "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
    with services.tracking_server(services.create_database(postgres, "mlflow_auth"), tmp_path,
                                  extra=["--app-name", "basic-auth"],
                                  env={"MLFLOW_AUTH_CONFIG_PATH": str(config),
                                       "MLFLOW_AUTH_ADMIN_PASSWORD": admin[1],
                                       "MLFLOW_FLASK_SERVER_SECRET_KEY":
                                           secrets.token_urlsafe(32)}) as url:
        api = url + "/api/2.0/mlflow"
        assert requests.get(api + "/experiments/search?max_results=1").status_code == 401
        assert requests.get(api + "/experiments/search?max_results=1", auth=admin).ok
        users = {name: (name, secrets.token_urlsafe(12)) for name in ("alice", "bob")}
        for name, credentials in users.items():
            answer = requests.post(url + "/api/2.0/mlflow/users/create", auth=admin,
                                   json={"username": name, "password": credentials[1]})
            assert answer.ok, answer.text
        made = requests.post(api + "/experiments/create", auth=users["alice"],
                             json={"name": "alice-study"})
        assert made.ok, made.text
        experiment = made.json()["experiment_id"]
        theirs = requests.post(api + "/runs/create", auth=users["bob"],
                               json={"experiment_id": experiment})
        assert theirs.status_code == 403  # READ by default: bob may look, not write
        assert requests.get(api + f"/experiments/get?experiment_id={experiment}",
                            auth=users["bob"]).ok
        assert requests.post(api + "/runs/create", auth=users["alice"],
                             json={"experiment_id": experiment}).ok
