"""Real services for the team-scale tests: a PostgreSQL server from Debian's packages and
MLflow tracking servers on it, each on 127.0.0.1, started for the test session.

PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user
that Debian's package creates. DEEPFAKE_MLFLOW_TEST_POSTGRES (postgresql://user@host:port)
names a server that already runs instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import free_port

USER = "deepfake"


def _missing(what: str):
    if os.environ.get("CI"):
        pytest.fail(f"{what}: `make setup` installs Debian's postgresql")
    pytest.skip(what)


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def postgres():
    """A PostgreSQL cluster of its own (trust auth, on 127.0.0.1 only): yields the base URL
    postgresql://deepfake@127.0.0.1:<port>; stopped and removed at the end."""
    given = os.environ.get("DEEPFAKE_MLFLOW_TEST_POSTGRES")
    if given:
        yield given.rstrip("/")
        return
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        _missing("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb)")
    bin_dir = Path(found[-1]).parent
    # pytest's folders are root's alone (mode 700): the cluster lives where its owner can go
    folder = Path(tempfile.mkdtemp(prefix="deepfake-postgres-"))
    folder.chmod(0o755)
    data = folder / "pgdata"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(data, "postgres")
    port = free_port()
    subprocess.run(_as_owner([str(bin_dir / "initdb"), "-D", str(data), "-U", USER,
                              "-A", "trust", "--no-sync"]), check=True, capture_output=True)
    log = folder / "postgres.log"
    subprocess.run(_as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
                              "-o", f"-h 127.0.0.1 -p {port} -k {data} -c fsync=off", "start"]),
                   check=True, capture_output=True)
    try:
        yield f"postgresql://{USER}@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast",
                                  "stop"]), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def create_database(base_url: str, name: str) -> str:
    import psycopg
    with psycopg.connect(f"{base_url}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"{base_url}/{name}"


@contextmanager
def tracking_server(backend_uri: str, folder: Path, extra: list[str] = (), env: dict = None):
    """`mlflow server` on a PostgreSQL store, artifacts proxied into `folder`: yields its URL."""
    import requests
    port = free_port()
    log = (folder / f"mlflow-server-{port}.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri,
         "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1", *extra],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:
            try:
                if requests.get(url + "/health", timeout=2).status_code in (200, 401):
                    break
            except requests.RequestException:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.close()
                raise AssertionError("mlflow server did not start: " + (
                    folder / f"mlflow-server-{port}.log").read_text()[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        if server.poll() is None:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)
        log.close()
