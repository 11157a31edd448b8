"""The `deepfake-mlflow` command line: one subcommand per MLproject entry point.

Each stage's subcommand is generated from its config dataclass (deepfake_mlflow.stages),
calls its run(config) and prints through its report(result); the MLproject entry points
call these same subcommands: one code path, two doors. A stage's run() only logs: what
a person reads at the end is its report's, in the same file.
Bad input ends with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import signal
import sys
import threading

from . import options, stages
from .errors import ReportedError


def cmd_stage(args) -> int:
    """A stage's command: its config from the arguments, its run, its report."""
    stage = stages.get(args.stage)
    config = options.from_arguments(stage.CONFIG, args)
    _configure_store()  # after the config: a refused option answers before MLflow loads
    if not os.environ.get("MLFLOW_RUN_ID"):
        return stage.report(stage.run(config))
    from . import tracking  # `mlflow run`: its run is the stage's (and holds what it makes)
    with tracking.runs.launched_run(args.stage, stages.STAGES[args.stage]):
        return stage.report(stage.run(config))


def _configure_store() -> None:
    """The command line is an entry point: the tracking store it uses is chosen here,
    once (MLFLOW_TRACKING_URI, or the embedded default)."""
    from .tracking import store
    store.configure()


def cmd_fetch(args) -> int:
    from . import assets
    for name, path in assets.fetch(args.names or None).items():
        print(f"{name}\t{path}")
    return 0


def cmd_registry_list(args) -> int:
    from . import registry
    _configure_store()
    for champion in registry.champions():
        print(json.dumps(champion))
    return 0


def cmd_relocate(args) -> int:
    from pathlib import Path

    from . import relocate, tracking
    with relocate.no_warning():  # the command that fixes it need not say it first
        uri = tracking.store.configure()
    if not uri.startswith("sqlite:///"):
        print(f"{uri} is not a SQLite store: its artifacts move with its server")
        return 0
    done = relocate.relocate(Path(uri.removeprefix("sqlite:///")))
    if done["from"] is None:
        print(f"{uri}: its artifacts are recorded where it is; nothing to do")
        return 0
    rows = ", ".join(f"{count} {table}" for table, count in done["rows"].items())
    print(f"artifact locations moved from {done['from']} to {done['to']}: {rows or 'no rows'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .datasets import DATASETS
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="show MLflow's, MediaPipe's and third-party warnings and logs")
    parser = argparse.ArgumentParser(prog="deepfake-mlflow", description=__doc__.splitlines()[0],
                                     parents=[common], formatter_class=options.HelpFormatter,
                                     epilog=OVERVIEW)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser = functools.partial(sub.add_parser, parents=[common],
                                       formatter_class=options.HelpFormatter)

    p = sub.add_parser("fetch", help="fetch and cache the BlazeFace models and demo faces")
    p.add_argument("names", nargs="*", help="asset names (default: all)")
    p.set_defaults(func=cmd_fetch)

    layouts = "Layouts: " + "; ".join(f"{s.name}: {s.layout}" for s in DATASETS.values())
    for name in stages.STAGES:
        stage = stages.get(name)
        p = sub.add_parser(name, help=stage.HELP, description=stage.HELP + (
            ". " + layouts if name in ("index", "extract") else ""),
            epilog="examples:\n" + stage.EXAMPLES)
        options.add_arguments(p, stage.CONFIG)
        p.set_defaults(func=cmd_stage, stage=name)

    relocate_help = ("point a copied or moved SQLite store's artifact locations at the "
                     "folder it is in now (run beside its mlflow.db, or with "
                     "MLFLOW_TRACKING_URI naming it)")
    p = sub.add_parser("relocate", help=relocate_help, description=relocate_help,
                       epilog="examples:\n"
                       "    cp -r study/ /shared/study/ && cd /shared/study && "
                       "deepfake-mlflow relocate\n")
    p.set_defaults(func=cmd_relocate)

    # promoting is the promote stage's (a run of its own); the registry command reads
    p = sub.add_parser("registry", help="the champion model of each training dataset "
                                        "(`deepfake-mlflow promote` makes them)")
    actions = p.add_subparsers(dest="action", required=True)
    q = actions.add_parser("list", parents=[common], help="the champions, one JSON line each")
    q.set_defaults(func=cmd_registry_list)
    return parser


OVERVIEW = """\
the study in order (each step is also an `mlflow run . -e STEP` entry point):
    deepfake-mlflow index ff /data/FaceForensics++      # videos.parquet
    deepfake-mlflow extract ff /data/FaceForensics++    # faces.parquet, 32 faces a video
    deepfake-mlflow train ff --augment SELECTED         # a training run, a logged model
    deepfake-mlflow evaluate RUN_ID ff,dfdc             # AUCs with 95% intervals
    deepfake-mlflow promote                             # models:/...@champion
    deepfake-mlflow predict models:/deepfake-effnetb4-ff@champion clip.mp4
or all of it, scaled down on the demo corpus: make demo
"""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    found = []
    for name in ("deepfake-mlflow", "mlflow", "torch", "timm"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return ", ".join(found)


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
    except KeyboardInterrupt as err:  # an exception is always true: its text may be ""
        print(f"deepfake-mlflow {args.command}: interrupted ({str(err) or 'Ctrl-C'}); the "
              "work done so far is kept and a re-run resumes it", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout left (`predict ... | head -1`): no one
        _quiet_stdout()       # to tell; the exit status says it, as a shell's would
        return 128 + signal.SIGPIPE
    except OSError as err:  # the machine refused (a full disk, a file where a folder
        # belongs, a read-only mount) somewhere no stage turned it into its own message
        where = f"{err.filename}: " if err.filename else ""
        print(f"deepfake-mlflow {args.command}: error: {where}{err.strerror or err}; what "
              "was finished before is kept", file=sys.stderr)
        return 1


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass  # not a real file (a test's capture): nothing will be flushed to a pipe


if __name__ == "__main__":
    sys.exit(main())
