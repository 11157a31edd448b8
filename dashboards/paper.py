"""The paper's published values (Bondi et al., WIFS 2020, Tables I-IV), kept as data.

paper_tables.csv holds one row per cell: table, loss, augment (the canonical tag:
bc+hf+hsv+jpeg is the paper's SELECTED set), train_dataset, test_set, auc_frame. They are
EfficientNetB4 on the full datasets, frame-level ROC AUC, copied from the paper's tables.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

TABLES = Path(__file__).with_name("paper_tables.csv")


def tables() -> pd.DataFrame:
    return pd.read_csv(TABLES)


def grid(published: pd.DataFrame, loss: str, augment: str) -> pd.DataFrame | None:
    """The paper's train x test table of one variant, or None when the paper has none."""
    rows = published[(published["loss"] == loss) & (published["augment"] == augment)]
    if rows.empty:
        return None
    return rows.pivot(index="train_dataset", columns="test_set", values="auc_frame")
