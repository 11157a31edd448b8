"""The same commands on a CUDA GPU: train, resume across devices, evaluate, the logged
model. Skipped where there is no GPU (tests/test_devices.py runs these code paths on the
CPU); run on the GPU machine by benchmarks/gpu_check.sh."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch

from deepfake_mlflow.evaluation.config import EvaluateConfig
from deepfake_mlflow.stages import evaluate
from deepfake_mlflow.stages.predict import load
from deepfake_mlflow.stages.train import run as run_train
from deepfake_mlflow.train.loop import CHECKPOINT

from helpers import metric_history, tiny

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_train_on_cuda_in_bf16_logs_the_gpu(faces_ff):
    result = run_train(tiny(faces_ff, device="cuda", precision="auto"))
    run = mlflow.get_run(result.run_id)
    assert run.data.tags["device"] == "cuda:0" and run.data.params["device_used"] == "cuda:0"
    assert run.data.params["device_name"] == torch.cuda.get_device_name(0)
    expected = "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp32"
    assert run.data.params["precision_used"] == expected
    mlflow.flush_async_logging()
    losses = metric_history(result.run_id, "train_loss")
    assert len(losses) == 4 and all(np.isfinite(losses))


def test_fp16_trains_with_a_gradient_scaler(faces_ff):
    result = run_train(tiny(faces_ff, device="cuda", precision="fp16", loss="triplet"))
    state = torch.load(result.weights.parent / CHECKPOINT, weights_only=True)
    assert state["scaler"]["scale"] > 0  # the scaler's state travels with the checkpoint
    assert np.isfinite(result.best_val_loss)


def test_a_cpu_checkpoint_resumes_on_cuda_and_back(faces_ff, interrupted):
    # one run of 8 iterations: stopped at 4 on the CPU, at 6 on the GPU, finished on the CPU
    run_id = interrupted(run_train, tiny(faces_ff, max_iters=8, device="cpu"), at=4)
    again = interrupted(run_train, tiny(faces_ff, max_iters=8, device="cuda", precision="fp32",
                                        resume=run_id), at=6)
    assert again == run_id
    assert mlflow.get_run(run_id).data.tags["device"] == "cuda:0"
    run_train(tiny(faces_ff, max_iters=8, device="cpu", resume=run_id))
    state = torch.load(faces_ff.parent / "runs" / run_id / CHECKPOINT, weights_only=True)
    assert state["iteration"] == 8
    assert len(metric_history(run_id, "train_loss")) == 8  # every point once
    assert mlflow.get_run(run_id).info.status == "FINISHED"


def test_evaluate_on_cuda_equals_the_cpu(faces_ff):
    trained = run_train(tiny(faces_ff))
    on_gpu, on_cpu = (evaluate.run(EvaluateConfig(
        trained.run_id, {"ff": faces_ff}, robustness="none", mds="none", device=device))
        for device in ("cuda", "cpu"))
    assert np.allclose(on_gpu["auc_frame"], on_cpu["auc_frame"], atol=1e-3)
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list",
                              filter_string="tags.stage = 'evaluate'")
    assert {r.data.params["device"] for r in runs} == {"cuda:0", "cpu"}


def test_the_logged_model_scores_a_video_on_cuda_as_on_the_cpu(faces_ff, corpus):
    trained = run_train(tiny(faces_ff))
    uri = f"models:/{mlflow.get_run(trained.run_id).outputs.model_outputs[0].model_id}"
    videos = sorted(str(v) for v in (corpus / "ff").rglob("*.mp4"))[:3]
    scores = {}
    for device in ("cuda", "cpu"):
        model = load(uri, device=device)
        assert model.unwrap_python_model().scorer.device.type == device
        scores[device] = model.predict(pd.DataFrame({"video": videos}))
        model.unwrap_python_model().close()
    assert (scores["cuda"]["status"] == "ok").all()
    assert np.allclose(scores["cuda"]["p_fake"], scores["cpu"]["p_fake"], atol=1e-3)


def test_the_serving_device_follows_the_environment(faces_ff, monkeypatch):
    trained = run_train(tiny(faces_ff))
    uri = f"models:/{mlflow.get_run(trained.run_id).outputs.model_outputs[0].model_id}"
    model = mlflow.pyfunc.load_model(uri)
    assert model.unwrap_python_model().scorer.device.type == "cuda"  # auto: the GPU
    model.unwrap_python_model().close()
    monkeypatch.setenv("DEEPFAKE_MLFLOW_DEVICE", "cpu")
    model = mlflow.pyfunc.load_model(uri)
    assert model.unwrap_python_model().scorer.device.type == "cpu"
    model.unwrap_python_model().close()
