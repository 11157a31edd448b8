"""The phases of the protocol as data, and how a TrainConfig becomes MLflow runs.

A phase is two steps: _prepare (its data and model) and _run_phase (inside its run: what
it logs, the loop, its model).

Each phase run logs its params, train_loss / val_loss / lr by step (through a local
journal that an outage of the store cannot empty, deepfake_mlflow.journal), system
metrics, the faces index as input, the augmentation pipeline as JSON, the device it ran
on, and (bce, finetune) the best model as an MLflow 3 logged model (deepfake_mlflow.pyfunc:
it scores videos). The run holding a variant's final model (the
bce run; the triplet parent) is tagged final=true: the registry and the cross-dataset
matrix look there. Weights-only checkpoints live beside the faces index, in runs/<run
id>/, and let an interrupted phase resume in the same run, on any device.

Under torchrun (several processes), rank 0 alone opens runs and writes checkpoints; the
other ranks train their share of each batch and learn the run id from rank 0.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import mlflow
import pandas as pd
import torch

from .. import accel, augment, config, distributed, naming, paths, queries, tracking
from ..datasets.schema import read_table
from ..errors import UserInputError
from ..faces.extract import ExtractSettings
from ..faces.index import faces_digest, missing_index_error
from ..journal import MetricJournal
from ..model import create, load_weights
from ..model_refs import resolve
from ..pyfunc import log_video_detector
from ..vocabulary import Loss, PhaseName
from .calibrate import fit_on_validation
from .config import RUNTIME_OPTIONS, TrainConfig
from .data import (TRAINING_COLUMNS, BalancedBatches, FaceCrops, TripletBatches,
                   training_faces)
from .loop import BEST, LoopSettings, PhaseData, fit
from .objectives import BCE, Finetune, Triplet
from .runtime import Runtime


@dataclass(frozen=True)
class TrainResult:
    """What a training gives back: its final run, where its best weights were written (on
    the machine that trained it; None when the run does not say), their validation loss."""
    run_id: str
    weights: Path | None
    best_val_loss: float
    reused: bool = False  # an earlier finished run of the same training (train_or_reuse)

    @classmethod
    def of_run(cls, run: mlflow.entities.Run, reused: bool = False) -> "TrainResult":
        """The result a finished run recorded (a bce run or phase keeps its checkpoint
        folder as a param; a triplet parent's weights are its last phase's: None here)."""
        folder = run.data.params.get("checkpoint_dir")
        weights = Path(folder) / BEST if folder else None
        return cls(run.info.run_id, weights, run.data.metrics.get("best_val_loss", float("nan")),
                   reused)


@dataclass(frozen=True)
class PhaseSettings:
    """A phase's batch (items: images, or triplets), learning rate and patience."""
    batch: int
    lr: float
    patience: int


@dataclass(frozen=True)
class Phase:
    """One step of the protocol: what it optimises, how it draws batches, which options of
    the TrainConfig are its batch, learning rate and patience, and whether its run logs a
    model."""
    name: str
    objective: type
    sampler: type  # BalancedBatches or TripletBatches (its `group`: faces per item)
    settings: Callable[[TrainConfig], PhaseSettings]
    logs_model: bool


PHASES = {phase.name: phase for phase in (
    Phase(PhaseName.BCE, BCE, BalancedBatches,
          lambda cfg: PhaseSettings(cfg.batch_size, cfg.lr, cfg.patience), logs_model=True),
    # the triplet step's network has no trained classifier yet: only finetune's is served
    Phase(PhaseName.TRIPLET, Triplet, TripletBatches,
          lambda cfg: PhaseSettings(cfg.triplets, cfg.triplet_lr, cfg.triplet_patience),
          logs_model=False),
    Phase(PhaseName.FINETUNE, Finetune, BalancedBatches,
          lambda cfg: PhaseSettings(cfg.batch_size, cfg.finetune_lr, cfg.finetune_patience),
          logs_model=True),
)}
LOSSES = {Loss.BCE: (PhaseName.BCE,),  # the phases of each loss, in order
          Loss.TRIPLET: (PhaseName.BCE, PhaseName.TRIPLET, PhaseName.FINETUNE)}


@dataclass(frozen=True)
class TrainingFaces:
    """The faces a training reads: the index's rows (the columns training needs), the
    index file, and the folder its crop paths are relative to."""
    rows: pd.DataFrame
    index: Path
    root: Path


def resolve_weights(init: str) -> Path:
    """The weights to start from: a weights file, or the model of any reference
    model_refs.resolve accepts (run id, runs:/ or models:/ URI, model folder). A training
    run's local best weights are read when they are still on this disk."""
    if Path(init).is_file():
        return Path(init)
    ref = resolve(init)
    if ref.run_id:
        local = TrainResult.of_run(mlflow.get_run(ref.run_id)).weights
        if local is not None and local.is_file():
            return local
    folder = Path(ref.uri)
    if not folder.is_dir():
        folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=ref.uri))
    found = sorted(folder.rglob("*.safetensors"))
    if not found:
        raise UserInputError(f"init {init!r}: the model holds no weights (*.safetensors); "
                             "expected a weights file or a model trained here")
    return found[0]


