"""One static HTML report of a study: the paper's tables and figures beside the paper's values.

build() reads a study from the tracking store (dashboards.store), draws every figure
(dashboards.figures), writes report.html with its figures in figures/ beside it (no server,
no network: the style is inlined, the figures are files), and logs the folder to the
study's parent run under report/. Every table cell and figure links to the MLflow run it
comes from. A section without runs says so; it never stops the others.
"""

from __future__ import annotations

import functools
import html
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import pandas as pd

from deepfake_mlflow import config, naming, tracking
from deepfake_mlflow.evaluation import matrix, plots
from deepfake_mlflow.evaluation.matrix import PAPER_TABLES, SELECTED
from deepfake_mlflow.evaluation.plots import label, ordered

from deepfake_mlflow.errors import first_line

from . import figures, paper, store

log = logging.getLogger(__name__)
STYLE = Path(__file__).with_name("report.css")


@dataclass
class Section:
    anchor: str
    title: str
    body: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Report:
    """The sections of the page, and the figures written on the way."""

    def __init__(self, study: store.Study, out: Path, ui_url: str):
        self.study, self.out, self.ui = study, out, ui_url.rstrip("/")
        self.sections: list[Section] = []
        self.figures: list[Path] = []
        (out / "figures").mkdir(parents=True, exist_ok=True)

    @functools.cached_property
    def matrix(self) -> pd.DataFrame:
        """The grid's cells (store.matrix_rows), read once for every section."""
        return store.matrix_rows(self.study)

    def claims_evidence(self, scratch: Path) -> pd.DataFrame:
        """Every comparison behind the claims' verdicts (study.claims), or an empty table."""
        if not hasattr(self, "_evidence"):
            parent = self.study.parent
            found = store.download_csv(parent, "claims_evidence.csv", scratch) if parent \
                else None
            self._evidence = found if found is not None else pd.DataFrame(
                columns=["claim", "trained_on", "test_set", "a", "b", "verdict"])
        return self._evidence

    def link(self, run_id: str) -> str:
        run = self.study.by_id.get(run_id)
        experiment = run.info.experiment_id if run else ""
        # workflowType: MLflow 3's UI otherwise opens in its GenAI mode
        return tracking.store.ui_runs_url(experiment, self.ui).replace(
            "/runs?", f"/runs/{run_id}?")

    def anchor(self, text: str, run_id: str) -> str:
        if not run_id:
            return html.escape(text)
        return f'<a href="{self.link(run_id)}" title="run {run_id}">{html.escape(text)}</a>'

    def figure(self, fig, name: str, caption: str, run_id: str = "") -> str:
        png, pdf = plots.save(fig, self.out / "figures" / name)
        self.figures += [png, pdf]
        from PIL import Image
        with Image.open(png) as drawn:  # shown at 96 of its 300 dots per inch: sharp, not huge
            width = round(drawn.width * 96 / config.FIGURE_DPI)
        image = (f'<img src="figures/{png.name}" style="width: {width}px" '
                 f'alt="{html.escape(caption)}">')
        if run_id:
            image = f'<a href="{self.link(run_id)}">{image}</a>'
        source = f' · {self.anchor("its MLflow run", run_id)}' if run_id else ""
        return (f'<figure>{image}<figcaption>{html.escape(caption)} · '
                f'<a href="figures/{pdf.name}">PDF</a>{source}</figcaption></figure>')


# --- sections ---------------------------------------------------------------------------------
VERDICT_CLASS = {"supported": "supported", "contradicted": "contradicted"}


