"""The demo corpus: real layouts the adapters index, decodable H.264, real faces in it."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from deepfake_mlflow import config, datasets
from deepfake_mlflow.corpus import WRITERS, build, build_corpus
from deepfake_mlflow.corpus.video import read_frames
from deepfake_mlflow.faces.detector import BlazeFace


@pytest.mark.parametrize("name", list(WRITERS))
def test_every_dataset_indexes_with_every_split_holding_both_labels(corpus, name):
    result = datasets.build_index(name, corpus / name, seed=config.DEFAULT_SEED, probe_videos=True)
    frame = result.frame
    assert (frame["status"] == "ok").all(), frame[frame["status"] != "ok"]
    counts = frame.groupby(["split", "label"]).size()
    for split in config.SPLITS:
        for label in (config.REAL, config.FAKE):
            assert counts.get((split, label), 0) >= 1, (name, split, label)
    assert (frame["frames"] == config.DEMO_FRAMES).all()
    assert (frame.loc[frame["label"] == 1, "source"] != "").all()  # fakes name their original


def test_videos_are_h264_at_the_dataset_look(corpus):
    path = next((corpus / "dfdc").rglob("*.mp4"))
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.width, stream.height) == (480, 270)


def test_the_real_detector_finds_faces_in_real_and_fake_videos(corpus):
    manifest = json.loads((corpus / "manifest.json").read_text())
    found, tried = {0: 0, 1: 0}, {0: 0, 1: 0}
    with BlazeFace("full") as detector:
        for record in manifest["videos"][::3]:
            frames = read_frames(corpus / record["dataset"] / record["path"], start=0, step=16)
            for frame in frames:
                tried[record["label"]] += 1
                found[record["label"]] += detector.best(frame) is not None
    for label in (0, 1):
        assert found[label] / tried[label] >= 0.9, (label, found, tried)


def test_fakes_differ_from_their_originals_inside_the_face_only(corpus):
    root = corpus / "ff"
    real = np.stack(read_frames(root / "original_sequences/youtube/c23/videos/000.mp4", count=8))
    fake = np.stack(read_frames(root / "manipulated_sequences/Deepfakes/c23/videos/000_001.mp4",
                                count=8))
    diff = np.abs(real.astype(int) - fake.astype(int)).mean(axis=(0, 3))
    h, w = diff.shape
    with BlazeFace("full") as detector:
        x, y, bw, bh = detector.best(real[0]).box
    inside = diff[int(y):int(y + bh), int(x):int(x + bw)].mean()
    corners = np.concatenate([diff[:20, :20].ravel(), diff[:20, -20:].ravel()]).mean()
    assert inside > 8 and corners < 3, (inside, corners)


def test_every_photo_source_shows_one_face_alone():
    """A clip made from a group photo shows one person: the neighbours are blurred past
    the detector's reach, so no frame of it can be cropped on someone else."""
    from deepfake_mlflow.corpus.sources import load_sources
    with BlazeFace("full", min_confidence=0.3) as detector:
        for source in load_sources(detector):
            if source.still is not None:
                assert len(detector.detect(source.still)) == 1, source.name


def test_manifest_records_origin_and_licence_of_every_face(corpus):
    manifest = json.loads((corpus / "manifest.json").read_text())
    assert manifest["size"] == 6 and manifest["codec"] == "libx264 crf 23"
    assert len(manifest["faces"]) >= 10
    for face in manifest["faces"]:
        assert face["origin"] and face["licence"]
    identities = {f["identity"] for f in manifest["faces"]}
    assert {v["identity"] for v in manifest["videos"]} <= identities


def test_a_finished_corpus_is_reused_and_small_sizes_are_refused(corpus, tmp_path):
    before = {p: p.stat().st_mtime_ns for p in corpus.rglob("*.mp4")}
    build_corpus(corpus, size=6, seed=0)
    assert before == {p: p.stat().st_mtime_ns for p in corpus.rglob("*.mp4")}
    from deepfake_mlflow.errors import UserInputError
    with pytest.raises(UserInputError, match="at least 6"):
        build_corpus(tmp_path / "c", size=2)


def test_a_build_of_other_settings_starts_from_an_empty_folder(tmp_path):
    """Videos of the same name from another build (other size, seed or format) may show
    someone else: they are removed; an interrupted build of these settings keeps its own."""
    from deepfake_mlflow.corpus import build

    wanted = {"size": 6, "seed": 0, "version": "v", "format": build.FORMAT}
    video = tmp_path / "celebdf" / "Celeb-real" / "id0_0000.mp4"
    video.parent.mkdir(parents=True)
    video.write_bytes(b"an earlier build's video")
    (tmp_path / build.MANIFEST).write_text(json.dumps({**wanted, "format": build.FORMAT - 1}))
    build._start_clean(tmp_path, wanted)
    assert not video.exists() and not (tmp_path / build.MANIFEST).exists()

    video.parent.mkdir(parents=True)
    video.write_bytes(b"this build's video, before an interruption")
    build._start_clean(tmp_path, wanted)  # the interrupted build, resumed
    assert video.exists()


class _Placing(build.CorpusWriter):
    """The corpus's writers with every video a copy of one tiny clip: the layout, names,
    people and split files of a corpus of any size, in a second, without rendering."""

    def __init__(self, out, tiny_video, people: int):
        from deepfake_mlflow.corpus.sources import FaceSource
        super().__init__(out, 0, [FaceSource(f"person{i}", "test", "test")
                                  for i in range(people)], detector=None)
        self.tiny_video = tiny_video

    def real(self, dataset, rel, source):
        self._place(dataset, rel, label=config.REAL, identity=source.name)
        return source.name

    def fake(self, dataset, rel, target, source, method, target_identity, source_identity):
        self._place(dataset, rel, label=config.FAKE, identity=target_identity,
                    face_from=source_identity)

    def _place(self, dataset, rel, **facts):
        import shutil
        path = self.out / dataset / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.tiny_video, path)
        self.records.append({"dataset": dataset, "path": rel, **facts})


def test_the_demo_corpus_test_sets_can_tell(tmp_path, tiny_video):
    """At the demo's size, every test set holds config.DEMO_TEST_VIDEOS real and fake
    videos or more, of several people, indexed with the options the corpus calls for
    (FF++'s official split files, DFD's 3:1:3 shares); FF++'s test people stay out of
    training and validation."""
    writer = _Placing(tmp_path, tiny_video, people=17)  # the real pool's size
    for name, write in WRITERS.items():
        write(writer, config.DEMO_CORPUS_SIZE)
    person = {(r["dataset"], r["path"]): r["identity"] for r in writer.records}
    for name in WRITERS:
        frame = datasets.build_index(name, tmp_path / name, seed=config.DEFAULT_SEED,
                                     **build.index_options(tmp_path, name)).frame
        test = frame[frame["split"] == "test"]
        counts = test.groupby("label").size()
        assert counts.get(config.REAL, 0) >= config.DEMO_TEST_VIDEOS, (name, counts)
        assert counts.get(config.FAKE, 0) >= config.DEMO_TEST_VIDEOS, (name, counts)
        people = {person[(name, p)] for p in test["path"]}  # paths under the dataset root
        assert len(people) >= 3, (name, people)
        if name == "ff":
            others = frame[frame["split"] != "test"]
            assert not people & {person[(name, p)] for p in others["path"]}