def load_faces(cfg: TrainConfig) -> TrainingFaces:
    index = cfg.faces_index()
    if not index.is_file():
        raise missing_index_error(index, cfg.dataset, "", f": run `deepfake-mlflow extract "
                                  f"{cfg.dataset} ROOT` first, or pass faces=PATH")
    return TrainingFaces(read_table(index, TRAINING_COLUMNS, "faces index", only=True,
                                    categories=("key", "split", "video_status")),
                         index, paths.faces_root(index))


def _main_run(runtime: Runtime, stage: str, **options):
    """The stage's MLflow run on rank 0; nothing on the other ranks."""
    if runtime.world.main:
        return tracking.runs.stage_run(stage, **options)
    return contextlib.nullcontext()


@dataclass
class PreparedPhase:
    """A phase ready to run: its data, its model and what the model started from."""
    data: PhaseData
    model: torch.nn.Module
    started_from: str  # a weights file, or the pretrained weights' name
    pipeline: object  # the augmentations of the training crops (albumentations)
    train_videos_used: int


def _prepare(cfg: TrainConfig, phase: Phase, batch: int, faces: TrainingFaces,
             init_weights: Path | None) -> PreparedPhase:
    """The phase's splits (each holding both classes), batches and validation sample, and
    its model: from init_weights, else the pretrained weights."""
    pipeline = augment.build(cfg.augment_names, seed=cfg.seed)
    train_rows = training_faces(faces.rows, "train", cfg.train_videos, cfg.seed)
    val_rows = training_faces(faces.rows, "val")
    for split, rows in (("train", train_rows), ("val", val_rows)):
        missing = [name for label, name in ((config.REAL, "real"), (config.FAKE, "fake"))
                   if not (rows["label"] == label).any()]
        if missing:
            raise UserInputError(f"{faces.index}: the {split} split has no "
                                 f"{' and no '.join(missing)} faces; training needs both in "
                                 "the train and the val split")
    train = FaceCrops(train_rows, faces.root, cfg.size, augment=pipeline)
    val = FaceCrops(val_rows, faces.root, cfg.size, augment=None)  # never augmented
    data = PhaseData(train, phase.sampler(train.labels, batch, cfg.seed), val,
                     phase.sampler.validation(val.labels, cfg.val_size, cfg.seed),
                     batch * phase.sampler.group)
    torch.manual_seed(cfg.seed)
    if init_weights is not None:
        model = load_weights(create(cfg.model, "none"), init_weights)
        started_from = str(init_weights)
    else:
        model = create(cfg.model, cfg.pretrained)
        started_from = cfg.pretrained
    return PreparedPhase(data, model, started_from, pipeline, train_rows["key"].nunique())


def _phase(cfg: TrainConfig, runtime: Runtime, phase: Phase, faces: TrainingFaces,
           init_weights: Path | None, run_id: str | None = None,
           on_validation=None) -> TrainResult:
    """Train one phase as one run (a new one, or `run_id` resumed); returns its result
    (best weights, loss, run id)."""
    settings = phase.settings(cfg)
    prepared = _prepare(cfg, phase, settings.batch, faces, init_weights)
    tags = {**_variant_tags(cfg), "phase": phase.name}
    name = cfg.name()
    if len(LOSSES[cfg.loss]) == 1:  # the run itself holds the variant's final model
        tags[naming.FINAL_TAG] = "true"
    else:  # a phase of a triplet training: the phase first, then the training's name
        name = f"{phase.name}:{name}"
    with _main_run(runtime, "train", run_name=name, tags=tags, run_id=run_id,
                   system_metrics=True) as run:
        run_id = runtime.world.share(run.info.run_id if runtime.world.main else None)
        return _run_phase(cfg, runtime, phase, settings, prepared, faces, run_id,
                          on_validation)


