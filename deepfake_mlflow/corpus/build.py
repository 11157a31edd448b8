"""Write the demo corpus: four small datasets in the real on-disk layouts of FF++ (DF),
DFD, DFDC and Celeb-DF v2, made from real faces, so the same adapters index them.

Deterministic from the seed: every video draws from its own generator, seeded by the corpus
seed and the video's name, so an interrupted build resumes (finished videos are kept) and
gives the same bytes-for-bytes decisions as an uninterrupted one. A build of other
settings (size, seed, version, format) in the same folder starts from an empty one.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import string
from concurrent.futures import ProcessPoolExecutor, wait
from pathlib import Path

import numpy as np

from .. import __version__, config, console, paths
from ..errors import UserInputError
from ..faces.detector import BlazeFace
from . import video
from .motion import Clip, Look, real_clip
from .sources import FaceSource, load_sources
from .swap import RECIPES, swap_clip

LOOKS: dict[str, Look] = {
    # TV studio and interviews: one centred face, clean light
    "ff": Look(320, 240, face_frac=0.34, gain=(1.0, 1.0, 1.0), noise=1.0, blur=0.0),
    # paid actors, high quality camera, slightly cool grade
    "dfd": Look(480, 270, face_frac=0.30, gain=(0.96, 1.0, 1.06), noise=0.5, blur=0.0),
    # actors at a distance, small faces, warm indoor light, noisy sensors
    "dfdc": Look(480, 270, face_frac=0.15, gain=(1.08, 1.0, 0.88), noise=3.0, blur=0.6),
    # celebrity interviews from YouTube: soft, warm
    "celebdf": Look(400, 300, face_frac=0.36, gain=(1.05, 1.0, 0.95), noise=1.5, blur=0.8),
}
DFD_SCENES = ("exit_phone_room", "hugging_happy", "kitchen_pan", "meeting_serious",
              "outside_talking_still_laughing", "podium_speech_happy", "talking_against_wall",
              "walking_down_street_outside_angry")
DFDC_PARTS = {"train": (0, 1, 2), "val": (35,), "test": (40,)}
# The demo's test sets must be able to tell (issue 32): at least 8 real and 8 fake videos of
# several people in each at the default size. Each dataset keeps its own split rule; the
# shares below only decide how many of its units (FF++ pairs, DFD actors, DFDC reals,
# Celeb-DF celebrities) the corpus gives to test.
DFDC_SHARES = {"test": 0.5, "val": 0.125}  # of the real videos
DFDC_FAKES_PER_REAL = 2
DFD_SCENES_PER_ACTOR = 3
DFD_SPLIT_SHARES = "3:1:3"  # train:val:test over actors, given to the DFD index
FF_SPLITS_FOLDER = "splits"  # FF++'s official train/val/test.json, as its repository has them
CELEBDF_CLIPS_PER_CELEBRITY = 3
MANIFEST = "manifest.json"
BUILDING = "building.json"  # the settings of a build under way (an interrupted one resumes)
MIN_SIZE = 6  # three FF++ pairs: one each for train, val and test
PLACEMENT_CONFIDENCE = 0.5
# 2: DFD's and Celeb-DF's fakes re-paste the filmed person's own face (see write_dfd)
# 3: each Celeb-DF celebrity is filmed three times, the last clip listed for test
#    (write_celebdf)
# 4: DFDC's reals go to the splits by DFDC_SHARES (3 of 10 to test, was 2)
# 5: test sets of 8 real and 8 fake videos or more at size 16 (FF++'s official split files,
#    three scenes per DFD actor, half of DFDC's reals, size / 2 Celeb-DF celebrities), and
#    config.DEMO_FRAMES frames per video
FORMAT = 5


def index_options(root: str | Path, dataset: str) -> dict:
    """How the corpus's `dataset` folder under `root` is indexed: the options of
    `deepfake-mlflow index` that its split files and shares call for."""
    dataset_root = Path(root) / dataset
    if dataset == "ff":
        return {"official_splits": str(dataset_root / FF_SPLITS_FOLDER)}
    if dataset == "dfd":
        return {"split_shares": DFD_SPLIT_SHARES}
    return {}


def _rng(seed: int, name: str) -> np.random.Generator:
    digest = int(hashlib.sha256(name.encode()).hexdigest()[:16], 16)
    return np.random.default_rng([seed, digest])


class CorpusWriter:
    """Renders clips once per (dataset, video) and writes videos that do not exist yet."""

    def __init__(self, out: Path, seed: int, sources: list[FaceSource], detector: BlazeFace):
        self.out, self.seed, self.sources, self.detector = out, seed, sources, detector
        self.records: list[dict] = []
        self._clips: dict[str, Clip] = {}

    def identities(self, dataset: str, n: int) -> list[FaceSource]:
        """n identities for a dataset, a seeded shuffle of the pool (reused if n > pool)."""
        order = _rng(self.seed, f"identities/{dataset}").permutation(len(self.sources))
        return [self.sources[order[i % len(order)]] for i in range(n)]

    def real(self, dataset: str, rel: str, source: FaceSource) -> Clip:
        key = f"{dataset}/{rel}"
        if key not in self._clips:
            self._clips[key] = real_clip(source, LOOKS[dataset], config.DEMO_FRAMES,
                                         _rng(self.seed, key), self.detector)
        clip = self._clips[key]
        self._write(dataset, rel, clip.frames, label=config.REAL, identity=source.name)
        return clip

    def fake(self, dataset: str, rel: str, target: Clip, source: Clip, method: str,
             target_identity: str, source_identity: str) -> None:
        path = self.out / dataset / rel
        frames = None if path.exists() else swap_clip(target, source, RECIPES[method],
                                                      _rng(self.seed, f"{dataset}/{rel}"))
        self._write(dataset, rel, frames, label=config.FAKE, identity=target_identity,
                    face_from=source_identity, method=method)

    def _write(self, dataset, rel, frames, **facts) -> None:
        path = self.out / dataset / rel
        if not path.exists():
            video.write_video(path, frames)
        self.records.append({"dataset": dataset, "path": rel, **facts})


def write_ff(w: CorpusWriter, size: int) -> None:
    ids = [f"{i:03d}" for i in range(size - size % 2)]
    people = w.identities("ff", len(ids))
    clips = {i: w.real("ff", f"original_sequences/youtube/c23/videos/{i}.mp4", p)
             for i, p in zip(ids, people)}
    who = dict(zip(ids, (p.name for p in people)))
    pairs = list(zip(ids[0::2], ids[1::2]))
    for a, b in pairs:  # FF++ makes fakes in pairs: a_b and b_a
        for method in config.FF_METHODS:
            for target, source in ((a, b), (b, a)):
                w.fake("ff", f"manipulated_sequences/{method}/c23/videos/{target}_{source}.mp4",
                       clips[target], clips[source], method, who[target], who[source])
    # FF++'s official split files (lists of id pairs): half the pairs to test, so that its
    # test set holds 8 reals at size 16; the index reads them (index_options)
    order = _rng(w.seed, "ff/splits").permutation(len(pairs))
    test, val = max(1, len(pairs) // 2), max(1, len(pairs) // 8)
    chosen = {"test": order[:test], "val": order[test:test + val], "train": order[test + val:]}
    folder = w.out / "ff" / FF_SPLITS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in chosen.items():
        (folder / f"{split}.json").write_text(json.dumps([list(pairs[i]) for i in sorted(rows)]))


def write_dfd(w: CorpusWriter, size: int) -> None:
    # index_options splits the actors 3:1:3: at size 16, 3 test actors of 3 scenes each
    actors = max(3, size // 2 - 1)
    people = w.identities("dfd", actors)
    originals = []
    for n in range(actors * DFD_SCENES_PER_ACTOR):
        k = n % actors
        scene = DFD_SCENES[(n // actors) % len(DFD_SCENES)]
        actor = f"{k + 1:02d}"
        clip = w.real("dfd", f"original_sequences/actors/c23/videos/{actor}__{scene}.mp4",
                      people[k])
        originals.append((k, actor, scene, clip))
    # A fake re-pastes the actor's own face from another of their scenes: with a handful of
    # actors, a swap between actors either puts one split's face into another split's fakes
    # (the split is by filmed actor) or lets a network tell real from fake by who it sees
    letters = string.ascii_uppercase + string.digits
    for k, actor, scene, clip in originals:
        others = [c for kk, _, sc, c in originals if kk == k and sc != scene]
        tag = "".join(_rng(w.seed, f"dfd/{actor}/{scene}").choice(list(letters), 8))
        w.fake("dfd", f"manipulated_sequences/DeepFakeDetection/c23/videos/"
                      f"{actor}_{actor}__{scene}__{tag}.mp4",
               clip, (others or [clip])[0], "DeepFakeDetection", people[k].name,
               people[k].name)


def _dfdc_name(seed: int, key: str) -> str:
    return "".join(_rng(seed, key).choice(list(string.ascii_lowercase), 10)) + ".mp4"


def write_dfdc(w: CorpusWriter, size: int) -> None:
    parts = [p for split in ("train", "val", "test") for p in DFDC_PARTS[split]]
    # each split its share of the reals (at least one), round-robin over its parts
    counts = {split: max(1, round(size * share)) for split, share in DFDC_SHARES.items()}
    counts["train"] = size - sum(counts.values())
    placed = [DFDC_PARTS[split][i % len(DFDC_PARTS[split])]
              for split in ("train", "val", "test") for i in range(counts[split])]
    people = w.identities("dfdc", size)
    metadata: dict[int, dict] = {p: {} for p in parts}
    reals = []
    for n, person in enumerate(people):
        part = placed[n]
        name = _dfdc_name(w.seed, f"dfdc/real/{n}")
        clip = w.real("dfdc", f"dfdc_train_part_{part}/{name}", person)
        metadata[part][name] = {"label": "REAL", "split": "train"}
        reals.append((part, name, clip, person))
    for n, (part, name, clip, person) in enumerate(reals):
        for f in range(DFDC_FAKES_PER_REAL):
            _, _, source, donor = reals[(n + 1 + f) % len(reals)]
            fake = _dfdc_name(w.seed, f"dfdc/fake/{n}/{f}")
            w.fake("dfdc", f"dfdc_train_part_{part}/{fake}", clip, source, "dfdc",
                   person.name, donor.name)
            metadata[part][fake] = {"label": "FAKE", "split": "train", "original": name}
    for part, entries in metadata.items():
        path = w.out / "dfdc" / f"dfdc_train_part_{part}" / "metadata.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(entries, indent=1, sort_keys=True))


def write_celebdf(w: CorpusWriter, size: int) -> None:
    # Celeb-DF's test list holds celebrities that the rest of the dataset films too: each
    # demo celebrity is filmed three times, the last clip listed for test, so that one is
    # left for training even when the seeded validation draw takes another
    clips = CELEBDF_CLIPS_PER_CELEBRITY
    celebs = max(2, size // 2)  # 8 at size 16: 8 real and 8 fake test clips, 8 people
    n_celeb = celebs * clips
    n_youtube = max(2, size // 4)
    people = w.identities("celebdf", celebs + n_youtube)
    celeb_clips, test = [], []
    for n in range(n_celeb):
        k = n % celebs
        rel = f"Celeb-real/id{k}_{n // celebs:04d}.mp4"
        celeb_clips.append((k, n // celebs, w.real("celebdf", rel, people[k])))
    for n in range(n_youtube):
        w.real("celebdf", f"YouTube-real/{n:05d}.mp4", people[celebs + n])
    # as in DFD above: each fake re-pastes the celebrity's face from another of their clips
    for k, clip_no, clip in celeb_clips:
        others = [c for kk, no, c in celeb_clips if kk == k and no != clip_no]
        w.fake("celebdf", f"Celeb-synthesis/id{k}_id{k}_{clip_no:04d}.mp4", clip,
               (others or [clip])[0], "Celeb-synthesis", people[k].name, people[k].name)
    # The test list: each celebrity's last clip and its fake, and one YouTube clip.
    for k, clip_no, _ in celeb_clips:
        if clip_no == clips - 1:
            test += [f"1 Celeb-real/id{k}_{clip_no:04d}.mp4",
                     f"0 Celeb-synthesis/id{k}_id{k}_{clip_no:04d}.mp4"]
    test.append(f"1 YouTube-real/{n_youtube - 1:05d}.mp4")
    (w.out / "celebdf" / config.CELEBDF_TEST_LIST).write_text("\n".join(test) + "\n")


WRITERS = {"ff": write_ff, "dfd": write_dfd, "dfdc": write_dfdc, "celebdf": write_celebdf}
BUILD_ORDER = ("ff", "celebdf", "dfdc", "dfd")  # most videos first (80, 52, 48, 42 at 16)


def _write_dataset(out: Path, seed: int, name: str, size: int, detector_model: str):
    # the corpus places faces, it does not measure the protocol: a permissive threshold
    with BlazeFace(detector_model, min_confidence=PLACEMENT_CONFIDENCE) as detector:
        sources = load_sources(detector)
        writer = CorpusWriter(out, seed, sources, detector)
        WRITERS[name](writer, size)
    return sources, writer.records


def check_size(size: int) -> None:
    if size < MIN_SIZE:
        raise UserInputError(f"corpus size {size}: at least {MIN_SIZE} real videos per dataset "
                             "are needed to populate train, val and test (FF++ pairs them)")


def build_corpus(out: str | Path, size: int = config.DEMO_CORPUS_SIZE,
                 seed: int = config.DEFAULT_SEED, detector_model: str = "full") -> Path:
    """Write the four demo datasets under `out` and return the manifest's path.

    A finished corpus (same size, seed and version) is reused as it is.
    """
    out = Path(out)
    size = int(size)
    check_size(size)
    manifest_path = out / MANIFEST
    wanted = {"size": size, "seed": int(seed), "version": __version__, "format": FORMAT}
    if manifest_path.is_file():
        done = json.loads(manifest_path.read_text())
        if {k: done.get(k) for k in wanted} == wanted:
            return manifest_path
    _start_clean(out, wanted)
    # one process per dataset: each renders and encodes on its own core
    ctx = multiprocessing.get_context("spawn")  # MediaPipe's threads do not survive fork
    with ProcessPoolExecutor(max_workers=min(len(WRITERS), os.cpu_count() or 1),
                             mp_context=ctx,
                             initializer=console.silence_native_stderr_for_good) as pool:
        # the largest dataset first: the workers finish closer together
        jobs = {name: pool.submit(_write_dataset, out, int(seed), name, size, detector_model)
                for name in BUILD_ORDER}
        _show_progress(out, list(jobs.values()))
        results = [jobs[name].result() for name in WRITERS]
    sources = results[0][0]
    records = [r for _, recs in results for r in recs]
    manifest = {
        **wanted,
        "frames_per_video": config.DEMO_FRAMES, "fps": config.DEMO_FPS,
        "codec": f"{config.VIDEO_CODEC} crf {config.VIDEO_CRF}",
        "looks": {k: vars(v) for k, v in LOOKS.items()},
        "recipes": {k: r.as_dict() for k, r in RECIPES.items()},
        "faces": [{"identity": s.name, "origin": s.origin, "licence": s.licence}
                  for s in sources],
        "videos": records,
        "index_options": {name: index_options(".", name) for name in WRITERS},
    }
    with paths.atomic_target(manifest_path) as tmp:  # last: its presence means complete
        tmp.write_text(json.dumps(manifest, indent=1, default=list))
    (out / BUILDING).unlink(missing_ok=True)
    return manifest_path


def _videos_written(out: Path) -> int:
    """Finished videos under `out` (a video being written has a .part name)."""
    return sum(1 for p in out.rglob("*.mp4") if ".part" not in p.name)


def _show_progress(out: Path, jobs: list) -> None:
    """A bar of the videos written while the workers render (a minute at the demo's size),
    polled from the folder: the workers write, the parent counts."""
    with console.progress(desc="write the demo corpus", unit=" videos") as bar:
        pending = set(jobs)
        while pending:
            _, pending = wait(pending, timeout=1.0)
            bar.n = _videos_written(out)
            bar.refresh()


def _start_clean(out: Path, wanted: dict) -> None:
    """Keep the videos of an interrupted build of these very settings (it resumes); drop
    the datasets of a build of other settings (size, seed, version or format), finished
    or not: a video of the same name may show someone else or be made another way."""
    import shutil
    before = None
    for name in (BUILDING, MANIFEST):
        try:
            before = json.loads((out / name).read_text())
            break
        except (OSError, ValueError):
            continue
    if before is not None and {k: before.get(k) for k in wanted} != wanted:
        for dataset in WRITERS:
            shutil.rmtree(out / dataset, ignore_errors=True)
        (out / MANIFEST).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / BUILDING).write_text(json.dumps(wanted))
