"""Shared fixtures. Nothing here downloads at test time: the BlazeFace models and the demo
faces come from the cache that `make setup` fills (deepfake-mlflow fetch)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("GLOG_minloglevel", "2")

from helpers import tracking_into  # noqa: E402 - after the environment above

CORPUS_SIZE = 6  # the smallest corpus with every split populated
# fixtures that build real data or start real services (a corpus, extracted faces, the
# tiny demo study, PostgreSQL): a test that needs one is an integration test
INTEGRATION_FIXTURES = {"corpus", "faces_ff", "faces_celebdf", "tiny_demo", "demo_store",
                        "postgres"}


def pytest_collection_modifyitems(items):
    """Mark integration tests by what they use, so that `make test-fast` (-m "not
    integration and not slow") runs the pure and unit tests alone."""
    for item in items:
        if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def isolated_mlflow(tmp_path, monkeypatch):
    """Every test gets its own SQLite store and artifact folder, as the embedded default."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.setenv("DEEPFAKE_MLFLOW_WORKSPACE", str(tmp_path / "workspace"))
    from deepfake_mlflow.tracking.store import configure
    configure()  # each test is an entry point, as the command line is
    # MLflow copies the URI into the environment: gone again, so that a command a test
    # runs in another folder finds its own default store there, as a new process would
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield tmp_path
    import mlflow
    while mlflow.active_run():
        mlflow.end_run()


@pytest.fixture(scope="session")
def tiny_video(tmp_path_factory) -> Path:
    """A real 12-frame H.264 mp4 written with PyAV, copied wherever a layout needs a video."""
    from deepfake_mlflow.corpus.video import write_video
    path = tmp_path_factory.mktemp("video") / "tiny.mp4"
    rng = np.random.default_rng(0)
    write_video(path, [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(12)])
    return path


@pytest.fixture
def place(tiny_video):
    """place(root, "a/b.mp4", ...) copies the tiny video to each relative path."""
    def _place(root: Path, *rels: str) -> None:
        for rel in rels:
            target = Path(root) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tiny_video, target)
    return _place


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """The demo corpus at its smallest size, built once for the session (real faces).
    DEEPFAKE_MLFLOW_TEST_CORPUS names one built earlier (a GPU machine without PyAV's
    encoder gets it carried over)."""
    prebuilt = os.environ.get("DEEPFAKE_MLFLOW_TEST_CORPUS")
    if prebuilt:
        return Path(prebuilt)
    from deepfake_mlflow.corpus import build_corpus
    out = tmp_path_factory.mktemp("corpus")
    build_corpus(out, size=CORPUS_SIZE, seed=0)
    return out


def _extracted(corpus: Path, work: Path, dataset: str) -> Path:
    """Index and extract one corpus dataset (8 frames per video, 64 px faces) in a store of
    its own, away from the tests' stores; returns the faces index path."""
    from deepfake_mlflow.stages import extract, index

    with tracking_into(work):
        videos = str(work / dataset / "videos.parquet")
        index.run(index.IndexConfig(dataset, str(corpus / dataset), out=videos))
        extract.run(extract.ExtractConfig(dataset, str(corpus / dataset), index=videos,
                                          frames=8, size=64, workers=2, progress=False))
    return work / dataset / "faces.parquet"


@pytest.fixture(scope="session")
def faces_ff(corpus, tmp_path_factory) -> Path:
    """The corpus's FF++ faces, extracted once for the session."""
    return _extracted(corpus, tmp_path_factory.mktemp("faces_ff"), "ff")


@pytest.fixture(scope="session")
def faces_celebdf(corpus, tmp_path_factory) -> Path:
    """The corpus's Celeb-DF faces, extracted once for the session."""
    return _extracted(corpus, tmp_path_factory.mktemp("faces_celebdf"), "celebdf")


# the demo study's shape (every part of it) on two training sets, two iterations a phase
TINY_DEMO = {
    "name": "tiny-demo",
    "train_datasets": ["ff", "celebdf"],
    "test_datasets": ["ff", "dfd", "dfdc", "celebdf"],
    "losses": ["bce", "triplet"],
    "augmentations": ["NONE", "SELECTED"],
    "train": {"model": "test_efficientnet", "pretrained": "none", "size": 64, "batch_size": 4,
              "triplets": 2, "max_iters": 2, "val_interval": 1, "val_size": 8, "workers": 0},
    "evaluate": {"mds": "celebdf", "gallery": 1},
    "data_limited": {"dataset": "ff", "videos_per_class": [2], "losses": ["bce", "triplet"]},
    "ablation": {"dataset": "ff", "mode": "grid", "test_datasets": "ff,celebdf",
                 "augmentations": ["NONE", "HF", "BC", "HSV", "JPEG"]},  # as the demo's
    "promote": True,
    "robustness": {"jpeg_qualities": [50], "scales": [0.5]},
}


@pytest.fixture(scope="session")
def tiny_demo(corpus, tmp_path_factory) -> dict:
    """`make demo` run once for the session with the tiny study, in a store of its own:
    its results, its folder and its tracking URI (tests reach it through demo_store)."""
    import yaml

    from deepfake_mlflow.stages.demo import DemoConfig
    from deepfake_mlflow.stages.demo import run as run_demo

    work = tmp_path_factory.mktemp("tiny_demo")
    shutil.copytree(corpus, work / "demo" / "corpus")  # a finished corpus is reused
    study = work / "tiny-demo.yaml"
    study.write_text(yaml.safe_dump(TINY_DEMO))
    with tracking_into(work, chdir=True) as uri:  # the demo sets its own workspace
        cfg = DemoConfig(str(work / "demo"), size=CORPUS_SIZE, seed=0, study=str(study))
        results = run_demo(cfg)
    return {"results": results, "config": cfg, "folder": work, "uri": uri}


@pytest.fixture
def demo_store(tiny_demo, monkeypatch):
    """The tiny demo's store as this test's tracking store."""
    from deepfake_mlflow.tracking.store import configure
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tiny_demo["uri"])
    configure()
    return tiny_demo


@pytest.fixture
def interrupted(monkeypatch):
    """interrupted(run, cfg, at): run `run(cfg)` and stop it like Ctrl-C right after the
    checkpoint of iteration `at` is written (a real KeyboardInterrupt through the real
    code); returns the id of the run it left KILLED."""
    import mlflow

    from deepfake_mlflow.train import loop

    def _interrupted(run, cfg, at: int) -> str:
        original = loop.save_checkpoint

        def save_then_stop(path, **state):
            original(path, **state)
            if state["iteration"] >= at:
                raise KeyboardInterrupt

        monkeypatch.setattr(loop, "save_checkpoint", save_then_stop)
        try:
            with pytest.raises(KeyboardInterrupt):
                run(cfg)
        finally:
            monkeypatch.setattr(loop, "save_checkpoint", original)
        (killed,) = mlflow.search_runs(search_all_experiments=True, output_format="list",
                                       filter_string="attributes.status = 'KILLED'",
                                       order_by=["attributes.start_time DESC"], max_results=1)
        return killed.info.run_id
    return _interrupted
