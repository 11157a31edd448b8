"""Store queries that must stay fast in a team's store of thousands of runs: promote's
search ordered by the store, and SQLite's table statistics that keep it from a quadratic
plan. Runs are made for real in the test's SQLite store (MLflow's client)."""

from __future__ import annotations

import sqlite3
import time

import mlflow
from mlflow.entities import LoggedModelOutput, Metric

from deepfake_mlflow import registry, tracking


def training(client, experiment, dataset, model, val_loss, with_model=True, final=True,
             status="FINISHED"):
    run = client.create_run(experiment, tags={
        "stage": "train", "final": "true" if final else "false", "dataset": dataset,
        "model": model})
    client.log_batch(run.info.run_id, metrics=[
        Metric("best_val_loss", val_loss, int(time.time() * 1000), 0)])
    if with_model:
        logged = client.create_logged_model(experiment, source_run_id=run.info.run_id)
        client.log_outputs(run.info.run_id, [LoggedModelOutput(logged.model_id, 0)])
    client.set_terminated(run.info.run_id, status)
    return run.info.run_id


def test_promote_picks_each_dataset_and_architectures_best_usable_run():
    tracking.store.configure()
    client = mlflow.MlflowClient()
    experiment = client.create_experiment("deepfake-train")
    other = client.create_experiment("deepfake-reproduce")  # every experiment searched
    ff_b4 = training(client, experiment, "ff", "efficientnet_b4", 0.30)
    training(client, experiment, "ff", "efficientnet_b4", 0.30)  # a tie: the earlier wins
    training(client, experiment, "ff", "efficientnet_b4", 0.10, with_model=False)
    training(client, experiment, "ff", "efficientnet_b4", 0.05, final=False)  # a phase
    training(client, experiment, "ff", "efficientnet_b4", 0.01, status="FAILED")
    training(client, experiment, "ff", "efficientnet_b4", float("nan"))
    ff_r = training(client, other, "ff", "resnet10t", 0.50)
    dfdc = training(client, other, "dfdc", "efficientnet_b4", 0.40)
    best = {key: run.info.run_id for key, run in registry.best_runs().items()}
    assert best == {("ff", "efficientnet_b4"): ff_b4, ("ff", "resnet10t"): ff_r,
                    ("dfdc", "efficientnet_b4"): dfdc}
    assert set(registry.best_runs(["dfdc"])) == {("dfdc", "efficientnet_b4")}


def test_a_grown_sqlite_store_gets_table_statistics_once(tmp_path, monkeypatch):
    """Without statistics, SQLite plans MLflow's search ordered by a metric as a scan of
    every run's metric per run; ANALYZE fixes the plan (benchmarks/scale.py measures)."""
    monkeypatch.setattr(tracking.store, "STATISTICS_FROM_RUNS", 100)
    tracking.store.configure()
    client = mlflow.MlflowClient()
    experiment = client.create_experiment("deepfake-train")
    for i in range(150):  # enough rows for the statistics to change the plan
        training(client, experiment, "ff", "efficientnet_b4", 0.01 * i, with_model=False)
    store = tmp_path / "mlflow.db"
    assert "SCAN metric" in ordered_search_plan(store)  # each run scans every run's metric
    tracking.store._gathered.discard(store)
    tracking.store.configure()
    with sqlite3.connect(store) as db:
        stat = db.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = 'runs'").fetchone()
    assert stat is not None and int(stat[0].split()[0]) == 150
    assert "SCAN metric" not in ordered_search_plan(store)  # looked up per run, not scanned


def ordered_search_plan(store) -> str:
    """SQLite's plan for the shape of MLflow's search of final trainings by validation loss
    (tag joins, DISTINCT, the metric as a left-joined subquery)."""
    query = (
        "SELECT DISTINCT runs.run_uuid, metric.value FROM runs JOIN (SELECT run_uuid FROM tags "
        "WHERE key = 'stage' AND value = 'train') AS stage ON runs.run_uuid = stage.run_uuid "
        "JOIN (SELECT run_uuid FROM tags WHERE key = 'dataset' AND value = 'ff') AS dataset "
        "ON runs.run_uuid = dataset.run_uuid LEFT OUTER JOIN (SELECT run_uuid, value, is_nan "
        "FROM latest_metrics WHERE key = 'best_val_loss') AS metric ON runs.run_uuid = "
        "metric.run_uuid WHERE runs.status = 'FINISHED' ORDER BY metric.value LIMIT 25")
    with sqlite3.connect(store) as db:
        return " ".join(row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + query))