def _run_phase(cfg: TrainConfig, runtime: Runtime, phase: Phase, settings: PhaseSettings,
               prepared: PreparedPhase, faces: TrainingFaces, run_id: str,
               on_validation) -> TrainResult:
    """Inside the phase's run: its params and inputs logged (rank 0), the loop, then its
    results and (bce, finetune) its model."""
    main, data = runtime.world.main, prepared.data
    folder = paths.checkpoint_dir(faces.index, run_id)
    if main:
        mlflow.set_tags(runtime.tags())  # a resumed run says where it runs now
        tracking.logs.log_params({**cfg.logged_params(), "phase": phase.name,
                                  "phase_batch_size": settings.batch,
                                  "phase_lr": settings.lr, "phase_patience": settings.patience,
                                  "started_from": prepared.started_from,
                                  "checkpoint_dir": str(folder),
                                  "train_faces": len(data.train), "val_faces": len(data.val),
                                  "train_videos_used": prepared.train_videos_used,
                                  **runtime.params()})
        tracking.logs.log_index_input(faces.rows, source=str(faces.index.resolve()),
                                      name=f"{cfg.dataset}-faces", context="train")
        mlflow.log_dict(augment.to_json(prepared.pipeline), "augmentation.json")
    loop = LoopSettings(settings.lr, settings.patience, cfg.min_lr, cfg.val_interval,
                        cfg.max_iters, runtime, label=f"{cfg.dataset} {phase.name}",
                        on_validation=on_validation)
    # metric points reach a local journal first: an outage of the store loses none
    journal = MetricJournal(folder, run_id) if main else None
    if journal is not None:
        journal.send()  # what an earlier, interrupted try could not send
    result = fit(prepared.model, phase.objective(), data, loop, folder, journal)
    outcome = TrainResult(run_id, result.best_weights, result.best_val_loss)
    if not main:
        return outcome
    # logged at the last step, so the run's latest best_val_loss is the final one
    journal.log({"best_val_loss": result.best_val_loss,
                 "best_iteration": result.best_iteration,
                 "iterations": result.iterations, "train_seconds": result.seconds,
                 "tracking_share": result.logging_seconds / max(result.seconds, 1e-9),
                 "images_per_s": result.iterations * settings.batch * phase.sampler.group
                 / max(result.seconds, 1e-9)}, step=result.iterations)
    journal.close()  # everything sent, or TrackingUnavailable saying how to send it
    mlflow.set_tag("stopped_by", result.stopped_by)
    if phase.logs_model and not _has_model(run_id):  # a resume never logs a second one
        _log_model(cfg, runtime, faces, result.best_weights, folder)
    return outcome


def _log_model(cfg: TrainConfig, runtime: Runtime, faces: TrainingFaces, weights: Path,
               folder: Path) -> None:
    """The training's final model as an MLflow logged model of the active run, with the
    temperature and threshold fitted on the validation videos (train/calibrate.py)."""
    fitted = fit_on_validation(weights, cfg.model, cfg.size, faces.index, cfg.dataset,
                               runtime.device)
    log_video_detector(weights, cfg.model, cfg.size, folder,
                       ExtractSettings.of_faces(faces.index.parent), name=cfg.name(),
                       calibration=fitted)


def _variant_tags(cfg: TrainConfig) -> dict:
    """The tags every run of a training carries: what it learns from and how."""
    return {"dataset": cfg.dataset, "loss": cfg.loss, "augment": cfg.augment_tag,
            "model": cfg.model, "variant": naming.variant(cfg.loss, cfg.augment_tag),
            "seed": str(cfg.seed),  # the UI groups a variant's seeds by it
            "config_hash": cfg.config_hash(),
            "faces_digest": faces_digest(cfg.faces_index())}


def _has_model(run_id: str) -> bool:
    """Whether the run holds a READY logged model; PENDING ones (a kill while logging)
    are marked FAILED on the way."""
    return any(m.status == "READY" for m in tracking.runs.fail_pending_models(run_id))


def _phase_runs(parent_id: str) -> dict[str, mlflow.entities.Run]:
    """A triplet parent's phase runs by phase name (the newest of each)."""
    found = {}
    for run in reversed(queries.children(parent_id)):  # oldest first: the newest stays
        found[run.data.tags.get("phase")] = run
    return found


def _earlier_phases(parent_id: str) -> tuple[dict[str, TrainResult], dict[str, str]]:
    """The phases of a triplet parent being resumed: the finished ones as results a later
    phase starts from, and the run id of each unfinished one (resumed in its run)."""
    finished, unfinished = {}, {}
    for phase, child in _phase_runs(parent_id).items():
        if child.info.status == "FINISHED":
            finished[phase] = TrainResult.of_run(child)
        else:
            unfinished[phase] = child.info.run_id
    return finished, unfinished


