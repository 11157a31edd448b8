"""Where tensors run and in which precision: one place for devices, autocast and the
backend switches, shared by train, evaluate, predict and the logged model.

device     auto | cpu | cuda | cuda:N   (auto: the first CUDA device when present)
precision  auto | fp32 | bf16 | fp16    (auto: bf16 where the device computes it natively,
                                         fp32 otherwise; fp16 needs CUDA and trains with a
                                         gradient scaler)

Autocast covers the network's forward pass only; losses and scores are computed in fp32.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch

from . import config
from .errors import UserInputError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")
PRECISIONS = config.PRECISIONS
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """A torch.device from a user's spec; a clear UserInputError when it cannot be used."""
    if isinstance(spec, torch.device):
        return spec
    text = (spec or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() \
            else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UserInputError(f"device {spec!r}: CUDA is not available on this machine "
                                 "(use --device cpu or auto)")
        try:
            device = torch.device(text)
        except RuntimeError:
            raise UserInputError(f"device {spec!r}: expected one of {', '.join(DEVICE_CHOICES)}"
                                 ) from None
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise UserInputError(f"device {spec!r}: this machine has "
                                 f"{torch.cuda.device_count()} CUDA device(s)")
        return torch.device("cuda", index)
    raise UserInputError(f"device {spec!r}: expected one of {', '.join(DEVICE_CHOICES)}")


@dataclass(frozen=True)
class Precision:
    name: str  # fp32 | bf16 | fp16
    device_type: str  # cpu | cuda

    @property
    def dtype(self) -> torch.dtype:
        return _DTYPES[self.name]

    @property
    def needs_scaler(self) -> bool:
        """fp16's narrow exponent underflows small gradients; bf16's does not."""
        return self.name == "fp16"

    def autocast(self):
        """The forward pass in reduced precision (a no-op for fp32)."""
        if self.name == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler:
        return torch.amp.GradScaler(self.device_type, enabled=self.needs_scaler)


def resolve_precision(spec: str | None, device: torch.device) -> Precision:
    text = (spec or "auto").strip().lower()
    if text not in PRECISIONS:
        raise UserInputError(f"precision {spec!r}: expected one of {', '.join(PRECISIONS)}")
    if text == "auto":
        bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False)
        text = "bf16" if bf16 else "fp32"
    if text == "fp16" and device.type != "cuda":
        raise UserInputError("precision fp16 needs a CUDA device; on the CPU use bf16 or fp32")
    return Precision(text, device.type)


@dataclass(frozen=True)
class Compute:
    """Where a command computes and in which precision, resolved once from the user's
    spec and handed down (evaluate -> each model's run -> its Scorer; the logged model):
    a missing GPU or a precision the device lacks fails before any work, and every layer
    runs on the same device."""
    device: torch.device
    precision: Precision

    @classmethod
    def resolve(cls, device: str | torch.device | None = "auto",
                precision: str | None = "fp32") -> "Compute":
        where = resolve_device(device)
        compute = cls(where, resolve_precision(precision, where))
        configure_backends(compute.device, compute.precision)
        return compute

    def describe(self) -> dict[str, str]:
        """device, device_name, device_memory_gb (see describe())."""
        return describe(self.device)


def configure_backends(device: torch.device, precision: Precision) -> None:
    """cuDNN picks the fastest kernels for the fixed input size; fp32 stays true fp32 (no
    TF32), so an fp32 score on a GPU equals the CPU's up to rounding."""
    if device.type != "cuda":
        return
    torch.backends.cudnn.benchmark = True
    exact = precision.name == "fp32"
    torch.backends.cuda.matmul.allow_tf32 = not exact
    torch.backends.cudnn.allow_tf32 = not exact


def describe(device: torch.device) -> dict[str, str]:
    """What to log about a device: device, device_name, device_memory_gb."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return {"device": str(device), "device_name": props.name,
                "device_memory_gb": f"{props.total_memory / 2**30:.1f}"}
    return {"device": "cpu", "device_name": _cpu_name(),
            "device_memory_gb": f"{_host_memory() / 2**30:.1f}"}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"cpu ({os.cpu_count()} cores)"


def _host_memory() -> int:
    try:
        import psutil
        return psutil.virtual_memory().total
    except ImportError:
        return 0


def loader_workers(requested: int, processes_per_node: int = 1) -> int:
    """Data-loading processes: `requested` when >= 0; -1 takes this process's share of the
    cores (one left for the training process itself), capped at config.MAX_LOADER_WORKERS."""
    if requested >= 0:
        return requested
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    share = max(1, (cores or 1) // max(1, processes_per_node) - 1)
    return min(config.MAX_LOADER_WORKERS, share)


def environment_device() -> str:
    """The serving device: DEEPFAKE_MLFLOW_DEVICE, or auto."""
    return os.environ.get(config.DEVICE_ENV, "auto")
