"""A SQLite store that moved: its artifact locations pointed at the folder it now sits in.

The embedded store (mlflow.db with mlartifacts/ beside it) records every artifact location
as an absolute file:// URI, as MLflow does for local artifacts. Copied to another folder or
machine, the UI would show the old paths and lose the artifacts once the old folder is
gone. `deepfake-mlflow relocate` rewrites the recorded locations of the store's artifacts
(experiments, runs, logged models, model versions) from the old folder to the new one,
in one transaction; the runs' params and datasets keep the data paths they were made
from. MLflow's own export/import tooling (mlflow-export-import) copies runs one by one
through the API into another server: the way to merge studies into a team's server, not
needed to move one folder. A tracking server's artifacts (mlflow-artifacts:/ URIs) move
with the server and need none of this.
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import contextmanager
from pathlib import Path

from .errors import UserInputError

log = logging.getLogger(__name__)

# (table, column) of every artifact location MLflow 3's SQL store records
ARTIFACT_COLUMNS = (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                    ("logged_models", "artifact_location"),
                    ("model_versions", "storage_location"))
ARTIFACT_DIR = "mlartifacts"


LOCK_WAIT_S = 2.0  # for a store another process is writing


def location_path(location: str) -> Path:
    """A recorded artifact location as a path: file:// URIs decoded (MLflow writes a folder
    named "a b" as a%20b), plain paths as they are."""
    from urllib.parse import urlparse
    from urllib.request import url2pathname
    if location.startswith("file:"):
        return Path(url2pathname(urlparse(location).path))
    return Path(location)


def recorded_folder(db: Path) -> Path | None:
    """The folder the store was made in, as its project experiments record it (the parent
    of mlartifacts/deepfake-<stage>); None when it records none."""
    with sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True,
                         timeout=LOCK_WAIT_S) as connection:
        rows = connection.execute("SELECT artifact_location FROM experiments WHERE name LIKE "
                                  "'deepfake-%' ORDER BY experiment_id").fetchall()
    for (location,) in rows:
        path = location_path(location or "")
        if path.is_absolute() and path.parent.name == ARTIFACT_DIR:
            return path.parent.parent
    return None


def _in_use(db: Path, err: sqlite3.Error) -> UserInputError:
    return UserInputError(f"{db}: in use by another process ({err}); run again when it "
                          "has finished")


def moved_from(db: Path, strict: bool = False) -> Path | None:
    """The old folder when the store sits elsewhere than where it was made, else None.
    Folders are compared as paths (resolved), not as strings. strict: a store locked by
    another process is an error, not "not moved" (relocate must not answer for it)."""
    try:
        old = recorded_folder(db)
    except sqlite3.OperationalError as err:
        if strict and ("locked" in str(err) or "busy" in str(err)):
            raise _in_use(db, err) from None
        return None  # not a store yet, or not one of MLflow's: nothing to say
    except sqlite3.Error:
        return None
    if old is None:
        return None
    here = Path(db).resolve().parent
    same = old == here or (old.exists() and old.resolve() == here)
    return None if same else old


def relocate(db: Path) -> dict:
    """Point the store's artifact locations at the folder holding `db`; returns the old
    and new folder and the rows rewritten per table."""
    db = Path(db).resolve()
    if not db.is_file():
        raise UserInputError(f"{db}: no SQLite tracking store there")
    old, new = moved_from(db, strict=True), db.parent
    changed: dict[str, int] = {}
    if old is None:
        return {"from": None, "to": str(new), "rows": changed}
    if not (new / ARTIFACT_DIR).is_dir():
        raise UserInputError(f"{new / ARTIFACT_DIR}: missing; copy the store's {ARTIFACT_DIR}/"
                             f" (from {old}) beside {db.name} first")
    try:
        with sqlite3.connect(db, timeout=LOCK_WAIT_S) as connection:  # all rewritten, or none
            for table, column in ARTIFACT_COLUMNS:
                for before, after in ((old.as_uri() + "/", new.as_uri() + "/"),
                                      (str(old) + "/", str(new) + "/")):
                    count = connection.execute(
                        f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                        f"WHERE substr({column}, 1, ?) = ?",
                        (after, len(before) + 1, len(before), before)).rowcount
                    if count:
                        changed[table] = changed.get(table, 0) + count
    except sqlite3.OperationalError as err:
        raise _in_use(db, err) from None
    return {"from": str(old), "to": str(new), "rows": changed}


_warned: set[Path] = set()  # the stores already looked at in this process


@contextmanager
def no_warning():
    """For `relocate` itself: the store it is about to fix is not warned about."""
    global _hushed
    _hushed = True
    try:
        yield
    finally:
        _hushed = False


_hushed = False


def warn_if_moved(db: Path) -> None:
    """Said once per process, on any command using a moved store: the UI would show the
    old paths, and the artifacts vanish with the old folder."""
    db = Path(db).resolve()
    if _hushed or db in _warned or not db.is_file():
        return
    _warned.add(db)
    old = moved_from(db)
    if old is not None:
        try:
            exists = "still holds them" if (old / ARTIFACT_DIR).is_dir() else "no longer exists"
        except OSError:  # another user's folder: is_dir raises on a permission error
            exists = "cannot be read here"
        log.warning("the tracking store %s was made in %s, whose %s/ %s: run `deepfake-mlflow "
                    "relocate` to point its artifacts at %s", db, old, ARTIFACT_DIR, exists,
                    db.parent / ARTIFACT_DIR)
