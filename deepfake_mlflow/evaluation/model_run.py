"""One model evaluated on every test set as one MLflow run (the evaluate stage's unit).

One evaluation run per model, in the `deepfake-evaluate` experiment. Per test set it logs
<metric>_<level>/<test set> (auc, ap, eer, log_loss, balanced_accuracy; level frame or
video) linked to the logged model and to the test faces as a dataset, the per-face
predictions (Parquet) and per-video scores (CSV); per model a ROC figure, the MDS
projections (Fig. 2) and the robustness curves. The AUCs are copied onto the training run,
so the training runs' table in the UI shows them. Several models make a parent run whose
children are the models' evaluations, with the cross-dataset matrix (Tables I-IV).
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Metric

from .. import accel, config, naming, tracking
from ..errors import UserInputError
from ..faces.index import faces_digest
from ..model_refs import ModelRef, artifacts_folder
from ..scoring import MODEL_CONFIG, ModelConfig, Scorer, sigmoid
from . import breakdown, calibration, degrade, gallery, matrix, plots, projection, separability
from .calibration import Calibration
from .config import EvaluateConfig
from .metrics import frame_and_video_metrics
from .testset import TestSet, degraded_column, score_test_set

log = logging.getLogger(__name__)

# each AUC with its interval and the test videos it rests on
COPIED_TO_TRAINING_RUN = ("auc_frame", "auc_video", *matrix.INTERVALS, "videos")


def chosen(option: str, tests: list[str], in_domain: str | None) -> list[str]:
    """Which test sets an option names: all, none, in-domain, or a comma list."""
    option = (option or "none").strip().lower()
    if option == "all":
        return tests
    if option == "none":
        return []
    if option == "in-domain":
        return [in_domain] if in_domain in tests else []
    names = [n.strip() for n in option.split(",") if n.strip()]
    unknown = [n for n in names if n not in tests]
    if unknown:
        raise UserInputError(f"{unknown}: not among the test sets {tests}")
    return names


def _training(ref: ModelRef) -> tuple[dict, str]:
    """What the model was trained on (dataset, loss, augment tags) and the training run's
    name (the model folder's for a model without a run)."""
    if not ref.run_id:
        return {"dataset": "unknown", "loss": "unknown", "augment": "unknown"}, Path(ref.uri).name
    run = mlflow.get_run(ref.run_id)
    tags = run.data.tags
    return ({**{k: tags.get(k, "unknown") for k in ("dataset", "loss", "augment")},
             "seed": tags.get("seed", run.data.params.get("seed", ""))}, run.info.run_name)


def _robustness_rows(name: str, predictions: pd.DataFrame, clean: dict,
                     sweep_points) -> list[dict]:
    """The AUCs of one test set along both sweeps; the clean faces are the curves' start
    (plotted at JPEG quality 100 and scale 1.0: no re-compression, full size)."""
    rows = [{"test_set": name, "kind": kind, "level": level, "degraded": False,
             "auc_frame": clean["auc_frame"], "auc_video": clean["auc_video"]}
            for kind, level in (("jpeg", 100.0), ("scale", 1.0))]
    for kind, level in sweep_points:
        found = frame_and_video_metrics(predictions.assign(  # intervals: clean faces only
            logit=predictions[degraded_column(kind, level)]), samples=0)
        rows.append({"test_set": name, "kind": kind, "level": level, "degraded": True,
                     "auc_frame": found["auc_frame"], "auc_video": found["auc_video"]})
    return rows


def _describe(trained: dict) -> str:
    return f"model trained on {trained['dataset']} ({trained['loss']}, {trained['augment']})"


def _log_analysis(name: str, predictions: pd.DataFrame, videos: pd.DataFrame,
                  cfg: EvaluateConfig, ref: ModelRef, fitted: Calibration | None) -> None:
    """Where the model fails on one test set: every subgroup's AUC (subgroups/), the
    calibration of its video scores (calibration/), its TPR at low FPR and, for a model
    calibrated on its validation videos, its error rates at the validation threshold and
    the ECE of its calibrated probabilities (metrics)."""
    subgroups = breakdown.breakdown(predictions, videos, cfg.bootstrap, cfg.seed)
    tracking.logs.log_dataframe(subgroups, f"subgroups/{name}.csv")  # empty: none to show
    if len(subgroups):
        mlflow.log_table(subgroups, f"subgroups/{name}.json")
    operating = breakdown.operating_points(videos, cfg.bootstrap, cfg.seed)
    if fitted is not None:
        operating.update(calibration.at_threshold(videos["label"], videos["logit"], fitted,
                                                  cfg.bootstrap, cfg.seed))
    mlflow.log_metrics({f"{k}/{name}": v for k, v in operating.items() if not np.isnan(v)},
                       model_id=ref.model_id)
    # the reliability diagram's bins; the report draws them (a figure per evaluation and
    # test set would cost more than the analysis itself)
    tracking.logs.log_dataframe(breakdown.reliability(videos["label"], videos["p_fake"]),
                                f"calibration/{name}.csv")
    if fitted is not None:
        tracking.logs.log_dataframe(breakdown.reliability(
            videos["label"], videos["p_fake_calibrated"]), f"calibration/{name}_calibrated.csv")


def _evaluate_test_set(name: str, test: TestSet, scorer: Scorer, ref: ModelRef, trained: dict,
                       cfg: EvaluateConfig, mds_pairs: int, sweep_points: dict | None,
                       scratch: Path, fitted: Calibration | None
                       ) -> tuple[dict, dict, list[dict]]:
    """Score one test set and log its metrics and artifacts into the active run; returns
    its metrics, its ROC inputs and its robustness rows (empty without a sweep). `fitted`:
    the model's calibration on its validation videos (None for a model without one)."""
    split, seed = cfg.split, cfg.seed
    pairs = projection.pick_pairs(test.faces, mds_pairs, seed) if mds_pairs else []
    scores = score_test_set(test, scorer, sweep_points, feature_keys=pairs)
    predictions = scores.predictions
    found = frame_and_video_metrics(predictions, cfg.bootstrap, seed)
    dataset = tracking.logs.log_index_input(test.faces, source=str(test.index.resolve()),
                                            name=f"{name}-{split}-faces", context=split)
    # which faces were scored: a study reuses this evaluation only on the same faces
    mlflow.set_tag(f"faces_digest/{name}", faces_digest(test.index))
    metrics = {f"{k}/{name}": v for k, v in found.items()}
    metrics[f"unscored_videos/{name}"] = float(test.unscored_videos)
    mlflow.log_metrics(metrics, model_id=ref.model_id, dataset=dataset)

    predictions["p_fake"] = sigmoid(predictions["logit"])
    face_file = scratch / f"{name}.parquet"
    predictions.to_parquet(face_file, index=False)
    mlflow.log_artifact(str(face_file), "predictions")
    # error analysis: each video with its subgroups, the AUC of each subgroup, calibration
    videos = breakdown.video_table(predictions, test.faces)
    if fitted is not None:  # what `predict --calibrated` would say of each video
        videos["p_fake_calibrated"] = fitted.p_fake(videos["logit"])
        videos["called_fake"] = videos["logit"] >= fitted.threshold
    tracking.logs.log_dataframe(videos, f"predictions/{name}_videos.csv")
    mlflow.log_table(videos, f"videos/{name}.json")  # the UI's artifact viewer shows it
    if cfg.analysis:
        _log_analysis(name, predictions, videos, cfg, ref, fitted)
        if cfg.gallery:  # saliency for the gallery's videos only
            folder = scratch / "gallery" / name
            made = gallery.build(videos, predictions, test.faces_root, scorer, folder, name,
                                 cfg.gallery)
            mlflow.log_artifacts(str(folder), f"gallery/{name}")
            if not made["maps"]:
                log.info("gallery of %s without saliency maps: %s", name, made["note"])
    roc = {"frame": (predictions["label"], predictions["logit"]),
           "video": (videos["label"], videos["logit"])}

    curve = []
    if sweep_points:
        curve = _robustness_rows(name, predictions, found, sweep_points)
        mlflow.log_metrics({f"auc_frame/{name}/{r['kind']}_{r['level']:g}": r["auc_frame"]
                            for r in curve if r["degraded"]}, model_id=ref.model_id)
    if pairs:
        labels = predictions.groupby("key")["label"].first().to_dict()
        points = projection.project(scores.features, labels, seed)
        tracking.logs.log_dataframe(points, f"mds/{name}.csv")
        # claim 7: the features' separability of real and fake, with its interval
        distances = separability.FaceDistances.of(scores.features, labels)
        target = scratch / Path(separability.artifact(name)).name
        mlflow.log_artifact(str(distances.save(target)), "mds")
        apart = separability.separability(distances, cfg.bootstrap, seed)
        mlflow.log_metrics({f"{k}/{name}": v for k, v in (
            ("separability", apart.difference), ("separability_low", apart.low),
            ("separability_high", apart.high)) if not np.isnan(v)}, model_id=ref.model_id)
        plots.log(plots.mds_scatter(points, f"MDS of {name} {split} faces\n"
                                      + _describe(trained)), f"mds/{name}.png")
    return found, roc, curve


def evaluate_model(ref: ModelRef, tests: dict[str, TestSet], cfg: EvaluateConfig,
                   compute: accel.Compute, run_name: str = "") -> list[dict]:
    """Evaluate one model on every test set as one run, as `cfg` says, where `compute`
    says (resolved once by the stage); returns its cross-dataset rows."""
    hardware = compute.describe()
    trained, trained_name = _training(ref)
    names = list(tests)
    robust_on = chosen(cfg.robustness, names, trained["dataset"])
    mds_on = chosen(cfg.mds, names, trained["dataset"])
    params = {"model": ref.reference, "model_uri": ref.uri, "model_id": ref.model_id or "",
              "train_run_id": ref.run_id or "", "test_sets": ",".join(names),
              "split": cfg.split, "robustness": ",".join(robust_on) or "none",
              "mds": ",".join(mds_on) or "none", "mds_pairs": cfg.mds_pairs, "seed": cfg.seed,
              "jpeg_qualities": ",".join(map(str, cfg.jpeg_qualities)),
              "scales": ",".join(map(str, cfg.scales)), "bootstrap": cfg.bootstrap,
              "device": hardware["device"],
              "device_name": hardware["device_name"], "precision": compute.precision.name}
    sweep_points = degrade.sweep(cfg.jpeg_qualities, cfg.scales)
    tags = {**trained, "variant": naming.variant(trained["loss"], trained["augment"]),
            "train_run_id": ref.run_id or "", "model_id": ref.model_id or ""}
    # robust:<training> for a sweep, eval:<training> for AUCs alone: unique in a study
    run_name = run_name or ("robust:" if robust_on else "eval:") + trained_name
    rows, curves, robust_rows, summary = [], {}, [], []
    started = time.perf_counter()
    with artifacts_folder(ref) as folder, \
            tracking.runs.stage_run("evaluate", run_name=run_name, tags=tags, params=params), \
            tempfile.TemporaryDirectory() as scratch:
        mlflow.set_tags({"device": hardware["device"], "device_name": hardware["device_name"]})
        scorer = Scorer.from_folder(folder, compute)
        fitted = Calibration.from_dict(ModelConfig.load(folder / MODEL_CONFIG).calibration)
        if fitted is not None:
            mlflow.log_params({"calibration_temperature": round(fitted.temperature, 6),
                               "val_threshold_logit": round(fitted.threshold, 6),
                               "calibration": fitted.describe()})
        for name, test in tests.items():
            found, curves[name], curve = _evaluate_test_set(
                name, test, scorer, ref, trained, cfg,
                cfg.mds_pairs if name in mds_on else 0,
                sweep_points if name in robust_on else None, Path(scratch), fitted)
            robust_rows += curve
            summary.append({"test_set": name, **found})
            rows.append({"train_dataset": trained["dataset"], "loss": trained["loss"],
                         "augment": trained["augment"], "seed": trained.get("seed", ""),
                         "test_set": name,
                         **{k: found[k] for k in matrix.COLUMNS if k in found},
                         "test_videos": found["videos"], "train_run_id": ref.run_id or "",
                         "model_id": ref.model_id or "",
                         # where its predictions are (a paired comparison reads them)
                         "eval_run_id": mlflow.active_run().info.run_id})
        tracking.logs.log_dataframe(pd.DataFrame(summary), "metrics.csv")
        plots.log(plots.roc_figure(curves, "ROC, " + _describe(trained)), "roc.png")
        if robust_rows:
            table = pd.DataFrame(robust_rows)
            tracking.logs.log_dataframe(table, "robustness.csv")
            plots.log(plots.robustness_figure(table, "AUC under re-compression and "
                                                       "downscaling, " + _describe(trained)),
                        "robustness.png")
        mlflow.log_metric("seconds", time.perf_counter() - started)
        if ref.run_id:
            _copy_to_training_run(ref.run_id, summary)
    return rows


def _copy_to_training_run(run_id: str, summary: list[dict]) -> None:
    """auc_frame/<test set>, auc_video/<test set> and their intervals onto the run that
    trained the model."""
    stamp = int(time.time() * 1000)
    copied = [Metric(f"{name}/{row['test_set']}", row[name], stamp, 0)
              for row in summary for name in COPIED_TO_TRAINING_RUN if name in row]
    mlflow.MlflowClient().log_batch(run_id, metrics=copied, synchronous=True)


def format_table(table: pd.DataFrame) -> str:
    """One model: its AUCs per test set. Several: the train x test table of each variant.
    Every AUC with its 95% interval, every test set with the videos it holds."""
    if table["train_run_id"].nunique() > 1:
        table = matrix.over_seeds(table)  # a variant of several seeds: their mean ± spread
    shown = table.assign(frame_auc=matrix.cells(table, "auc_frame"),
                         video_auc=matrix.cells(table, "auc_video"))
    if table["train_run_id"].nunique() <= 1:
        shown["test_videos"] = shown["test_videos"].map(
            lambda n: "?" if pd.isna(n) else str(int(n)))
        text = shown[["train_dataset", "loss", "augment", "test_set", "frame_auc", "video_auc",
                      "test_videos"]].to_string(index=False)
        return f"{text}\n{matrix.BELOW_CHANCE_NOTE}" if config.BELOW_CHANCE_MARK in text \
            else text
    videos = table.dropna(subset=["test_videos"]).groupby("test_set")["test_videos"].max()
    footer = ("test videos: " + ", ".join(f"{k} {int(v)}" for k, v in videos.items())
              if len(videos) else "")
    if table.get("seeds", pd.Series([1])).max() > 1:
        footer += (f"{'; ' if footer else ''}mean±sd: the mean over a variant's seeds and "
                   "their standard deviation (each seed's interval in its evaluation run)")
    elif "auc_frame_low" not in table or table["auc_frame_low"].isna().any():
        footer += (f"{'; ' if footer else ''}an AUC without an interval: its test set holds "
                   f"fewer than {config.INTERVAL_MIN_VIDEOS} videos of a class")
    grids = "\n".join(f"frame-level AUC [95% interval], {matrix.title(loss, augment)}:\n"
                      f"{grid.fillna('-').to_string()}"
                      for (loss, augment), grid in sorted(  # Tables I, II, III, IV
                          matrix.pivots(shown, "frame_auc").items(),
                          key=lambda kv: matrix.title(*kv[0])))
    if config.BELOW_CHANCE_MARK in grids:
        footer += f"\n{matrix.BELOW_CHANCE_NOTE}"
    return f"{grids}\n{footer}" if footer else grids
