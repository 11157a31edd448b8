"""The GPU code paths, exercised on the CPU: devices passed through, bf16 autocast, a
checkpoint resumed under another precision, DistributedDataParallel with gloo through a
real torchrun. tests/test_cuda.py runs the same paths on a GPU where there is one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch

from deepfake_mlflow import accel
from deepfake_mlflow.cli import main
from deepfake_mlflow.errors import UserInputError
from deepfake_mlflow.scoring import Scorer
from deepfake_mlflow.model import create, save_weights
from deepfake_mlflow.stages.train import run as run_train
from deepfake_mlflow.train.data import BalancedBatches, TripletBatches, shard
from deepfake_mlflow.train.loop import CHECKPOINT

from helpers import metric_history, tiny


@pytest.fixture
def no_cuda(monkeypatch):
    """Mocked: this machine has no GPU either way; the mock makes the test mean the same
    on a GPU machine."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_device_specs_resolve_or_fail_clearly(no_cuda):
    assert accel.resolve_device("auto") == torch.device("cpu")
    assert accel.resolve_device("CPU") == torch.device("cpu")
    with pytest.raises(UserInputError, match="CUDA is not available"):
        accel.resolve_device("cuda:1")
    with pytest.raises(UserInputError, match="expected one of auto, cpu, cuda, cuda:N"):
        accel.resolve_device("tpu")
    assert accel.resolve_precision("auto", torch.device("cpu")).name == "fp32"
    assert accel.resolve_precision("bf16", torch.device("cpu")).dtype == torch.bfloat16
    with pytest.raises(UserInputError, match="fp16 needs a CUDA device"):
        accel.resolve_precision("fp16", torch.device("cpu"))
    with pytest.raises(UserInputError, match="expected one of auto, fp32, bf16, fp16"):
        accel.resolve_precision("int8", torch.device("cpu"))


@pytest.mark.parametrize("command", [
    ["train", "ff", "--device", "cuda"],
    ["evaluate", "models:/m-0", "ff", "--device", "cuda"],
    ["predict", "models:/m-0", "video.mp4", "--device", "cuda:0"],
])
def test_cuda_without_cuda_is_one_line_and_exit_2(command, no_cuda, faces_ff, capsys):
    if command[0] == "train":
        command = command + ["--faces", str(faces_ff)]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CUDA is not available on this machine" in err
    assert "Traceback" not in err


def test_shards_of_a_batch_are_the_batch_and_keep_triplets_whole():
    labels = torch.tensor([0.0] * 20 + [1.0] * 20)
    balanced = BalancedBatches(labels, 8, seed=3).batch(7)
    parts = [shard(balanced, rank, 2) for rank in range(2)]
    assert sorted(parts[0] + parts[1]) == sorted(balanced)
    for part in parts:  # each rank still gets half real, half fake
        assert sum(labels[i].item() for i, _ in part) == len(part) / 2
    triplets = TripletBatches(labels, 4, seed=3).batch(7)
    for rank in range(2):
        part = shard(triplets, rank, 2, group=3)
        for k in range(0, len(part), 3):
            a, p, n = (labels[i].item() for i, _ in part[k:k + 3])
            assert a == p != n


def test_bf16_on_the_cpu_trains_and_scores(faces_ff, tmp_path):
    result = run_train(tiny(faces_ff, precision="bf16"))
    run = mlflow.get_run(result.run_id)
    assert run.data.params["precision_used"] == "bf16" and run.data.tags["precision"] == "bf16"
    assert run.data.params["device_used"] == "cpu" and run.data.tags["device"] == "cpu"
    assert run.data.params["device_name"] and float(run.data.params["device_memory_gb"]) > 0
    mlflow.flush_async_logging()
    losses = metric_history(result.run_id, "train_loss")
    assert len(losses) == 4 and all(np.isfinite(losses))
    crops = np.random.default_rng(0).integers(0, 255, (6, 64, 64, 3), dtype=np.uint8)
    exact = Scorer(result.weights, "test_efficientnet", 64,
                   accel.Compute.resolve("cpu")).score(crops)
    fast = Scorer(result.weights, "test_efficientnet", 64,
                  accel.Compute.resolve("cpu", "bf16")).score(crops)
    assert fast.dtype == np.float32 and np.allclose(fast, exact, atol=0.1)


def test_a_checkpoint_resumes_under_another_precision(faces_ff, interrupted):
    part = interrupted(run_train, tiny(faces_ff, max_iters=6), at=4)  # fp32, a run id
    resumed = run_train(tiny(faces_ff, max_iters=6, precision="bf16", resume=part))
    assert resumed.run_id == part
    run = mlflow.get_run(part)
    assert run.data.tags["precision"] == "bf16"  # where it runs now
    assert run.data.params["precision_used"] == "fp32"  # params keep the first session's
    state = torch.load(faces_ff.parent / "runs" / part / CHECKPOINT,
                       weights_only=True)
    assert state["iteration"] == 6
    mlflow.flush_async_logging()
    assert len(metric_history(part, "val_loss")) == 3


