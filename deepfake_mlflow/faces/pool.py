"""Worker processes for extraction, kept apart from the tracking code so that a spawned
worker imports only what it needs (no MLflow, no pandas): pool start-up stays short."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

from .. import console
from ..vocabulary import VideoStatus
from . import detector as blazeface
from .extract import ExtractSettings, extract_video, is_finished

_worker = {}


def _init_worker(settings: ExtractSettings, faces_root: str) -> None:
    import cv2
    # one worker, one core: processes are the parallelism (decoding threads on top of
    # them only fight over the same cores)
    cv2.setNumThreads(1)
    _worker.update(settings=settings, faces_root=faces_root, threads=1)
    try:
        _worker["detector"] = blazeface.BlazeFace(settings.detector, settings.min_confidence)
    except Exception as err:
        # raised here, multiprocessing.Pool would restart the worker forever and the run
        # would hang: keep the reason and fail the first task with it instead
        _worker["error"] = f"{type(err).__name__}: {err}"


def _init_pool_worker(settings: ExtractSettings, faces_root: str) -> None:
    console.silence_native_stderr_for_good()  # LiteRT logs from its own threads, any time
    _init_worker(settings, faces_root)


def _extract_one(task: tuple[str, str, str]) -> dict:
    if "error" in _worker:
        raise RuntimeError(f"the face detector did not start in a worker: {_worker['error']}")
    path, key, split = task
    record = extract_video(path, key, _worker["faces_root"], _worker["detector"],
                           _worker["settings"].for_split(split), _worker["threads"])
    return {"key": key, "status": record["status"],
            "faces": sum(1 for r in record["rows"] if r["face_path"]),
            "frames": len(record["rows"])}


def run_tasks(tasks, settings: ExtractSettings, faces_root: Path, workers: int):
    """Yield a small summary per finished video, in completion order."""
    # the detector starts here first: a bad model fails at once, with its own message
    blazeface.BlazeFace(settings.detector, settings.min_confidence).close()
    if workers <= 1:  # in-process: no pickling, and the same code as a worker
        _init_worker(settings, str(faces_root))
        try:
            for task in tasks:
                yield _extract_one(task)
        finally:
            detector = _worker.pop("detector", None)
            _worker.clear()  # nothing of this call is left for the next one
            if detector is not None:
                detector.close()
        return
    ctx = multiprocessing.get_context("spawn")  # MediaPipe's threads do not survive fork
    with ctx.Pool(workers, initializer=_init_pool_worker,
                  initargs=(settings, str(faces_root))) as pool:
        yield from pool.imap_unordered(_extract_one, tasks, chunksize=1)


def extract_faces(videos, root: str | Path, faces_root: str | Path,
                  settings: ExtractSettings = ExtractSettings(), workers: int | None = None,
                  progress: bool = True) -> dict:
    """Extract every `ok` video of the index (a DataFrame) not finished yet; return counts
    and timings. Videos finished from the same file (by an interrupted or earlier run) are
    skipped; a video rewritten since is extracted again."""
    root, faces_root = Path(root), Path(faces_root)
    workers = workers or os.cpu_count() or 1
    usable = videos[videos["status"] == VideoStatus.OK]
    todo = [(str(root / p), k, split)
            for p, k, split in zip(usable["path"], usable["key"], usable["split"])
            if not is_finished(faces_root, k, root / p)]
    started = time.perf_counter()
    statuses: dict[str, int] = {}
    frames = faces = 0
    bar = console.progress(total=len(todo), enabled=progress, unit="video", desc="extract")
    for done in run_tasks(todo, settings, faces_root, min(workers, max(1, len(todo)))):
        statuses[done["status"]] = statuses.get(done["status"], 0) + 1
        frames += done["frames"]
        faces += done["faces"]
        bar.update(1)
    bar.close()
    seconds = time.perf_counter() - started
    return {"processed": len(todo), "resumed": len(usable) - len(todo), "seconds": seconds,
            "videos_per_s": len(todo) / seconds if seconds and todo else 0.0,
            "frames_per_s": frames / seconds if seconds and todo else 0.0,
            "statuses_now": statuses}
