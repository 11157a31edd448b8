"""How the code is put together, held by tests that take seconds (`make test-fast`):
options refused when a config is built, configs light to import, one list of stages and
experiments, store lookups built in one place, one door per job."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from deepfake_mlflow import naming, queries, stages, tracking
from deepfake_mlflow.errors import MalformedFileError, UserInputError
from deepfake_mlflow.train.config import TrainConfig


def test_a_bad_augmentation_is_refused_when_the_config_is_built():
    with pytest.raises(UserInputError, match="unknown augmentation 'SELECTD'"):
        TrainConfig("ff", augment="hf,SELECTD")
    cfg = TrainConfig("ff", augment="jpeg, selected")
    assert cfg.augment_names == ("HF", "BC", "HSV", "JPEG")
    assert cfg.augment_tag == "bc+hf+hsv+jpeg" == cfg.logged_params()["augment"]
    assert cfg.name() == "ff-bce-selected"


def test_a_study_file_with_a_bad_augmentation_is_named_before_any_work(tmp_path):
    """The study's up-front check promises this: one line naming the file, not one failed
    step per variant later."""
    from deepfake_mlflow.stages.reproduce import ReproduceConfig
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({"name": "s", "train_datasets": ["ff"],
                                     "test_datasets": ["ff"], "augmentations": ["SELECTD"]}))
    with pytest.raises(MalformedFileError, match="study.yaml.*unknown augmentation 'SELECTD'"):
        ReproduceConfig(str(study))
    study.write_text(yaml.safe_dump({"name": "s", "train_datasets": ["ff"],
                                     "test_datasets": ["ff"],
                                     "ablation": {"dataset": "ff", "mode": "gird"}}))
    with pytest.raises(MalformedFileError, match="--mode 'gird'"):
        ReproduceConfig(str(study))


def test_configs_and_help_import_neither_torch_nor_mlflow():
    """`--help` and a refused option answer at once: the stages' modules and the configs
    they re-export import nothing heavy at their top."""
    modules = ", ".join(f"deepfake_mlflow.stages.{name}" for name in stages.STAGES)
    code = (f"import sys, importlib\nfor m in '{modules}'.split(', '): importlib.import_module(m)\n"
            "import deepfake_mlflow.cli\n"
            "heavy = [m for m in ('torch', 'mlflow', 'albumentations', 'cv2', 'optuna') "
            "if m in sys.modules]\nprint(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_experiments_come_from_the_one_list_of_stages():
    assert tuple(naming.EXPERIMENTS) == ("corpus", "index", "extract", "train", "evaluate",
                                         "compare", "ablation", "registry", "reproduce",
                                         "demo")
    # every stage's runs go to one of them, and each has a stage
    assert set(naming.EXPERIMENTS) == {e for e in stages.STAGES.values() if e}
    assert tracking.experiments.experiment_name("registry") == "deepfake-registry"
    with pytest.raises(ValueError, match="unknown experiment 'promote'"):
        tracking.experiments.experiment_name("promote")  # the promote stage's runs go to registry


def test_every_stage_has_config_run_report_and_help_in_its_file():
    for name in stages.STAGES:
        module = stages.get(name)
        assert all(hasattr(module, attr) for attr in ("CONFIG", "HELP", "run", "report")), name


def test_promote_has_one_name():
    """Promoting is the promote stage; `registry` only reads (list)."""
    from deepfake_mlflow.cli import build_parser
    assert build_parser().parse_args(["promote", "--datasets", "ff"]).stage == "promote"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["registry", "promote", "--datasets", "ff"])


def test_store_lookups_quote_their_values_and_odd_keys():
    assert queries.where({"stage": "train", "faces_digest/ff": "ab"}, {"out": "/a/b"},
                         status="FINISHED") == (
        "tags.stage = 'train' and tags.`faces_digest/ff` = 'ab' and params.out = '/a/b' "
        "and attributes.status = 'FINISHED'")
    assert queries.where({"study": "it's"}) == "tags.study = \"it's\""
    assert queries.where({"mlflow.parentRunId": "0" * 32}) == \
        f"tags.mlflow.parentRunId = '{'0' * 32}'"


def test_store_lookups_read_a_real_store(tmp_path):
    """Runs made with the MLflow client, found back by the lookups (an empty SQLite store
    of this test)."""
    import mlflow
    experiment = tracking.experiments.experiment_id("train")
    client = mlflow.MlflowClient()
    parent = client.create_run(experiment, tags={"stage": "train", "final": "true",
                                                 "config_hash": "abc"})
    child = client.create_run(experiment, tags={"mlflow.parentRunId": parent.info.run_id,
                                                "phase": "triplet"})
    client.set_terminated(parent.info.run_id, "FINISHED")
    assert [r.info.run_id for r in queries.final_trainings(config_hash="abc")] == \
        [parent.info.run_id]
    assert queries.final_trainings(config_hash="abc", status="RUNNING") == []
    assert [r.info.run_id for r in queries.children(parent.info.run_id)] == \
        [child.info.run_id]


def test_extract_options_default_to_the_settings_the_faces_record():
    """ExtractConfig's face options are ExtractSettings' fields, with the same defaults."""
    from deepfake_mlflow.faces.extract import ExtractSettings
    from deepfake_mlflow.stages.extract import ExtractConfig
    assert ExtractConfig("ff", "root").settings() == ExtractSettings()


def _imports() -> dict[str, set[str]]:
    """Each module of the package and the package's modules it imports (at its top or in a
    function: a cycle through a function-level import is a cycle all the same)."""
    import ast
    from pathlib import Path
    root = Path(stages.__file__).resolve().parents[1]
    files = {}
    for path in root.rglob("*.py"):
        name = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        files[name.removesuffix(".__init__")] = path
    edges: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                children = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in files]
                found = children if len(children) == len(node.names) else [base, *children]
            else:
                continue
            edges[name] |= {m for m in found if m in files and m != name}
    return edges


def test_the_package_has_no_import_cycle():
    """Strongly connected modules, by Tarjan's algorithm: none may hold two modules."""
    edges, index, low, stack, cycles = _imports(), {}, {}, [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in edges:
        if module not in index:
            visit(module)
    assert cycles == []


def test_no_module_below_the_stages_imports_them():
    """The stages are doors: the domain packages, tracking and the study never call them."""
    upward = [(m, t) for m, targets in _imports().items() for t in targets
              if t.startswith("deepfake_mlflow.stages")
              and not m.startswith("deepfake_mlflow.stages") and m != "deepfake_mlflow.cli"]
    assert upward == []


def test_the_store_is_configured_at_the_entry_points_alone():
    """configure() is called by the command line, a study's task on a Dask worker and the
    dashboards; everything else uses the store its entry point chose."""
    import ast
    from pathlib import Path
    root = Path(stages.__file__).resolve().parents[2]

    def calls_configure(path: Path) -> bool:
        return any(isinstance(node, ast.Call) and (
            getattr(node.func, "attr", None) == "configure"
            or getattr(node.func, "id", None) == "configure")
            for node in ast.walk(ast.parse(path.read_text())))

    callers = sorted(str(p.relative_to(root)) for folder in ("deepfake_mlflow", "dashboards")
                     for p in (root / folder).rglob("*.py") if calls_configure(p))
    assert callers == ["dashboards/store.py", "deepfake_mlflow/cli.py",
                       "deepfake_mlflow/study/engine.py"]
