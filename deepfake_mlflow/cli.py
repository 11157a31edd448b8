"""The `deepfake-mlflow` command line: one subcommand per MLproject entry point.

Each subcommand parses its options and calls the same library function that the matching
MLproject entry point reaches (through this same module): one code path, two doors.
Bad input ends with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import sys

from . import config
from .errors import UserInputError


def _none_if_empty(value: str | None) -> str | None:
    # MLproject passes optional parameters as empty strings
    return value or None


def _bool(value: str) -> bool:
    if str(value).lower() in ("1", "true", "yes", "on"):
        return True
    if str(value).lower() in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def _or_empty(kind, name: str):
    """An argparse type that leaves "" alone (config_from then keeps the default)."""
    def parse(value: str):
        if value == "":
            return ""
        try:
            return kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}: expected {kind.__name__}, got {value!r}")
    return parse


def _numbers(kind):
    def parse(value: str) -> tuple:
        try:
            return tuple(kind(v) for v in value.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma list of numbers, got {value!r}")
    return parse


def cmd_fetch(args) -> int:
    from . import assets
    for name, path in assets.fetch(args.names or None).items():
        print(f"{name}\t{path}")
    return 0


def cmd_index(args) -> int:
    from .datasets import schema
    from .indexing import run_index
    result = run_index(args.dataset, args.root, out=_none_if_empty(args.out), seed=args.seed,
                       probe=args.probe, workers=args.workers,
                       compression=_none_if_empty(args.compression),
                       official_splits=_none_if_empty(args.official_splits),
                       split_csv=_none_if_empty(args.split_csv))
    print(schema.split_summary(result.frame).to_string(index=False))
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


def cmd_extract(args) -> int:
    from .extraction import run_extract
    from .faces.extract import ExtractSettings
    settings = ExtractSettings(frames=args.frames, size=args.size, margin=args.margin,
                               quality=args.quality, detector=args.detector,
                               min_confidence=args.min_confidence, reader=args.reader)
    run_extract(args.dataset, args.root, index=_none_if_empty(args.index),
                out=_none_if_empty(args.out), settings=settings, workers=args.workers or None,
                shard=args.shard, progress=not args.no_progress)
    return 0


def cmd_train(args) -> int:
    import dataclasses

    from .distributed import from_environment
    from .train import TrainConfig, config_from, run_train
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    result = run_train(config_from(**values), resume=args.resume)
    if from_environment().main:  # under torchrun, one summary, not one per process
        print(f"run {result['run_id']}: best validation loss {result['best_val_loss']:.4f}")
    return 0


def cmd_evaluate(args) -> int:
    from .evaluation import run_evaluate
    from .evaluation.run import format_table
    table = run_evaluate(args.model, args.datasets, robustness=args.robustness, mds=args.mds,
                 mds_pairs=args.mds_pairs, seed=args.seed, split=args.split,
                 jpeg_qualities=args.jpeg_qualities, scales=args.scales, device=args.device,
                 precision=args.precision)
    print(format_table(table))
    return 0


def cmd_registry(args) -> int:
    import json

    from . import registry
    if args.action == "promote":
        datasets = [d for d in (args.datasets or "").split(",") if d] or None
        for result in registry.promote(datasets):
            print(json.dumps(result))
    else:
        for champion in registry.champions():
            print(json.dumps(champion))
    return 0


def cmd_predict(args) -> int:
    import json

    from .predict import predict_videos
    failed = 0
    videos = args.videos + [v for v in args.video_list.split(",") if v]
    for result in predict_videos(args.model, videos, device=args.device):
        failed += result["p_fake"] is None
        print(json.dumps(result), flush=True)
    return 1 if failed else 0


def cmd_corpus(args) -> int:
    from .corpus import run_corpus
    manifest = run_corpus(args.out, size=args.size, seed=args.seed)
    print(f"wrote {manifest}")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo
    from .evaluation.run import format_table
    result = run_demo(args.out, size=args.size, seed=args.seed)
    print(f"\ndemo finished in {result['seconds']:.0f} s")
    if result["matrix"] is not None:
        print(format_table(result["matrix"]))
    for champion in result["champions"]:
        print(f"champion of {champion['dataset']}: {champion['uri']} (version "
              f"{champion['version']}, validation loss {champion['val_loss']:.4f})")
    if result["example_video"] is not None:
        print(f"score a video: deepfake-mlflow predict {result['champions'][0]['uri']} "
              f"{result['example_video']}")
    print("browse the runs: mlflow ui --backend-store-uri sqlite:///mlflow.db")
    return 0


def _train_arguments(p: argparse.ArgumentParser) -> None:
    """Options from TrainConfig's fields, with the protocol's defaults from config."""
    import dataclasses

    from .augment import AUGMENTATIONS, GROUPS
    from .train import TrainConfig
    helps = {"faces": "faces index (default workspace/<dataset>/faces.parquet)",
             "loss": "bce, or triplet (bce -> triplet -> finetune)",
             "augment": "comma list of " + ", ".join(list(AUGMENTATIONS) + list(GROUPS)),
             "pretrained": "imagenet, none, or a weights file",
             "init": "start from: a run id, runs:/ or models:/ URI, or a weights file",
             "train_videos": "data-limited training: videos per class (0: all)",
             "max_iters": "upper bound on iterations (the protocol stops at min_lr)",
             "workers": "data-loading processes per training process (-1: from the cores)",
             "device": "auto (CUDA when present), cpu, cuda or cuda:N; under torchrun "
                       "each process takes the GPU of its local rank",
             "precision": "auto (bf16 on GPUs that support it, else fp32), fp32, bf16, "
                          "or fp16 (CUDA, with a gradient scaler)"}
    for f in dataclasses.fields(TrainConfig):
        if f.name == "dataset":
            p.add_argument("dataset")
            continue
        # "" (an MLproject parameter left empty) falls through to the dataclass default
        p.add_argument("--" + f.name.replace("_", "-"), dest=f.name,
                       type=_or_empty(type(f.default), f.name), default=f.default,
                       help=helps.get(f.name, "") + f" (default {f.default!r})")
    p.add_argument("--resume", default="", help="run id of an interrupted training")


def _device_arguments(p: argparse.ArgumentParser, precision: bool) -> None:
    p.add_argument("--device", default=config.DEVICE,
                   help="auto (CUDA when present), cpu, cuda or cuda:N")
    if precision:
        p.add_argument("--precision", default=config.SCORE_PRECISION,
                       help="fp32 (scores equal on every device), bf16 or fp16 (faster on GPUs)")


def build_parser() -> argparse.ArgumentParser:
    from .datasets import DATASETS
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="show MLflow's, MediaPipe's and third-party warnings and logs")
    parser = argparse.ArgumentParser(prog="deepfake-mlflow", description=__doc__.splitlines()[0],
                                     parents=[common])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser = functools.partial(sub.add_parser, parents=[common])

    p = sub.add_parser("fetch", help="fetch and cache the BlazeFace models and demo faces")
    p.add_argument("names", nargs="*", help="asset names (default: all)")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("index", help="index a dataset root into videos.parquet (one MLflow run)",
                       description="Layouts: " + "; ".join(
                           f"{s.name}: {s.layout}" for s in DATASETS.values()))
    p.add_argument("dataset", choices=list(DATASETS))
    p.add_argument("root", help="the dataset's root folder, as it unpacks")
    p.add_argument("--out", default="", help="index file (default workspace/<dataset>/videos.parquet)")
    p.add_argument("--seed", type=int, default=config.DEFAULT_SEED)
    p.add_argument("--probe", type=_bool, nargs="?", const=True, default=False,
                   help="also read frame count, fps and size of every video")
    p.add_argument("--workers", type=int, default=None, help="probe threads (default: cores)")
    p.add_argument("--compression", default="", choices=("",) + config.COMPRESSIONS,
                   help="ff/dfd only (default c23)")
    p.add_argument("--official-splits", default="",
                   help="ff only: folder with FF++'s train.json/val.json/test.json")
    p.add_argument("--split-csv", default="", help="folder only: CSV with columns path,split")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("extract", help="BlazeFace faces of every video (one MLflow run)")
    p.add_argument("dataset", choices=list(DATASETS))
    p.add_argument("root", help="the dataset's root folder (the one given to index)")
    p.add_argument("--index", default="", help="video index (default workspace/<dataset>/"
                                               "videos.parquet; built first if missing)")
    p.add_argument("--out", default="", help="folder for faces/ and faces.parquet "
                                             "(default: the index's folder)")
    p.add_argument("--frames", type=int, default=config.FRAMES_PER_VIDEO)
    p.add_argument("--size", type=int, default=config.FACE_SIZE)
    p.add_argument("--margin", type=float, default=config.FACE_MARGIN)
    p.add_argument("--quality", type=int, default=config.FACE_JPEG_QUALITY, help="JPEG quality")
    p.add_argument("--detector", default=config.DETECTOR_MODEL,
                   help="BlazeFace model: full, short, or a .tflite path")
    p.add_argument("--min-confidence", type=float, default=config.DETECTOR_MIN_CONFIDENCE)
    p.add_argument("--reader", default="opencv", choices=("opencv", "pyav"))
    p.add_argument("--workers", type=int, default=0, help="processes (default: all cores)")
    p.add_argument("--shard", default="1/1", help="k/n: this machine's share of the videos")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("train", help="train a detector (bce or triplet); every variant a run")
    _train_arguments(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="test-set metrics of one or more models (MLflow runs); "
                       "several models also give the cross-dataset matrix")
    p.add_argument("model", help="comma list of: run id, runs:/ or models:/ URI "
                                 "(models:/NAME@ALIAS), or a local model folder")
    p.add_argument("datasets", help="comma list of test sets: NAME (faces in the workspace) "
                                    "or NAME=PATH/faces.parquet")
    p.add_argument("--split", default=config.EVAL_SPLIT)
    p.add_argument("--robustness", default="in-domain",
                   help="test sets for the JPEG/downscale sweeps: in-domain, all, none, or a list")
    p.add_argument("--mds", default="all", help="test sets for the MDS projection (Fig. 2): "
                                                "all, none, or a list")
    p.add_argument("--mds-pairs", type=int, default=config.MDS_PAIRS)
    p.add_argument("--jpeg-qualities", type=_numbers(int),
                   default=config.ROBUSTNESS_JPEG_QUALITIES, help="comma list (robustness)")
    p.add_argument("--scales", type=_numbers(float), default=config.ROBUSTNESS_SCALES,
                   help="comma list of downscale factors (robustness)")
    p.add_argument("--seed", type=int, default=config.DEFAULT_SEED)
    _device_arguments(p, precision=True)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("registry", help="the champion model of each training dataset")
    p.add_argument("action", choices=("promote", "list"),
                   help="promote: register the lowest-validation-loss model per training "
                        "dataset as deepfake-effnetb4-<dataset>@champion; list: the champions")
    p.add_argument("--datasets", default="", help="comma list (default: every trained dataset)")
    p.set_defaults(func=cmd_registry)

    p = sub.add_parser("predict", help="score videos with a model; one JSON line per video, "
                                       "exit 1 if any could not be scored")
    p.add_argument("model", help="models:/NAME@ALIAS, a run id, a URI or a model folder")
    p.add_argument("videos", nargs="*")
    p.add_argument("--video-list", default="", help="comma list of videos (MLproject's form)")
    _device_arguments(p, precision=False)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("corpus", help="write the demo corpus: four small datasets from real faces")
    p.add_argument("out")
    p.add_argument("--size", type=int, default=config.DEMO_CORPUS_SIZE,
                   help="real videos per dataset")
    p.add_argument("--seed", type=int, default=config.DEFAULT_SEED)
    p.set_defaults(func=cmd_corpus)

    p = sub.add_parser("demo", help="the whole study, scaled down, on the demo corpus")
    p.add_argument("--out", default="demo", help="folder for the corpus and working files")
    p.add_argument("--size", type=int, default=config.DEMO_CORPUS_SIZE)
    p.add_argument("--seed", type=int, default=config.DEFAULT_SEED)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from . import console
    console.setup(verbose_mode=getattr(args, "verbose", False))
    try:
        return args.func(args)
    except UserInputError as err:
        print(f"deepfake-mlflow {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
