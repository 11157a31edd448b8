"""What a person sees on the console: library code logs, the command line decides what shows.

- Library modules log through `logging.getLogger(__name__)`; `setup()` (called by the CLI)
  prints the project's INFO lines as plain text and keeps MLflow's and alembic's INFO
  lines and third-party warnings out, unless `--verbose` (or DEEPFAKE_MLFLOW_VERBOSE=1).
- MediaPipe and LiteRT write their C++ logs straight to file descriptor 2, past Python:
  `native_quiet()` points that descriptor at /dev/null while a detector is created, first
  run and closed. Spawned workers inherit the verbose setting through the environment.
- `progress()` is tqdm on stderr, shown only on a terminal (not by a study's workers),
  cleared when done.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import warnings

from tqdm import tqdm

VERBOSE_ENV = "DEEPFAKE_MLFLOW_VERBOSE"
NO_PROGRESS_ENV = "DEEPFAKE_MLFLOW_NO_PROGRESS"  # set on a study's workers: no bars of theirs
_fd_lock = threading.RLock()


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "").lower() in ("1", "true", "yes", "on")


@contextlib.contextmanager
def native_quiet():
    """Silence what native code writes to stderr (fd 2) for the duration."""
    if verbose():
        yield
        return
    with _fd_lock:
        sys.stderr.flush()
        saved = os.dup(2)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test captures replace it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def silence_native_stderr_for_good() -> None:
    """For a worker process whose native libraries log from their own threads at moments
    no window can catch: fd 2 goes to /dev/null for the process's lifetime (not verbose).
    Errors still reach the parent, pickled with the task's result."""
    if verbose():
        return
    sys.stderr.flush()
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)


def setup(verbose_mode: bool = False) -> None:
    """Console set-up for a command: plain INFO lines from this package, quiet libraries."""
    if verbose_mode:
        os.environ[VERBOSE_ENV] = "1"
    loud = verbose()
    package = logging.getLogger("deepfake_mlflow")
    if not any(getattr(h, "_deepfake_console", False) for h in package.handlers):
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._deepfake_console = True
        package.addHandler(handler)
        package.propagate = False
    package.setLevel(logging.DEBUG if loud else logging.INFO)
    # MLflow sets its loggers' level when it is first imported, which may come later
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "INFO" if loud else "WARNING")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.INFO if loud else logging.WARNING)
    # MLflow's SQL store logs each database error with its traceback before raising it;
    # the command reports the raised error in one line (tracking.runs.stage_run)
    logging.getLogger("mlflow.store.db.utils").setLevel(
        logging.INFO if loud else logging.CRITICAL)
    # the system-metrics thread warns at every sample a lost server misses; the command
    # says it once (the metric journal's line)
    logging.getLogger("mlflow.system_metrics").setLevel(
        logging.INFO if loud else logging.ERROR)
    os.environ.setdefault("GLOG_minloglevel", "0" if loud else "2")
    # OpenCV's own warnings (a path it cannot open: the result row already says so): the
    # variable for processes that import cv2 later, the call for this one
    os.environ.setdefault("OPENCV_LOG_LEVEL", "INFO" if loud else "ERROR")
    cv2 = sys.modules.get("cv2")
    if cv2 is not None and hasattr(cv2, "utils"):
        levels = cv2.utils.logging
        levels.setLogLevel(levels.LOG_LEVEL_INFO if loud else levels.LOG_LEVEL_ERROR)
    if not loud:
        warnings.filterwarnings("ignore")
        warnings.filterwarnings("default", module="deepfake_mlflow")


def progress(iterable=None, enabled: bool = True, **options) -> tqdm:
    """A progress bar on stderr when it is a terminal (none in logs and tests)."""
    options.setdefault("leave", False)
    options.setdefault("dynamic_ncols", True)
    enabled = enabled and not os.environ.get(NO_PROGRESS_ENV)
    return tqdm(iterable, disable=None if enabled else True, **options)
