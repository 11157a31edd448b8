"""The `ablation` stage: an Optuna study over the augmentations of one training dataset.

--mode grid    the paper's Fig. 3 set (NONE, each single augmentation, MIX), one trial
               each, through Optuna's GridSampler.
--mode search  on/off of each augmentation drawn by Optuna's sampler, trials pruned on
               the validation losses the training loop computes (median rule).

Each trial is a child run of the study's parent run (tags optuna_study, optuna_trial; the
trial's user attribute mlflow_run_id names the run); its training and evaluations are
runs beneath it. The objective reads validation splits only: the training set's
validation loss (minimised), or with --objective cross-val-auc the mean frame AUC on the
validation splits of other datasets (maximised). Test AUCs are measured and reported,
never optimised. The study lives in an Optuna storage (SQLite beside the tracking store
by default, any SQLAlchemy URL such as PostgreSQL to share it between workers): a re-run
resumes it, a failed trial is recorded FAIL with its reason, and a trial left RUNNING by
a killed worker is failed and retried through Optuna's heartbeat. The work is
deepfake_mlflow.ablation.study.
"""

from __future__ import annotations

from ..ablation.config import AblationConfig

HELP = "Optuna study over augmentations (grid: the paper's Fig. 3; search: sampled, pruned)"
EXAMPLES = """\
    deepfake-mlflow ablation dfdc
    deepfake-mlflow ablation dfdc --seeds 0,1,2 --storage postgresql://host/optuna
"""
CONFIG = AblationConfig


def run(cfg: AblationConfig) -> dict:
    """Run (or resume) the study; returns its summary: the trials table, the best trial."""
    from ..ablation.study import run_study
    return run_study(cfg)


def report(summary) -> int:
    """The trials table, best objective first, and the best trial."""
    import pandas as pd

    from ..evaluation.matrix import print_marked, test_auc_cells
    from ..naming import augment_label
    table = pd.DataFrame(summary["trials"])
    if len(table):
        table = table.sort_values("objective", na_position="last",  # best first
                                  ascending=summary.get("direction") != "MAXIMIZE")
        table["augment"] = table["augment"].map(augment_label)  # mix, not all seven names
        spread = table.get("objective_sd", pd.Series(dtype=float))
        table["objective"] = [  # over seeds: the mean and its spread, 1.261±0.30
            "-" if pd.isna(v) else f"{v:.4f}" + ("" if pd.isna(sd) else f"\u00b1{sd:.2f}")
            for v, sd in zip(table["objective"], spread.reindex(table.index))]
        table = test_auc_cells(table)  # AUC [95% interval]
        shown = [c for c in table.columns
                 if c not in ("mlflow_run_id", "fail_reason", "objective_sd")]
        print("ablation (Fig. 3), best objective first; test AUCs [95% interval] (over "
              "seeds: mean\u00b1sd [interval of the mean]) reported, never optimised:")
        print_marked(table[shown].to_string(index=False))
        if spread.notna().any():
            print("objective: mean over the seeds \u00b1 their standard deviation; trials "
                  "whose objectives lie within each other's spread could trade places "
                  "with other seeds")
    comparison = summary.get("comparison")
    if comparison is not None and len(comparison):
        from ..ablation.verdicts import printed
        print("\neach augmentation against NONE, frame AUC difference [95% interval] "
              "on the same test videos:")
        print(printed(comparison))
    best = summary["best"]
    if best is not None:
        print(f"best: trial {best['trial']} ({augment_label(best['augment'])}), objective "
              f"{best['objective']:.4f}, run {best['mlflow_run_id']}")
    return 0
