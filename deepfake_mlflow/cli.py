"""The `deepfake-mlflow` command line: one subcommand per MLproject entry point.

Each stage's subcommand is generated from its config dataclass (deepfake_mlflow.stages)
and calls its run(config); the MLproject entry points call these same subcommands: one
code path, two doors. Only this module prints; the stages log.
Bad input ends with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import json
import signal
import sys
import threading

from . import stages
from .errors import ReportedError
from .stages import options


def report_index(result) -> int:
    from .datasets import schema
    print(schema.split_summary(result.frame).to_string(index=False))
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


def report_train(result) -> int:
    from .distributed import from_environment
    if from_environment().main:  # under torchrun, one summary, not one per process
        print(f"run {result['run_id']}: best validation loss {result['best_val_loss']:.4f}")
    return 0


def report_evaluate(table) -> int:
    from .evaluation.model_run import format_table
    print(format_table(table))
    return 0


def report_promote(results) -> int:
    for result in results:
        print(json.dumps(result))
    return 0


def report_predict(results) -> int:
    failed = 0
    for result in results:  # a generator: each line as soon as its video is scored
        failed += result["p_fake"] is None
        print(json.dumps(result), flush=True)
    return 1 if failed else 0


def report_corpus(manifest) -> int:
    print(f"wrote {manifest}")
    return 0


def report_study(result) -> int:
    """What a study found: Tables I-IV, Fig. 1's points, Fig. 3's ranking, the champions."""
    import pandas as pd

    from .evaluation.model_run import format_table
    if result.get("matrix") is not None:
        print(format_table(result["matrix"]))
    limited = result.get("data_limited")
    if limited is not None and len(limited):
        print("\ndata-limited training (Fig. 1), in-domain frame AUC:")
        print(limited[["train_videos", "loss", "auc_frame", "auc_video"]].round(3)
              .to_string(index=False))
    ablation = result.get("ablation")
    if ablation and ablation.get("trials"):
        from .tracking import augment_label
        table = pd.DataFrame(ablation["trials"])
        table["augment"] = table["augment"].map(augment_label)  # mix, not all seven names
        aucs = [c for c in table.columns if c.startswith("auc_frame/")]
        shown = table[["augment", "state", "objective", *aucs]].sort_values(
            "objective", na_position="last")
        print("\nablation (Fig. 3), best validation loss first; test AUCs reported only:")
        print(shown.round(3).to_string(index=False))
    for champion in result.get("champions") or []:
        print(f"champion of {champion['dataset']}: {champion['uri']} (version "
              f"{champion['version']}, validation loss {champion['val_loss']:.4f})")
    if result.get("report"):
        print(f"report (the paper's tables and figures beside ours): {result['report']}")
    for failure in result["failed"]:
        print(f"failed: {failure}", file=sys.stderr)
    return 1 if result["failed"] else 0


def report_demo(result) -> int:
    counts = result["counts"]
    print(f"\ndemo finished in {result['seconds']:.0f} s: {counts['trained']} trainings run, "
          f"{counts['reused']} reused; parent run {result['parent_run_id']}")
    code = report_study(result)
    if result["example_video"] is not None:
        print(f"score a video: deepfake-mlflow predict {result['champions'][0]['uri']} "
              f"{result['example_video']}")
    import mlflow

    from .tracking import ui_runs_url
    experiment = mlflow.get_run(result["parent_run_id"]).info.experiment_id
    print(f"browse the runs: mlflow ui --backend-store-uri {mlflow.get_tracking_uri()} "
          f"(or make ui), then open {ui_runs_url(experiment)}")
    return code


def report_dashboard(result) -> int:
    if not result:  # --optuna: the server ran until it was stopped
        return 0
    print(f"report of study {result['study']} ({result['runs']} runs): {result['page']}")
    if result["parent_run_id"]:
        print(f"logged to run {result['parent_run_id']} (artifacts report/)")
    return 0


# what the command line prints of each stage's result (library code only logs)
def report_ablation(summary) -> int:
    import pandas as pd

    from .tracking import augment_label
    table = pd.DataFrame(summary["trials"])
    if len(table):
        table["augment"] = table["augment"].map(augment_label)  # mix, not all seven names
        shown = [c for c in table.columns if c not in ("mlflow_run_id", "fail_reason")]
        print(table[shown].round(4).to_string(index=False))
    best = summary["best"]
    if best is not None:
        print(f"best: trial {best['trial']} ({best['augment']}), objective "
              f"{best['objective']:.4f}, run {best['mlflow_run_id']}")
    return 0


def report_reproduce(result) -> int:
    counts = result["counts"]
    print(f"study: {counts['trained']} trainings run, {counts['reused']} reused; "
          f"parent run {result['parent_run_id']}")
    return report_study(result)


REPORTS = {"index": report_index, "ablation": report_ablation, "worker": report_ablation,
           "reproduce": report_reproduce,
           "extract": lambda faces: 0, "train": report_train,
           "evaluate": report_evaluate, "promote": report_promote,
           "predict": report_predict, "corpus": report_corpus, "demo": report_demo,
           "dashboard": report_dashboard}


def cmd_stage(args) -> int:
    stage = stages.get(args.command)
    result = stage.run(options.from_arguments(stage.CONFIG, args))
    return REPORTS[args.command](result)


def cmd_fetch(args) -> int:
    from . import assets
    for name, path in assets.fetch(args.names or None).items():
        print(f"{name}\t{path}")
    return 0


def cmd_registry(args) -> int:
    if args.action == "promote":
        from .stages import promote
        return report_promote(promote.run(promote.PromoteConfig(args.datasets)))
    from . import registry
    for champion in registry.champions():
        print(json.dumps(champion))
    return 0


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

    layouts = "Layouts: " + "; ".join(f"{s.name}: {s.layout}" for s in DATASETS.values())
    for name in stages.STAGES:
        stage = stages.get(name)
        p = sub.add_parser(name, help=stage.HELP, description=stage.HELP + (
            ". " + layouts if name in ("index", "extract") else ""))
        options.add_arguments(p, stage.CONFIG)
        p.set_defaults(func=cmd_stage)

    p = sub.add_parser("registry", help="the champion model of each training dataset")
    p.add_argument("action", choices=("promote", "list"),
                   help="promote: the promote stage; list: the champions")
    p.add_argument("--datasets", default="", help="promote: comma list (default: every "
                                                  "trained dataset)")
    p.set_defaults(func=cmd_registry)
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from . import console
    console.setup(verbose_mode=getattr(args, "verbose", False))
    # a scheduler's SIGTERM ends the work as Ctrl-C does: the open runs are marked KILLED
    # (not left RUNNING), and an interrupted step resumes later
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        return args.func(args)
    except ReportedError as err:
        print(f"deepfake-mlflow {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt as err:
        print(f"deepfake-mlflow {args.command}: interrupted ({err or 'SIGINT'}); the work "
              "done so far is kept and a re-run resumes it", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
