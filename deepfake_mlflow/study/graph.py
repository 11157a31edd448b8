"""A study plan as a graph of tasks: each training and evaluation of the study, with the
tasks whose results it reads.

The graph is the study's order made explicit, so that one process can run it task after
task (the default) and an engine can run it on many machines (study.engine): a triplet
training after the BCE training it starts from, a data-limited evaluation after its
training, the matrix after the grid, the ablation after the grid's training it reuses
(its NONE trial), the champions after the grid and their robustness after the champions.

A task's key is what the console prints for it ("train ff, bce, none"); its `needs` are
keys of earlier tasks. A task whose needs failed fails too, with the reason, unless it is
`partial`: the matrix and promote run on the trainings that succeeded, as a study always
has (a failed training is named, the table still drawn).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..vocabulary import Loss
from .plan import StudyPlan

TRAIN, MATRIX, LIMITED, ABLATION, PROMOTE, ROBUSTNESS = (
    "train", "matrix", "data-limited", "ablation", "promote", "robustness")
GPU_KINDS = (TRAIN, ABLATION)  # what asks a worker for a GPU where workers have them


@dataclass(frozen=True)
class Task:
    key: str
    kind: str
    needs: tuple[str, ...] = ()
    partial: bool = False  # runs with the needs that succeeded
    args: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def gpu(self) -> bool:
        return self.kind in GPU_KINDS


def seeded(plan: StudyPlan, what: str, seed: int) -> str:
    """A task's name, with its seed when the study has several."""
    return what if len(plan.study_seeds()) == 1 else f"{what}, seed {seed}"


def training_key(plan: StudyPlan, dataset: str, loss: str, aug: str, seed: int,
                 train_videos: int = 0) -> str:
    limited = f", {train_videos} videos per class" if train_videos else ""
    return seeded(plan, f"train {dataset}, {loss}, {aug.lower()}{limited}", seed)


def build(plan: StudyPlan) -> list[Task]:
    """Every task of the plan, each after the tasks it needs (a topological order that is
    also the order one process runs them in)."""
    tasks: dict[str, Task] = {}

    def training(dataset, loss, aug, seed, train_videos=0) -> str:
        key = training_key(plan, dataset, loss, aug, seed, train_videos)
        if key not in tasks:
            needs = ()
            if loss == Loss.TRIPLET:  # starts from the BCE model of the same options
                needs = (training(dataset, Loss.BCE.value, aug, seed, train_videos),)
            tasks[key] = Task(key, TRAIN, needs, args={
                "dataset": dataset, "loss": loss, "augment": aug, "seed": seed,
                "train_videos": train_videos})
        return key

    grid = {cell: training(*cell) for cell in plan.grid()}
    if grid:
        key = (f"evaluate {len(grid)} models on {len(plan.test_datasets)} test sets")
        tasks[key] = Task(key, MATRIX, tuple(grid.values()), partial=True)
    if plan.data_limited:
        spec = plan.data_limited
        for dataset in plan.limited_datasets():
            for n in spec["videos_per_class"]:
                for loss in spec.get("losses", plan.losses):
                    for seed in plan.study_seeds():
                        trained = training(dataset, loss, "NONE", seed, int(n))
                        key = seeded(plan, f"data-limited {dataset}, {loss}, {n} videos "
                                           "per class", seed)
                        tasks[key] = Task(key, LIMITED, (trained,), args={
                            "dataset": dataset, "loss": loss, "train_videos": int(n),
                            "seed": seed})
    if plan.ablation:
        dataset = plan.ablation["dataset"]
        # its NONE trial is the grid's training of the same options: after it, not beside
        reused = tuple(key for (d, loss, aug, _), key in grid.items()
                       if d == dataset and loss == Loss.BCE and aug.upper() == "NONE")
        key = f"ablation on {dataset}"
        tasks[key] = Task(key, ABLATION, reused, partial=True)
    if plan.promote and grid:
        promoted = "promote the champion of each dataset"
        tasks[promoted] = Task(promoted, PROMOTE, tuple(grid.values()), partial=True,
                               args={"grid": {key: cell[0] for cell, key in grid.items()}})
        if plan.robustness:
            for dataset in plan.train_datasets:
                key = f"robustness of the {dataset} champion"
                tasks[key] = Task(key, ROBUSTNESS, (promoted,), args={"dataset": dataset})
    return list(tasks.values())


def grid_cells(plan: StudyPlan) -> dict[tuple, str]:
    """(dataset, loss, augmentation, seed) -> the key of its training task."""
    return {cell: training_key(plan, *cell) for cell in plan.grid()}
