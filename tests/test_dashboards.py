"""The dashboards' report, built from the tiny demo's real tracking store, and read back in a
real browser: Debian's Chromium, driven by Playwright (installed by `make setup`)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import matplotlib
import matplotlib.image
import mlflow
import pytest

import services
from dashboards import report, store
from deepfake_mlflow import cli
from deepfake_mlflow.tracking.store import configure

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SECTIONS = ("claims", "tables", "ablation", "data-limited", "mds", "roc", "robustness", "training")
RUN_LINK = re.compile(r"#/experiments/(\w+)/runs/(\w+)")


def build(tmp_path: Path, **selection) -> tuple[Path, str]:
    page = report.build(store.load(**selection), tmp_path / "report",
                        ui_url="http://127.0.0.1:5000", log_to_parent=False)
    return page, page.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def built_report(tiny_demo) -> tuple[Path, str]:
    """The report the tiny demo ended with: report.build on the study's store, linking to
    the default UI (config.UI_URL), for the tests that only read it."""
    from deepfake_mlflow import config
    assert config.ui_url() == "http://127.0.0.1:5000"  # the links the tests below expect
    page = tiny_demo["results"]["report"]
    return page, page.read_text(encoding="utf-8")


def test_the_report_has_every_section_and_links_only_to_runs_that_exist(demo_store,
                                                                        built_report):
    # the demo drew Optuna's plots in this process: their ggplot style must not stay on
    assert matplotlib.rcParams["axes.facecolor"] == "white"
    page, text = built_report
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in text
    # the report opens with the paper's claims, each with its verdict or its reason
    assert text.index('<section id="claims">') < text.index('<section id="tables">')
    claims = text[text.index('<section id="claims">'):text.index('<section id="tables">')]
    assert claims.count("<tr>") == 1 + 8 and "claims_evidence.csv" in claims
    assert "the ablation ran on ff only" in claims
    # the paper's values beside ours: Table I's CelebDF diagonal, Table IV's DF diagonal
    assert "paper 0.998" in text and "paper 0.963" in text
    for heading in ("Table I:", "Table II:", "Table III:", "Table IV:", "Fig. 1", "Fig. 2",
                    "Fig. 3"):
        assert heading in text
    links = RUN_LINK.findall(text)
    assert len(links) > 40
    for experiment, run_id in set(links):
        assert mlflow.get_run(run_id).info.experiment_id == experiment
    # every figure is a link to the run it comes from
    assert len(re.findall(r'<a href="[^"]+"><img', text)) == text.count("<img")
    images = re.findall(r'<img src="([^"]+)"', text)
    assert len(images) >= 12  # 4 tables, 4 ROC, ablation, data-limited, MDS, robustness...
    for image in images:
        pixels = matplotlib.image.imread(page.parent / image)
        assert pixels.shape[0] > 300 and pixels.std() > 0.05  # drawn, not blank
        assert (page.parent / image).with_suffix(".pdf").stat().st_size > 1000
    # no network needed: the only URLs are the tracking UI's, and the page names it
    assert "<code>http://127.0.0.1:5000</code>" in text
    assert "<script" not in text and "http" not in re.sub(
        r'href="http://127\.0\.0\.1:5000[^"]*"|<code>http://127\.0\.0\.1:5000</code>', "", text)


def test_a_missing_evaluation_is_an_empty_cell_with_a_note(demo_store, tmp_path, monkeypatch):
    """A training evaluated on one test set only (in a copy of the store): its row has one
    number and dashes, the notes name the missing cells, nothing crashes."""
    folder = tmp_path / "copy"
    folder.mkdir()
    shutil.copy(demo_store["folder"] / "mlflow.db", folder / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder}/mlflow.db")
    configure()
    parent = demo_store["results"]["parent_run_id"]
    client = mlflow.MlflowClient()
    run = client.create_run(mlflow.get_run(parent).info.experiment_id, run_name="dfd-bce-none",
                            tags={"mlflow.parentRunId": parent, "stage": "train",
                                  "final": "true", "dataset": "dfd", "loss": "bce",
                                  "augment": "none"})
    client.log_metric(run.info.run_id, "auc_frame/dfd", 0.91)
    client.set_terminated(run.info.run_id)
    _, text = build(tmp_path, run_id=parent)
    assert "no evaluation for DFD → CelebDF, DFD → DF, DFD → DFDC" in text
    assert text.count('class="missing"') == 3


def test_a_study_keeps_every_seed_and_drops_only_replaced_steps():
    """A study's runs read back from a real store: each seed of a variant is kept, a
    training re-run of the same seed replaces the older one (and its evaluation), and the
    indexed lookups answer what a scan of the runs would."""
    configure()
    train = {"stage": "train", "final": "true", "dataset": "dfdc", "loss": "bce",
             "augment": "none"}
    with mlflow.start_run(run_name="reproduce-x", tags={"stage": "reproduce"}) as parent:
        ids = {}
        for name, seed in (("s0-old", "0"), ("s1", "1"), ("s0-new", "0")):
            with mlflow.start_run(run_name=name, nested=True, tags={**train, "seed": seed}) as r:
                ids[name] = r.info.run_id
            with mlflow.start_run(run_name=f"eval:{name}", nested=True,
                                  tags={"stage": "evaluate", "train_run_id": r.info.run_id}):
                mlflow.log_metric("auc_frame/dfdc", 0.7)
    study = store.load(run_id=parent.info.run_id)
    kept = {r.info.run_name for r in study.runs}
    assert kept == {"reproduce-x", "s1", "s0-new", "eval:s1", "eval:s0-new"}
    assert {r.info.run_name for r in study.grid_runs()} == {"s1", "s0-new"}
    assert study.evaluation_of(ids["s1"], "dfdc").info.run_name == "eval:s1"
    assert len(study.children(parent.info.run_id)) == 4
    assert {r.info.run_name for r in study.stage("evaluate")} == {"eval:s1", "eval:s0-new"}


def test_a_store_without_a_study_says_so_in_one_line(capsys):
    assert cli.main(["dashboard"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no study" in err[0] and "make demo" in err[0]


# --- in a real browser -----------------------------------------------------------------------
def _browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} missing: `make setup` installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (make setup installs it)")
    from playwright.sync_api import sync_playwright
    return sync_playwright()


# flags of a headless Chromium on a machine without network (no background fetches)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)


def test_the_report_renders_in_chromium_from_disk(built_report, tmp_path):
    page_file, _ = built_report
    with _browser() as playwright:
        browser = _launch(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.on("requestfailed", lambda request: errors.append(request.url))
        page.goto(page_file.as_uri())
        page.wait_for_load_state("load")
        widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
        text = page.inner_text("body")
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert errors == []
    assert len(widths) >= 12 and min(widths) > 300  # every figure loaded
    assert "Table I: BCE, augmentation none" in text and "paper 0.998" in text
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] > 3000 and pixels.std() > 0.05


@pytest.fixture
def mlflow_ui(demo_store, tmp_path):
    """`mlflow server` on the demo's store, on 127.0.0.1 (one worker, no job runner)."""
    with services.tracking_server(demo_store["uri"], tmp_path) as url:
        yield url


