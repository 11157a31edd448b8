"""A training run's metric points, kept on local disk first and sent to the tracking store
after: an outage of the store loses nothing, and a resume never doubles a point.

Every point is appended to <checkpoint folder>/metrics.jsonl as it is made. Each checkpoint
records how many points were logged when it was written; only points covered by a
checkpoint are sent (so the store never holds a point that a resume would make again),
in batches, synchronously (a failure is seen), at most every few seconds (the loop does
not wait on the store). A resume cuts the journal back to its checkpoint's count, and
what the store could not take is sent when it answers again, at the end of the run, or
on the resume, with the timestamps it was made at. metrics.sent counts the points the
store has confirmed.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import mlflow
from mlflow.entities import Metric

from . import config, tracking
from .errors import TrackingUnavailable
from .paths import atomic_target
from .errors import first_line

log = logging.getLogger(__name__)

JOURNAL = "metrics.jsonl"
SENT = "metrics.sent"
BATCH = 1000  # MLflow's limit of metrics per log_batch call


class MetricJournal:
    def __init__(self, folder: Path, run_id: str):
        self.folder, self.run_id = Path(folder), run_id
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path, self.sent_path = self.folder / JOURNAL, self.folder / SENT
        self.points = self._read()  # every point of the run, in order
        self.sent = min(self._sent_count(), len(self.points))
        self.covered = self.sent  # points a checkpoint covers: the ones that may be sent
        self.down_since: float | None = None
        self.last_try = 0.0

    # --- the loop's side -------------------------------------------------------------------
    @property
    def count(self) -> int:
        """Points logged so far; a checkpoint records it (see rewind)."""
        return len(self.points)

    def rewind(self, count: int) -> None:
        """Back to the `count` points a checkpoint covers: the loop makes the later ones
        again. Points the store already holds are never cut."""
        count = max(count, self.sent)
        if count < len(self.points):
            self.points = self.points[:count]
            with atomic_target(self.path) as tmp:
                tmp.write_text("".join(json.dumps(p) + "\n" for p in self.points))
        self.covered = count

    def log(self, metrics: dict, step: int) -> None:
        stamp = int(time.time() * 1000)
        new = [{"key": k, "value": float(v), "step": int(step), "timestamp": stamp}
               for k, v in metrics.items()]
        with open(self.path, "a") as handle:
            handle.write("".join(json.dumps(p) + "\n" for p in new))
        self.points += new

    def checkpointed(self, count: int) -> None:
        """A checkpoint covering `count` points is on disk: send them when it is time."""
        self.covered = count
        wait = config.METRICS_SEND_EVERY_S if self.down_since is None \
            else config.METRICS_RETRY_EVERY_S  # while the store is down, now and then
        if time.monotonic() - self.last_try >= wait:
            self.send()

    # --- the store's side ------------------------------------------------------------------
    def send(self) -> bool:
        """Send the covered points not sent yet; False (and the points kept) when the store
        cannot take them."""
        self.last_try = time.monotonic()
        if self.sent >= self.covered:
            return True
        try:
            with tracking.store.quick_requests():
                client = mlflow.MlflowClient()
                while self.sent < self.covered:
                    chunk = self.points[self.sent:min(self.covered, self.sent + BATCH)]
                    client.log_batch(self.run_id, synchronous=True, metrics=[
                        Metric(p["key"], p["value"], p["timestamp"], p["step"]) for p in chunk])
                    self.sent += len(chunk)
                    with atomic_target(self.sent_path) as tmp:
                        tmp.write_text(str(self.sent))
        except Exception as err:  # noqa: BLE001 - whatever the store's driver raises
            if self.down_since is None:
                self.down_since = time.monotonic()
                log.warning("tracking store %s unreachable (%s): metric points are kept in "
                            "%s and sent when it answers", mlflow.get_tracking_uri(),
                            first_line(err), self.path)
            return False
        if self.down_since is not None:
            log.warning("tracking store reachable again after %.0f s: kept metric points sent",
                        time.monotonic() - self.down_since)
            self.down_since = None
        return True

    def close(self, attempts: int = 3, wait_s: float = 2.0) -> None:
        """Send every point, or raise TrackingUnavailable saying where they are kept and how
        to send them (resuming the run)."""
        self.covered = len(self.points)
        for attempt in range(attempts):
            if self.send():
                return
            if attempt + 1 < attempts:
                time.sleep(wait_s)
        raise TrackingUnavailable(
            f"tracking store {mlflow.get_tracking_uri()} unreachable: "
            f"{self.covered - self.sent} metric points of run {self.run_id} are kept in "
            f"{self.path} beside its checkpoint; when the store answers again, re-run the "
            f"same command with --resume {self.run_id} to send them and finish the run")

    # --- files -----------------------------------------------------------------------------
    def _read(self) -> list[dict]:
        if not self.path.is_file():
            return []
        text = self.path.read_text()
        points, lines = [], text.splitlines()
        for line in lines:
            try:
                points.append(json.loads(line))
            except ValueError:  # the last line of a process killed mid-write
                break
        if len(points) < len(lines) or (text and not text.endswith("\n")):
            with atomic_target(self.path) as tmp:  # appends must start on a whole line
                tmp.write_text("".join(json.dumps(p) + "\n" for p in points))
        return points

    def _sent_count(self) -> int:
        try:
            return int(self.sent_path.read_text())
        except (OSError, ValueError):
            return 0