def test_a_scorer_keeps_uint8_inputs_exact_against_the_float_reference(tmp_path):
    """The device-side preprocessing equals the textbook normalisation, in fp32."""
    weights = save_weights(create("test_efficientnet", "none"), tmp_path / "w.safetensors")
    crops = np.random.default_rng(1).integers(0, 255, (3, 32, 32, 3), dtype=np.uint8)
    scorer = Scorer(weights, "test_efficientnet", 32, accel.Compute.resolve("cpu"))
    mean = np.array([0.485, 0.456, 0.406], np.float32) * 255
    std = np.array([0.229, 0.224, 0.225], np.float32) * 255
    x = torch.from_numpy(((crops - mean) / std).transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        reference = scorer.model(x).numpy()
    assert np.allclose(scorer.score(crops), reference, atol=1e-5)


@pytest.mark.slow
def test_torchrun_with_two_gloo_processes_equals_one_process(faces_ff, tmp_path):
    """2 processes x 2 faces = 1 process x 4 faces: one MLflow run, one checkpoint folder
    (rank 0's), and the same loss curve. A LayerNorm EfficientNet keeps the statistics of
    a batch out of the comparison: on the CPU BatchNorm is not synchronised (CUDA only)."""
    store = f"sqlite:///{tmp_path}/ddp.db"
    faces = tmp_path / "ddp" / "faces.parquet"
    faces.parent.mkdir()
    faces.write_bytes(faces_ff.read_bytes())
    (faces.parent / "faces").symlink_to(faces_ff.parent / "faces")
    options = ["--faces", str(faces), "--model", "test_efficientnet_ln", "--pretrained", "none",
               "--size", "64", "--batch-size", "4", "--max-iters", "6", "--val-interval", "3",
               "--val-size", "8", "--workers", "0", "--device", "cpu", "--augment", "HF"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": store, "OMP_NUM_THREADS": "1"}
    torchrun = Path(sys.executable).with_name("torchrun")
    done = subprocess.run([str(torchrun), "--nproc-per-node", "2", "--master-port", "29517",
                           "-m", "deepfake_mlflow.cli", "train", "ff", *options],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("best validation loss") == 1  # one summary, from rank 0
    mlflow.set_tracking_uri(store)
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert len(runs) == 1
    ddp = runs[0]
    assert ddp.data.params["world_size"] == "2" and ddp.data.tags["world_size"] == "2"
    assert [p.name for p in (faces.parent / "runs").iterdir()] == [ddp.info.run_id]

    single = subprocess.run([sys.executable, "-m", "deepfake_mlflow.cli", "train", "ff",
                             *options], env=env, capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    one = [r for r in mlflow.search_runs(search_all_experiments=True, output_format="list")
           if r.info.run_id != ddp.info.run_id][0]
    assert one.data.params["world_size"] == "1"
    for key in ("train_loss", "val_loss"):
        a, b = metric_history(ddp.info.run_id, key), metric_history(one.info.run_id, key)
        assert len(a) == len(b) == (6 if key == "train_loss" else 2)
        assert np.allclose(a, b, rtol=1e-4, atol=1e-5), (key, a, b)


def test_a_global_batch_that_does_not_split_over_the_processes_is_refused(faces_ff,
                                                                           monkeypatch, capsys):
    """torchrun's environment, set by hand: the check runs before any process group."""
    for key, value in {"RANK": "0", "WORLD_SIZE": "3", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(key, value)
    assert main(["train", "ff", "--faces", str(faces_ff), "--device", "cpu"]) == 2
    assert "batch_size=32 does not split evenly over 3 processes" in capsys.readouterr().err
    # bce never draws triplets: triplets=10 over 4 processes does not matter
    from deepfake_mlflow.train.config import TrainConfig
    from deepfake_mlflow.train.runtime import Runtime
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert Runtime.of(TrainConfig(dataset="ff", device="cpu")).world.size == 4


def test_the_logged_model_device_comes_from_the_loader_or_the_environment(
        faces_ff, no_cuda, monkeypatch):
    from deepfake_mlflow.stages.predict import load
    trained = run_train(tiny(faces_ff))
    run = mlflow.get_run(trained.run_id)
    assert run.data.params["device"] == "auto"  # the model's logging added no param
    uri = f"models:/{run.outputs.model_outputs[0].model_id}"
    model = mlflow.pyfunc.load_model(uri)  # auto: the CPU here
    assert model.unwrap_python_model().scorer.device == torch.device("cpu")
    model.unwrap_python_model().close()
    monkeypatch.setenv("DEEPFAKE_MLFLOW_DEVICE", "cuda")  # as for `mlflow models serve`
    with pytest.raises(Exception, match="CUDA is not available"):
        mlflow.pyfunc.load_model(uri)
    model = load(uri, device="cpu")  # predict --device wins over the environment
    assert model.unwrap_python_model().scorer.device == torch.device("cpu")
    model.unwrap_python_model().close()
    assert os.environ["DEEPFAKE_MLFLOW_DEVICE"] == "cuda"  # and leaves it as it was