def claims_section(report: Report, scratch: Path) -> Section:
    """The paper's conclusions judged on this study's runs (study.claims): one row a claim,
    its verdict and why, its largest effect, the evidence on the study's run."""
    section = Section("claims", "The paper's conclusions on this data")
    parent = report.study.parent
    verdicts = store.download_csv(parent, "claims.csv", scratch) if parent else None
    if verdicts is None or not len(verdicts):
        section.notes.append("no claims judged in this study (a study of an earlier version, "
                             "or runs of one experiment)")
        return section
    evidence = report.anchor("claims_evidence.csv", parent.info.run_id)
    rows = []
    for r in verdicts.astype(object).where(verdicts.notna(), "").itertuples():
        tint = VERDICT_CLASS.get(r.verdict, "undecided")
        rows.append(f"<tr><td>{html.escape(str(r.claim))}</td><td>{html.escape(r.says)}</td>"
                    f"<td>{html.escape(r.rests_on)}</td>"
                    f'<td class="{tint}"><b>{html.escape(r.verdict)}</b></td>'
                    f"<td>{html.escape(r.why)}</td><td>{html.escape(r.largest_effect)}</td></tr>")
    section.body.append(
        "<p>Each claim of the paper (sections V-VI) as comparisons of this study's runs: the "
        "paired frame-AUC difference on the same test videos, Holm-corrected within the "
        f"claim (alpha {config.TEST_ALPHA}); a claim of no difference holds when every "
        f"interval lies within \u00b1{config.CLAIM_EQUIVALENCE_MARGIN:g} AUC. Every "
        f"comparison behind a verdict: {evidence} on the study's run.</p>"
        '<table class="list"><thead><tr><th>claim</th><th>the paper says</th>'
        "<th>rests on</th><th>verdict</th><th>why</th><th>largest difference [95% "
        f"interval]</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
    return section


def tables_section(report: Report, scratch: Path) -> Section:
    from deepfake_mlflow.evaluation.matrix import over_seeds
    section = Section("tables", "Tables I-IV: frame-level ROC AUC across datasets")
    table = over_seeds(report.matrix)  # a variant of several seeds: their mean
    published = paper.tables()
    trained = store.variants(report.study)
    if not trained:
        section.notes.append("no grid trainings in this study: nothing to tabulate")
        return section
    section.body.append(
        "<p>Rows: training dataset; columns: test dataset. Each cell: our AUC (linked to the "
        "evaluation run that measured it) with its 95% interval (the test videos drawn "
        "again, 1000 times; none where a test set holds fewer than "
        f"{config.INTERVAL_MIN_VIDEOS} videos of a class), the paper's value and the "
        "difference. The in-domain diagonal is outlined in the heatmaps; a hatched cell's "
        "interval holds 0.5, chance. An AUC whose interval lies below 0.5 (marked "
        f"{config.BELOW_CHANCE_MARK}) is not a coin toss: the model's scores point the "
        "wrong way on that test set, "
        "ranking its real faces above its fakes, and the colour scale spans 0 to 1 so that "
        "such a cell looks as far from chance as it is. Under Tables II-IV, each cell "
        "against the table the paper compares it with (\u25b2 above, \u25bc below, = not "
        "distinguishable; the claims' paired test on the same test videos, Holm within the "
        "claim); a difference from the paper is greyed where the cell has no interval.</p>")
    videos = table.groupby("test_set")["test_videos"].max().to_dict()
    variants = sorted({(loss, augment) for _, loss, augment in trained}, key=_variant_order)
    for loss, augment in variants:
        rows = table[(table["loss"] == loss) & (table["augment"] == augment)]
        reference = paper.grid(published, loss, augment)
        datasets = ordered({d for d, lo, au in trained if (lo, au) == (loss, augment)})
        tests = ordered(set(rows["test_set"]) | (set(reference.columns)
                                                 if reference is not None else set()))
        grid, low, high = (rows.pivot_table(index="train_dataset", columns="test_set",
                                            values=value, aggfunc="first", dropna=False)
                           .reindex(index=datasets, columns=tests)
                           for value in ("auc_frame", "auc_frame_low", "auc_frame_high"))
        heading = _variant_title(loss, augment)
        section.body.append(f"<h3>{html.escape(heading)}</h3><div class=\"pair\">")
        marks = _verdict_marks(report.claims_evidence(scratch), loss, augment)
        section.body.append(_html_grid(report, rows, grid, reference, videos, low, high,
                                       marks))
        missing = [f"{label(d)} → {label(t)}" for d in datasets for t in tests
                   if pd.isna(grid.loc[d, t])]
        if missing:
            section.notes.append(f"{heading}: no evaluation for " + ", ".join(missing))
        fig = plots.matrix_heatmap(grid, heading, paper=reference, videos=videos, low=low,
                                   high=high)
        source = rows["eval_run_id"].iloc[0] if len(rows) else ""
        matrix_run = _matrix_run(report.study, source)
        section.body.append(report.figure(fig, f"table-{loss}-{_slug(augment)}",
                                          f"{heading}: ours, the paper's, and the difference",
                                          matrix_run) + "</div>")
    return section


def _variant_order(variant: tuple[str, str]) -> tuple:
    """Tables I, II, III, IV first (the paper's order), then the other variants by name."""
    order = list(PAPER_TABLES)
    return (order.index(variant) if variant in order else len(order), variant)


def _variant_title(loss: str, augment: str) -> str:
    shown = "SELECTED (" + augment + ")" if augment == SELECTED else augment
    name = f"{loss.upper()}, augmentation {shown}"
    return f"{PAPER_TABLES[(loss, augment)]}: {name}" if (loss, augment) in PAPER_TABLES else name


def _slug(text: str) -> str:
    return "selected" if text == SELECTED else text.replace("+", "-")


def _matrix_run(study: store.Study, eval_run_id: str) -> str:
    """The matrix run above an evaluation (the evaluation itself when it has none)."""
    run = study.by_id.get(eval_run_id)
    if run is None:
        return ""
    parent = run.data.tags.get(store.PARENT, "")
    parent_run = study.by_id.get(parent)
    if parent_run is not None and parent_run.data.tags.get("stage") == "evaluate":
        return parent
    return eval_run_id


VERDICT_MARKS = {"better": ("\u25b2", "better"), "worse": ("\u25bc", "worse"),
                 "not distinguishable": ("=", "n.d."), "too few videos": ("?", "n/a")}


def _verdict_marks(evidence: pd.DataFrame, loss: str, augment: str) -> dict:
    """The cells of a table that a claim compares with another table (Table II against
    Table I, III against I, IV against III): (train, test) -> a line saying how the cell
    compares, from the claim's paired test."""
    name = f"{loss}/{augment}"
    marks = {}
    measured = evidence.get("measure", pd.Series("frame AUC", index=evidence.index))
    chosen = evidence[(evidence["a"].astype(str) == name) & (measured == "frame AUC")]
    for r in chosen.itertuples():
        other = tuple(str(r.b).split("/", 1))
        table = PAPER_TABLES.get(other, str(r.b))
        symbol, word = VERDICT_MARKS.get(r.verdict, ("?", str(r.verdict)))
        interval = "" if pd.isna(r.low) else f" [{r.low:+.2f}, {r.high:+.2f}]"
        tip = (f"claim {r.claim}: {name} minus {r.b} on the same test videos, "
               f"{r.difference:+.3f}{interval}, Holm p {r.p_holm:.3g}")
        marks[(r.trained_on, r.test_set)] = (
            f'<span class="verdict {word.replace(".", "").replace("/", "")}" '
            f'title="{html.escape(tip)}">{symbol} vs {html.escape(table)}: '
            f"{r.difference:+.3f} {word}</span>")
    return marks


def _html_grid(report: Report, rows: pd.DataFrame, grid: pd.DataFrame,
               reference: pd.DataFrame | None, videos: dict, low: pd.DataFrame,
               high: pd.DataFrame, verdicts: dict) -> str:
    head = "".join(f"<th>{label(t)}<br><small>{_videos(videos.get(t))}</small></th>"
                   for t in grid.columns)
    body = []
    for dataset in grid.index:
        cells = []
        for test in grid.columns:
            value = grid.loc[dataset, test]
            theirs = None
            if reference is not None and dataset in reference.index and test in reference.columns:
                theirs = reference.loc[dataset, test]
            css = "diag" if dataset == test else ""
            if pd.isna(value):
                text = '<span class="missing" title="no run measured this cell">—</span>'
            else:
                found = rows[(rows["train_dataset"] == dataset) & (rows["test_set"] == test)]
                run_id = found["eval_run_id"].iloc[0] or found["train_run_id"].iloc[0]
                lo, hi = low.loc[dataset, test], high.loc[dataset, test]
                mark = config.BELOW_CHANCE_MARK if matrix.below_chance(hi) else ""
                text = (f'<span class="ours">{report.anchor(f"{value:.3f}", run_id)}'
                        f'{mark}</span>')
                spread = found["auc_frame_sd"].iloc[0] if "auc_frame_sd" in found else None
                if spread is not None and not pd.isna(spread):  # a mean over seeds
                    text += (f'<span class="interval" title="standard deviation over '
                             f'{int(found["seeds"].iloc[0])} seeds">±{spread:.2f}</span>')
                if not (pd.isna(lo) or pd.isna(hi)):
                    text += f'<span class="interval">[{lo:.2f}, {hi:.2f}]</span>'
                else:
                    text += f'<span class="interval">{_no_interval(found.iloc[0])}</span>'
                text += verdicts.get((dataset, test), "")
            if theirs is not None and not pd.isna(theirs):
                text += f'<span class="paper">paper {theirs:.3f}</span>'
                if not pd.isna(value):
                    delta = value - theirs
                    # a difference from the paper means something only with an interval
                    tone = ("up" if delta >= 0 else "down") if not pd.isna(lo) else "muted"
                    text += (f'<span class="delta {tone}" title="ours minus the paper\'s">'
                             f'{delta:+.3f}</span>')
            cells.append(f'<td class="{css}">{text}</td>')
        body.append(f"<tr><th>{label(dataset)}</th>{''.join(cells)}</tr>")
    return (f'<table class="grid"><thead><tr><th>train \\ test</th>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def _no_interval(row: pd.Series) -> str:
    """Why a cell has no interval: n/a: 2 real videos; a mean over seeds has its spread."""
    if row.get("seeds", 1) and row.get("seeds", 1) > 1:
        return "each seed's interval in its run"
    total, fake = row.get("test_videos"), row.get("fake_videos")
    if pd.isna(total) or fake is None or pd.isna(fake):
        return "n/a"
    real = total - fake
    fewer, kind = (real, "real") if real <= fake else (fake, "fake")
    return f"n/a: {fewer:.0f} {kind} video{'s' if fewer != 1 else ''}"


def _videos(count) -> str:
    return "" if count is None or pd.isna(count) else f"{count:.0f} test videos"


def ablation_section(report: Report, scratch: Path) -> Section:
    section = Section("ablation", "Fig. 3: each augmentation alone")
    trials = store.trial_rows(report.study)
    if trials.empty:
        section.notes.append("no ablation trials in this study")
        return section
    for name, rows in trials.groupby("optuna_study"):
        dataset = rows["dataset"].iloc[0]
        parent = next((r.info.run_id for r in report.study.stage("ablation")
                       if r.data.tags.get("optuna_study") == name
                       and "optuna_trial" not in r.data.tags), "")
        complete = rows[rows["state"] == "COMPLETE"]
        section.body.append(f"<h3>{html.escape(name)} "
                            f"({report.anchor('the study run', parent)})</h3>")
        aucs = [c for c in rows.columns if c.startswith("auc_frame/")]
        run = report.study.by_id.get(parent)
        comparison = store.download_csv(run, "comparison.csv", scratch) if run else None
        seeds = int(rows["seeds"].max()) if "seeds" in rows and rows["seeds"].notna().any() \
            else 1
        if len(complete) and aucs:
            fig = figures.ablation_chart(rows, dataset, f"BCE on {label(dataset)}, one "
                                                        "augmentation at a time", comparison)
            section.body.append(report.figure(
                fig, _slug(name if name.startswith("ablation") else f"ablation-{name}"),
                f"Fig. 3 ({name}): frame AUC of each augmentation on every test set"
                + (f", mean over {seeds} seeds" if seeds > 1 else "")
                + "; bars: 95% interval; lines: NONE"
                + ("; \u25b2/\u25bc: better/worse than NONE on the same test videos "
                   f"(paired bootstrap, Holm-adjusted p < {config.TEST_ALPHA})"
                   if comparison is not None and len(comparison) else ""), parent))
        else:
            section.notes.append(f"{name}: no completed trial with test AUCs yet")
        section.body.append(_trials_table(report, rows, aucs, dataset))
        if comparison is not None and len(comparison):
            section.body.append(_verdicts_table(comparison))
        failed = rows[rows["state"].isin(["FAIL", "FAILED", "KILLED", "PRUNED"])]
        if len(failed):
            section.notes.append(f"{name}: {len(failed)} trial(s) not complete: "
                                 + ", ".join(f"{a} ({s})" for a, s in
                                             zip(failed["augment"], failed["state"])))
    return section


def _trials_table(report: Report, rows: pd.DataFrame, aucs: list[str], dataset: str) -> str:
    """The trials in the figure's order, each with its objective and test AUCs."""
    tests = ordered(c.split("/", 1)[1] for c in aucs)
    head = "".join(f"<th>{label(t)} AUC</th>" for t in tests)
    body = []
    for _, row in figures.ablation_order(rows, dataset).iterrows():
        cells = "".join(f"<td>{_auc_cell(row, t)}</td>" for t in tests)
        body.append(f"<tr><td>{report.anchor(str(row['trial']), row['run_id'])}</td>"
                    f"<td>{html.escape(naming.augment_label(row['augment']).upper())}</td>"
                    f"<td>{row['state']}</td>"
                    f"<td>{_fmt(row['objective'], 4)}{_spread(row)}</td>{cells}</tr>")
    return (f"<p>In the figure's order (decreasing AUC on the {label(dataset)} test set). "
            "<b>Objective</b>: what the ablation ranks its trials by, by default the trial's "
            "validation loss on its own training dataset (with several seeds: their mean "
            "\u00b1 their standard deviation), lower is better; the test AUCs beside it are "
            "reported, never optimised.</p>"
            f'<table class="list"><thead><tr><th>trial</th><th>augmentation</th><th>state</th>'
            f"<th>objective</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _spread(row: pd.Series) -> str:
    """±sd of a trial's objective over its seeds (nothing for one seed)."""
    sd = row.get("objective_sd")
    return "" if sd is None or pd.isna(sd) else f"±{sd:.2f}"


def _auc_cell(row: pd.Series, test: str) -> str:
    """A trial's AUC on a test set: the mean over its seeds with their spread, and its
    interval (matrix.cell)."""
    from deepfake_mlflow.evaluation.matrix import cell
    values = [row.get(f"{k}/{test}", float("nan"))
              for k in ("auc_frame", "auc_frame_low", "auc_frame_high", "auc_frame_sd")]
    return html.escape(cell(*[float("nan") if v is None else v for v in values]))


def _verdicts_table(comparison: pd.DataFrame) -> str:
    """Each augmentation against NONE per test set: the AUC difference, its interval, the
    verdict, and the videos and seeds it rests on."""
    tests = ordered(comparison["test_set"].unique())
    head = "".join(f"<th>{label(t)}</th>" for t in tests)
    body = []
    for augment, rows in comparison.groupby("augment", sort=False):
        by_test = {r.test_set: r for r in rows.itertuples()}
        cells = []
        for test in tests:
            r = by_test.get(test)
            if r is None:
                cells.append("<td>—</td>")
                continue
            interval = "" if pd.isna(r.low) else f" [{r.low:+.2f}, {r.high:+.2f}]"
            cells.append(f"<td>{r.difference:+.3f}{interval}<br><em>{r.verdict}</em></td>")
        body.append(f"<tr><td>{html.escape(naming.augment_label(augment).upper())}</td>"
                    f"{''.join(cells)}</tr>")
    first = comparison.groupby("test_set").first()
    videos = ", ".join(f"{label(t)} {int(first.loc[t, 'real_videos'])} real / "
                       f"{int(first.loc[t, 'fake_videos'])} fake" for t in tests)
    return (f"<p>Against NONE: frame AUC difference on the same test videos, with its 95% "
            f"interval (paired bootstrap over videos and the seeds' spread; "
            f"{int(comparison['seeds_a'].max())} seed(s) per augmentation); better or worse "
            f"when the Holm-adjusted p-value over the {int(comparison['p_value'].notna().sum())}"
            f" comparisons tested is below "
            f"{config.TEST_ALPHA}. Test videos: {videos}; fewer than "
            f"{config.INTERVAL_MIN_VIDEOS} of a class allow no test.</p>"
            f'<table class="list"><thead><tr><th>augmentation</th>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def _fmt(value, digits: int) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def limited_section(report: Report, scratch: Path) -> Section:
    section = Section("data-limited", "Fig. 1: data-limited training, BCE against triplet")
    points = store.limited_rows(report.study)
    if points.empty or not (points["train_videos"] > 0).any():
        section.notes.append("no data-limited trainings in this study")
        return section
    datasets = ordered(points["dataset"].unique())
    evidence = report.claims_evidence(scratch)
    claim1 = evidence[(evidence["a"].astype(str) == "triplet")
                      & (evidence["b"].astype(str) == "bce")] if len(evidence) else evidence
    verdicts = {(r.trained_on, r.test_set, int(r.train_videos)): r.verdict
                for r in claim1.itertuples() if not pd.isna(r.train_videos)}
    fig = figures.limited_curves(points, "Data-limited training, BCE against triplet",
                                 verdicts)
    first = points.loc[points["train_videos"] > 0, "run_id"].iloc[0]
    section.body.append(report.figure(
        fig, "data-limited", "Fig. 1: frame AUC against the training videos per class, one "
        "panel per training dataset (" + ", ".join(label(d) for d in datasets) + "), a line "
        "per test set and loss (bands: 95% interval where the test set allows one; the "
        "in-domain line thicker; \"all\": the grid's training on every video; \u25b2/\u25bc: "
        "triplet significantly above/below BCE at that point, claim 1's paired test)",
        report.study.by_id[first].data.tags.get(store.PARENT, first)))
    for dataset in datasets:
        rows = points[points["dataset"] == dataset]
        links = ", ".join(report.anchor(f"{r.loss} {r.train_videos or 'all'}", r.run_id)
                          for r in rows.drop_duplicates("run_id").sort_values(
                              ["loss", "train_videos"]).itertuples())
        section.body.append(f"<p>Trained on {label(dataset)}: {links}</p>")
    return section


def mds_section(report: Report, scratch: Path) -> Section:
    section = Section("mds", "Fig. 2: MDS of the features, BCE against triplet")
    found = [(e, t, n) for e, t, n in store.mds_runs(report.study)
             if t.data.tags.get("augment") == "none"]
    if not found:
        section.notes.append("no MDS projections of models trained without augmentation")
        return section
    for test_set in ordered({n for _, _, n in found}):
        projections, sources = {}, []
        for evaluation, trained, name in found:
            if name != test_set:
                continue
            key = (trained.data.tags.get("dataset"), trained.data.tags.get("loss"))
            points = store.download_csv(evaluation, f"mds/{name}.csv", scratch)
            if points is not None and key not in projections:
                projections[key] = points
                sources.append(report.anchor(f"{label(key[0])} {key[1]}", evaluation.info.run_id))
        if not projections:
            section.notes.append(f"{test_set}: the MDS artifacts could not be read")
            continue
        fig = figures.mds_grid(projections, test_set,
                               f"MDS of {label(test_set)} test faces (every point a frame)")
        first = next(e.info.run_id for e, _, n in found if n == test_set)
        section.body.append(report.figure(fig, f"mds-{test_set}", f"Fig. 2: {label(test_set)} "
                                          "test faces under each model's features",
                                          _matrix_run(report.study, first)))
        section.body.append(f"<p>Evaluation runs: {', '.join(sources)}</p>")
    return section


def roc_section(report: Report, scratch: Path) -> Section:
    section = Section("roc", "ROC curves (frame level)")
    table = report.matrix
    if table.empty:
        section.notes.append("no evaluated grid models")
        return section
    groups = sorted(table.groupby(["loss", "augment"]), key=lambda g: _variant_order(g[0]))
    for (loss, augment), rows in groups:
        curves: dict = {}
        for row in rows.itertuples():
            run = report.study.by_id.get(row.eval_run_id)
            faces = store.download_csv(run, f"predictions/{row.test_set}.parquet", scratch) \
                if run else None
            if faces is not None:
                curves.setdefault(row.train_dataset, {})[row.test_set] = (faces["label"],
                                                                        faces["logit"])
        if not curves:
            section.notes.append(f"{_variant_title(loss, augment)}: no predictions to draw")
            continue
        heading = _variant_title(loss, augment)
        fig = figures.roc_grid(curves, heading)
        section.body.append(report.figure(fig, f"roc-{loss}-{_slug(augment)}",
                                          f"ROC, {heading} (solid: in-domain)",
                                          _matrix_run(report.study, rows["eval_run_id"].iloc[0])))
    return section


def errors_section(report: Report, scratch: Path) -> Section:
    """Where the grid's models err: each evaluation's gallery (copied beside the report, so
    that it opens from disk), its calibration and TPR at 5% FPR, and Table I's models'
    subgroup AUCs per test set."""
    section = Section("errors", "Errors: galleries, calibration and subgroups")
    table = report.matrix
    if table.empty:
        section.notes.append("no evaluated grid models")
        return section
    section.body.append(
        "<p>Each cell opens the evaluation's gallery: the videos the model gets most wrong "
        "and most right, each face with its score and a Grad-CAM map of where the model "
        "looked. Under the link: the expected calibration error of the video scores (ECE), "
        "then after the temperature fitted on the training set's validation videos; the TPR "
        "at 5% FPR (with n real test videos, no FPR below 1/n can be told from 0); and the "
        "false positive and false negative rates at the threshold picked on those "
        "validation videos (the one maximising balanced accuracy there): how far the "
        "operating point moves on another dataset. Intervals: 95%, videos resampled.</p>")
    groups = sorted(table.groupby(["loss", "augment"]), key=lambda g: _variant_order(g[0]))
    for (loss, augment), rows in groups:
        tests = ordered(rows["test_set"].unique())
        body = []
        for dataset in ordered(rows["train_dataset"].unique()):
            cells = []
            for test in tests:
                found = rows[(rows["train_dataset"] == dataset) & (rows["test_set"] == test)]
                run = report.study.by_id.get(found["eval_run_id"].iloc[0]) if len(found) \
                    else None
                cells.append(f"<td>{_gallery_cell(report, run, test, scratch)}</td>")
            body.append(f"<tr><th>{label(dataset)}</th>{''.join(cells)}</tr>")
        head = "".join(f"<th>{label(t)}</th>" for t in tests)
        heading = _variant_title(loss, augment)
        section.body.append(
            f"<h3>{html.escape(heading)}</h3><div class=\"pair\">"
            f'<table class="grid"><thead><tr><th>train \\ test</th>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")
        curves, eces, calibrated, calibrated_eces = {}, {}, {}, {}
        for row in rows.itertuples():
            run = report.study.by_id.get(row.eval_run_id)
            for suffix, drawn, found, metric in (("", curves, eces, "ece_video"),
                                                 ("_calibrated", calibrated, calibrated_eces,
                                                  "ece_video_calibrated")):
                bins = store.download_csv(run, f"calibration/{row.test_set}{suffix}.csv",
                                          scratch) if run else None
                if bins is not None and len(bins):
                    drawn.setdefault(row.train_dataset, {})[row.test_set] = bins
                    found[(row.train_dataset, row.test_set)] = run.data.metrics.get(
                        f"{metric}/{row.test_set}")
        if curves:
            section.body.append(report.figure(
                figures.reliability_grid(curves, eces, f"Calibration, {heading}",
                                         calibrated, calibrated_eces),
                f"calibration-{loss}-{_slug(augment)}",
                f"Reliability of the video scores, {heading}: fraction of fakes against the "
                "mean p_fake of each tenth of p_fake (dotted: perfect calibration; a "
                "marker's area: the share of the test set's videos in its bin)"
                + ("; below, after the temperature fitted on the training set's validation "
                   "videos" if calibrated else ""),
                _matrix_run(report.study, rows["eval_run_id"].iloc[0])))
        section.body.append("</div>")
    first = groups[0][1] if groups else table
    section.body.append(_subgroups_tables(report, first, scratch))
    return section


def _gallery_cell(report: Report, run, test: str, scratch: Path) -> str:
    if run is None:
        return '<span class="na">—</span>'
    metrics = run.data.metrics

    def with_interval(name: str) -> str | None:
        value, low, high = (metrics.get(f"{name}{s}/{test}") for s in ("", "_low", "_high"))
        if value is None:
            return None
        return f"{value:.2f}" + (f" [{low:.2f}, {high:.2f}]" if low is not None else "")

    facts = []
    ece, calibrated = with_interval("ece_video"), metrics.get(f"ece_video_calibrated/{test}")
    if ece is not None:
        facts.append(f"ECE {ece}" + (f", {calibrated:.2f} calibrated"
                                     if calibrated is not None else ""))
    tpr = with_interval("tpr_at_fpr_5pct_video")
    if tpr is not None:
        facts.append(f"TPR@5% {tpr}")
    fpr, fnr = (with_interval(f"{r}_at_val_threshold_video") for r in ("fpr", "fnr"))
    if fpr is not None:
        facts.append(f"val threshold: FPR {fpr}, FNR {fnr}")
    target = report.out / "galleries" / f"{run.info.run_id[:12]}-{test}"
    link = report.anchor("its run", run.info.run_id)
    try:
        if not (target / "index.html").is_file():
            Path(mlflow.artifacts.download_artifacts(
                run_id=run.info.run_id, artifact_path=f"gallery/{test}",
                dst_path=str(target.parent / "tmp"))).rename(target)
        link = (f'<a href="galleries/{target.name}/index.html">gallery</a> · ' + link)
    except Exception:  # noqa: BLE001 - an evaluation of an earlier version has none
        pass
    finally:
        import shutil
        shutil.rmtree(target.parent / "tmp", ignore_errors=True)
    return link + "".join(f'<span class="interval">{html.escape(f)}</span>' for f in facts)


def _subgroups_tables(report: Report, rows: pd.DataFrame, scratch: Path) -> str:
    """Per test set, the video AUC of each subgroup under each training dataset's model of
    one variant (Table I's when the study has it)."""
    parts = []
    for test in ordered(rows["test_set"].unique()):
        columns = {}
        for row in rows[rows["test_set"] == test].itertuples():
            run = report.study.by_id.get(row.eval_run_id)
            found = store.download_csv(run, f"subgroups/{test}.csv", scratch) if run else None
            if found is not None and len(found):
                columns[row.train_dataset] = found
        if not columns:
            continue
        trained = ordered(columns)
        names = next(iter(columns.values()))[["kind", "subgroup"]]
        body = []
        for i, (kind, name) in enumerate(names.itertuples(index=False)):
            cells = []
            for dataset in trained:
                r = columns[dataset].iloc[i] if i < len(columns[dataset]) else None
                if r is None or pd.isna(r["auc_video"]):
                    n = "" if r is None else f"{int(r['real_videos'])}/{int(r['fake_videos'])}"
                    cells.append(f'<td><span class="na">n/a</span> '
                                 f"<small>{n} videos</small></td>")
                    continue
                interval = "" if pd.isna(r["auc_video_low"]) else \
                    f' <span class="interval">[{r["auc_video_low"]:.2f}, ' \
                    f'{r["auc_video_high"]:.2f}]</span>'
                cells.append(f"<td>{r['auc_video']:.3f}{interval}<small>"
                             f"{int(r['real_videos'])} real / {int(r['fake_videos'])} fake"
                             "</small></td>")
            body.append(f"<tr><th>{html.escape(kind)}: {html.escape(str(name))}</th>"
                        f"{''.join(cells)}</tr>")
        head = "".join(f"<th>trained on {label(d)}</th>" for d in trained)
        parts.append(f"<h3>Subgroups of the {label(test)} test set (video AUC)</h3>"
                     f'<table class="grid"><thead><tr><th>subgroup</th>{head}</tr></thead>'
                     f"<tbody>{''.join(body)}</tbody></table>")
    if not parts:
        return ""
    return ("<p>Subgroups (evaluation/breakdown.py): a fake-only attribute (FF++'s method) "
            "against every real video, a real-only one (Celeb-DF's source) against every "
            "fake, the others (DFDC's part, face size and detector confidence in terciles) "
            f"within the subgroup; an AUC where it holds {config.BREAKDOWN_MIN_VIDEOS} videos "
            "of each class.</p>" + "".join(parts))


def robustness_section(report: Report, scratch: Path) -> Section:
    section = Section("robustness", "Robustness: re-compression and downscaling")
    tables, links = [], []
    for run in store.robustness_runs(report.study):
        table = store.download_csv(run, "robustness.csv", scratch)
        if table is None or table.empty:
            continue
        tags = run.data.tags
        model = f"{label(tags.get('dataset', '?'))}, " + \
            naming.variant(tags.get("loss", "?"), tags.get("augment", "?"))
        tables.append(table.assign(model=model + " on " + table["test_set"].map(label)))
        links.append(report.anchor(model, run.info.run_id))
    if not tables:
        section.notes.append("no robustness sweeps in this study")
        return section
    fig = plots.robustness_figure(pd.concat(tables), "AUC under JPEG re-compression and "
                                  "downscaling", group="model")
    section.body.append(report.figure(fig, "robustness", "Frame AUC of each swept model "
                                      "(trained on, loss/augmentation, tested on) as the test "
                                      "faces are re-compressed or downscaled",
                                      store.robustness_runs(report.study)[0].info.run_id))
    section.body.append(f"<p>Evaluation runs: {', '.join(links)}</p>")
    return section


def curves_section(report: Report) -> Section:
    section = Section("training", "Training curves")
    rows = []
    for run in report.study.grid_runs():
        tags = run.data.tags
        phases = report.study.children(run.info.run_id) or [run]
        for phase in phases:
            points = store.history(phase.info.run_id, "val_loss")
            rows += [{"dataset": tags.get("dataset"), "loss": tags.get("loss"),
                      "augment": tags.get("augment"), "phase": phase.data.tags.get("phase"),
                      "step": s, "value": v} for s, v in zip(points["step"], points["value"])]
    if not rows:
        section.notes.append("no validation-loss histories in this study")
        return section
    fig = figures.training_curves(pd.DataFrame(rows), "Validation loss of every grid training")
    parent = report.study.parent.info.run_id if report.study.parent else ""
    section.body.append(report.figure(fig, "training-curves", "Validation loss by iteration, "
                                      "per phase and training dataset", parent))
    return section


SECTIONS = (claims_section, tables_section, ablation_section, limited_section, mds_section,
            roc_section, errors_section, robustness_section, curves_section)


def build(study: store.Study, out: Path, ui_url: str | None = None,
          log_to_parent: bool = True) -> Path:
    """Write out/report.html and out/figures/; log them to the study's parent run. The
    run links open the tracking UI at ui_url (default: config.ui_url())."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    report = Report(study, out, ui_url or config.ui_url())
    with tempfile.TemporaryDirectory() as scratch:
        for make in SECTIONS:
            needs_scratch = make in (claims_section, tables_section, ablation_section,
                                     limited_section, mds_section, roc_section,
                                     errors_section, robustness_section)
            try:
                section = make(report, Path(scratch)) if needs_scratch else make(report)
            except Exception as err:  # noqa: BLE001 - one broken section, not a broken report
                section = Section(make.__name__, make.__name__.replace("_section", ""),
                                  notes=[f"could not be drawn: {first_line(err)}"])
                log.warning("report section %s: %s", make.__name__, first_line(err))
            report.sections.append(section)
    page = out / "report.html"
    page.write_text(render(report), encoding="utf-8")
    log.info("report: %d sections, %d figures in %.0f s", len(report.sections),
             len(report.figures) // 2, time.perf_counter() - started)
    if log_to_parent and study.parent is not None:
        mlflow.MlflowClient().log_artifacts(study.parent.info.run_id, str(out), "report")
    return page


def overview(report: Report) -> str:
    """The box at the top: what the data is, the model and its budget, and the videos each
    number rests on."""
    study, parent = report.study, report.study.parent
    demo = parent is not None and parent.data.tags.get("stage") == "demo"
    data = ("<b>Data</b>: the demo corpus, synthetic face swaps made from a few real photos "
            "and clips (deepfake_mlflow/corpus), written in the on-disk layouts of FF++, "
            "DFD, DFDC and Celeb-DF: not those datasets. Its numbers show the platform at "
            "work, not the paper's findings on real deepfakes." if demo else
            "<b>Data</b>: the datasets named in the tables, as indexed and extracted for "
            "this study (each training run names its faces index).")
    grid = study.grid_runs()
    parts = [data]
    if grid:
        params = grid[0].data.params
        parts.append(
            f"<b>Model</b>: {html.escape(params.get('model', '?'))} "
            f"({html.escape(params.get('pretrained', '?'))} weights), "
            f"{html.escape(params.get('size', '?'))} px faces, at most "
            f"{html.escape(params.get('max_iters', '?'))} iterations a phase, batches of "
            f"{html.escape(params.get('batch_size', '?'))}.")
        used = {}
        for run in grid:
            value = run.data.params.get("train_videos_used")
            if value and run.data.params.get("train_videos", "0") in ("0", ""):
                used.setdefault(run.data.tags.get("dataset", "?"), value)
        if used:
            parts.append("<b>Training videos</b> (all classes): " + ", ".join(
                f"{label(d)} {html.escape(used[d])}" for d in ordered(used)) + ".")
    table = report.matrix
    if len(table) and table["test_videos"].notna().any():
        counts = table.dropna(subset=["test_videos"]).groupby("test_set")[
            ["test_videos", "fake_videos"]].max()
        parts.append("<b>Test videos</b> (real / fake): " + ", ".join(
            f"{label(t)} {r.test_videos - r.fake_videos:.0f} / {r.fake_videos:.0f}"
            if not pd.isna(r.fake_videos) else f"{label(t)} {r.test_videos:.0f}"
            for t, r in counts.loc[ordered(counts.index)].iterrows()) + ".")
    return '<div class="overview">' + " ".join(f"<p>{p}</p>" for p in parts) + "</div>"


def render(report: Report) -> str:
    study, parent = report.study, report.study.parent
    nav = "".join(f'<a href="#{s.anchor}">{html.escape(s.title.split(":")[0])}</a>'
                  for s in report.sections)
    parts = []
    for s in report.sections:
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in s.notes)
        parts.append(f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>'
                     + "".join(s.body) + (f'<ul class="notes">{notes}</ul>' if notes else "")
                     + "</section>")
    trainings = len(study.grid_runs())
    where = report.anchor(parent.info.run_name or parent.info.run_id, parent.info.run_id) \
        if parent else "runs of one experiment"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(study.name)}: deepfake detection study report</title>
<style>{STYLE.read_text(encoding="utf-8")}</style></head>
<body><header><h1>Study <code>{html.escape(study.name)}</code></h1>
<p>Bondi et al., <i>Training Strategies and Data Augmentations in CNN-based DeepFake Video
Detection</i> (WIFS 2020), rebuilt from the tracking store
<code>{html.escape(mlflow.get_tracking_uri())}</code>: {where}, {len(study.runs)} runs,
{trainings} grid trainings. Paper values are the published EfficientNetB4 numbers on the
full datasets; a scaled-down study is not expected to match them.
Generated {time.strftime("%Y-%m-%d %H:%M")}.</p>
{overview(report)}
<p class="links">Run links open the tracking UI at <a href="{html.escape(report.ui)}"><code>{html.escape(report.ui)}</code></a>
(started by <code>make ui</code>; for another host or port, make the report again with
<code>deepfake-mlflow dashboard --ui-url URL</code>, or set <code>{config.UI_URL_ENV}</code>).
Inside MLflow's artifact viewer no link opens (the viewer sandboxes the page): download
<code>report/</code> and open <code>report.html</code>.</p>
<nav>{nav}</nav></header>
<main>{''.join(parts)}</main></body></html>
"""