def check_resumable(cfg: TrainConfig) -> None:
    """--resume names an unfinished training run of this dataset, resumed with the options
    it was started with (its params say what it is; they cannot change)."""
    try:
        run = mlflow.get_run(cfg.resume)
    except mlflow.exceptions.MlflowException:
        raise UserInputError(f"--resume {cfg.resume}: no such run in the tracking store "
                             f"{mlflow.get_tracking_uri()}") from None
    tags, params = run.data.tags, run.data.params
    if tags.get("stage") != "train" or tags.get("phase") not in (None, *PHASES):
        raise UserInputError(f"--resume {cfg.resume}: not a training run (stage "
                             f"{tags.get('stage')!r}, phase {tags.get('phase')!r})")
    if run.info.status == "FINISHED":
        raise UserInputError(f"--resume {cfg.resume}: the run finished (stopped by "
                             f"{tags.get('stopped_by', 'its end')}) and is final; to train on "
                             f"from its model start a new run with --init {cfg.resume}")
    changed = [f"{key} {params[key]} -> {value}" for key, value in cfg.logged_params().items()
               if key in params and key not in RUNTIME_OPTIONS
               and not _same_value(params[key], value, key)]
    if changed:
        raise UserInputError(f"--resume {cfg.resume}: the run was started with other options ("
                             + ", ".join(changed) + "): resume with the run's own options")


def _same_value(logged: str, value, key: str = "") -> bool:
    text = tracking.logs.param_value(value)
    if logged == text:
        return True
    if key == "augment":  # `mlflow run -P augment=SELECTED` logged it as typed
        try:
            return naming.augment_tag(augment.parse(logged)) == text
        except UserInputError:
            return False
    try:  # 1e-4 typed through `mlflow run` is 0.0001 here
        return float(logged) == float(text)
    except ValueError:
        return False


def train(cfg: TrainConfig, on_validation=None) -> TrainResult:
    """Train by the protocol (the train stage's work); returns the final run's result.
    on_validation(val_loss, iteration) is called after each validation of the first phase
    (an ablation's pruner)."""
    faces = load_faces(cfg)
    runtime = Runtime.of(cfg)  # a missing GPU fails here, before any run is opened
    if runtime.world.size > 1 and runtime.device.type != "cuda":
        warnings.warn("BatchNorm is synchronised across processes on CUDA only: on the CPU "
                      "each process normalises its share of the batch", stacklevel=2)
    accel.configure_backends(runtime.device, runtime.precision)
    distributed.start(runtime.world, runtime.device)
    try:
        return _train(cfg, runtime, faces, cfg.resume, on_validation)
    finally:
        distributed.stop()


def _train(cfg: TrainConfig, runtime: Runtime, faces: TrainingFaces, resume: str,
           on_validation=None) -> TrainResult:
    main, world = runtime.world.main, runtime.world
    if resume and main:
        check_resumable(cfg)
    init = world.share(resolve_weights(cfg.init) if cfg.init and main else None)
    if len(LOSSES[cfg.loss]) == 1:  # one phase, one run
        return _phase(cfg, runtime, PHASES[LOSSES[cfg.loss][0]], faces, init,
                      run_id=resume or None, on_validation=on_validation)

    tags = {**_variant_tags(cfg), naming.FINAL_TAG: "true"}
    with _main_run(runtime, "train", run_name=cfg.name(), tags=tags,
                   run_id=resume or None) as parent:
        if main:
            mlflow.set_tags(runtime.tags())
            tracking.logs.log_params({**cfg.logged_params(), **runtime.params()})
        earlier = _earlier_phases(parent.info.run_id) if resume and main else ({}, {})
        finished, unfinished = world.share(earlier)
        # a given starting model replaces the first (bce) phase
        phases = LOSSES[cfg.loss][1:] if init is not None else LOSSES[cfg.loss]
        result = None
        for name in phases:
            result = finished.get(name) or _phase(
                cfg, runtime, PHASES[name], faces, init,
                run_id=unfinished.get(name),
                on_validation=on_validation if name == phases[0] else None)
            init = result.weights
        if not main:
            return result
        _log_phases(parent.info.run_id, result)
        if not _has_model(parent.info.run_id):
            _log_model(cfg, runtime, faces, result.weights, result.weights.parent)
        return TrainResult(parent.info.run_id, result.weights, result.best_val_loss)


def _log_phases(parent_id: str, final: TrainResult) -> None:
    """The triplet parent's own record: phases.csv (each phase run, its iterations and best
    validation loss) and best_val_loss at the last phase's last iteration."""
    rows = []
    for name, child in _phase_runs(parent_id).items():
        metrics = child.data.metrics
        rows.append({"phase": name, "run_id": child.info.run_id,
                     "run_name": child.info.run_name, "status": child.info.status,
                     "iterations": metrics.get("iterations"),
                     "best_iteration": metrics.get("best_iteration"),
                     "best_val_loss": metrics.get("best_val_loss"),
                     "stopped_by": child.data.tags.get("stopped_by", "")})
    order = list(PHASES)
    rows.sort(key=lambda r: order.index(r["phase"]) if r["phase"] in order else len(order))
    tracking.logs.log_dataframe(pd.DataFrame(rows), "phases.csv")
    last = int(rows[-1]["iterations"] or 0) if rows else 0
    mlflow.log_metric("best_val_loss", final.best_val_loss, step=last)