EXPANDER = "button[data-component-id$='runnamecellrenderer.tsx_46']"  # a parent's +


def test_the_mlflow_ui_opens_the_study_on_its_runs_and_compares_bce_with_triplet(demo_store,
                                                                                  mlflow_ui,
                                                                                  tmp_path):
    parent = mlflow.get_run(demo_store["results"]["parent_run_id"])
    experiment = parent.info.experiment_id
    ablation = mlflow.search_runs([experiment], output_format="list",
                                  filter_string="tags.stage = 'ablation'")
    study_run = next(r for r in ablation if "optuna_trial" not in r.data.tags)
    runs = mlflow.search_runs([experiment], output_format="list",
                              filter_string="tags.stage = 'train' and tags.final = 'true' "
                                            "and params.train_videos = '0' "
                                            "and tags.augment = 'none'")
    bce = next(r for r in runs if r.data.tags["loss"] == "bce")
    triplet = next(r for r in runs if r.data.tags["loss"] == "triplet")
    with _browser() as playwright:
        browser = _launch(playwright)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        errors = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        # the link the demo prints: the runs view (MLflow 3 opens the GenAI overview
        # without workflowType), filtered to the ablation, its parents unfolded
        page.goto(f"{mlflow_ui}/#/experiments/{experiment}/runs?workflowType=machine_learning"
                  "&searchFilter=tags.stage%20%3D%20%27ablation%27")
        for name in (parent.info.run_name, study_run.info.run_name):
            cell = page.locator("[role=gridcell]", has_text=name).first
            cell.wait_for(timeout=60_000)
            cell.locator(EXPANDER).click()
        page.get_by_text("trial-4-", exact=False).first.wait_for(timeout=30_000)
        listed = page.inner_text("body")
        page.screenshot(path=str(tmp_path / "runs.png"))
        page.goto(f"{mlflow_ui}/#/compare-runs?runs=[%22{bce.info.run_id}%22,"
                  f"%22{triplet.info.run_id}%22]&experiments=[%22{experiment}%22]"
                  "&workflowType=machine_learning")
        page.get_by_text("Artifacts", exact=True).first.wait_for(timeout=60_000)
        page.get_by_text("Artifacts", exact=True).first.scroll_into_view_if_needed()
        page.wait_for_timeout(3000)  # the artifacts section loads after the page
        compared = page.inner_text("body")
        page.screenshot(path=str(tmp_path / "compare.png"))
        browser.close()
    assert "Runs" in listed and "Traces 0" not in listed
    assert sum(f"trial-{i}-" in listed for i in range(5)) == 5  # the tiny demo's 5 points
    assert bce.info.run_name in compared and triplet.info.run_name in compared
    # a run without artifacts broke this section ("Something went wrong with this section")
    assert "Something went wrong with this section" not in compared
    assert "No common artifacts to display" in compared
    assert errors == [], errors
