"""The `worker` stage: join an existing ablation study and run its trials until it is done.

Start the study once (`deepfake-mlflow ablation DATASET --storage postgresql://...`, which
creates the Optuna study, its MLflow parent run, and runs trials itself), then run
`deepfake-mlflow worker STUDY --storage postgresql://...` on as many machines as there are:
each rebuilds the ablation's options from the study (its user attribute ablation_config),
reopens the same parent run and draws trials from the same study (Optuna's RDB storage),
so every trial is one child run under that parent. A worker started before the study is
ready waits for it. A worker that dies leaves its trial to Optuna's heartbeat: failed, then
retried by another worker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..ablation.config import STORAGE_HELP
from ..options import at_least, option


HELP = "join an ablation study (Optuna storage) and run its trials until it is complete"
EXAMPLES = """\
    deepfake-mlflow worker ablation-dfdc-grid-bce-1a2b3c --storage postgresql://host/optuna
"""
POLL_S = 2.0


@dataclass(frozen=True)
class WorkerConfig:
    study: str = option(help="the study's name, as the ablation printed it "
                             "(ablation-<dataset>-<mode>-<loss>-<fingerprint>, or its --study)")
    storage: str = option("", help=STORAGE_HELP)
    wait: float = option(120.0, help="seconds to wait for the study to be created")

    def __post_init__(self):
        at_least(self, 0, "wait")


CONFIG = WorkerConfig


def run(cfg: WorkerConfig) -> dict:
    """Run trials of the study until none is left; returns the study's summary."""
    import optuna

    from ..errors import UserInputError
    from ..ablation.config import AblationConfig
    from ..ablation.storage import default_storage, shown_url
    from . import ablation

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = cfg.storage or default_storage()
    deadline = time.monotonic() + cfg.wait
    while True:
        options = _ready(storage, cfg.study)
        if options is not None:
            break
        if time.monotonic() > deadline:
            raise UserInputError(f"no ready study {cfg.study!r} in {shown_url(storage)} "
                                 f"after {cfg.wait:g} s: start it with `deepfake-mlflow "
                                 "ablation DATASET --storage URL` first")
        time.sleep(POLL_S)
    # the ablation says which study it joined, in its first line
    return ablation.run(AblationConfig(**{**options, "storage": storage, "study": cfg.study}))


def _ready(storage: str, name: str) -> dict | None:
    """The study's ablation options once it exists and names its parent run, else None."""
    import optuna

    from ..ablation.storage import storage_errors
    try:
        with storage_errors(storage):  # a wrong or unreachable URL: one line, at once
            study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:  # not created yet
        return None
    attrs = study.user_attrs
    if "ablation_config" not in attrs or "mlflow_parent_run_id" not in attrs:
        return None
    return {k: tuple(v) if isinstance(v, list) else v
            for k, v in attrs["ablation_config"].items()}


def report(summary) -> int:
    """The study's trials as the ablation prints them."""
    from .ablation import report as report_ablation
    return report_ablation(summary)
