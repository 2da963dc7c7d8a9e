"""Where operators run: ``cuda``, or ``cpu`` through Triton's interpreter (SPEC §7).

On the CPU, generated code written for CUDA must run unchanged. ``emulate_cuda()`` makes that
so for the duration of one operator: a ``TorchFunctionMode`` maps ``device="cuda"`` to the CPU and
answers ``is_cuda``/``device`` as a CUDA tensor would, and the ``torch.cuda`` guards that such
code calls (``is_available``, ``synchronize``, ...) are replaced and restored afterwards.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import types
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pytest_flaggems_import.errors import UsageError


def cuda_available() -> bool:
    """Whether torch sees a GPU, asked without importing torch where the answer is certain.

    xdist's controller decides but runs nothing: importing torch there only to ask (1-3 s) would
    delay every worker's start. A CPU build of torch, or no CUDA driver, means no; a CUDA build
    and a driver that counts devices means yes; anything else (ROCm, an odd install) asks torch.
    """
    build = _torch_build()
    if build == "cpu":
        return False
    if build == "cuda":
        count = _driver_device_count()
        if count is not None:
            return count > 0
    import torch

    return torch.cuda.is_available()


def _torch_build() -> str | None:
    """``cuda``, ``cpu`` or None (unknown, or ROCm), read from ``torch/version.py``."""
    import importlib.util

    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        text = (Path(next(iter(spec.submodule_search_locations))) / "version.py").read_text()
    except OSError:
        return None
    cuda = re.search(r"^cuda\b.*=\s*(None|'[^']*'|\"[^\"]*\")", text, re.MULTILINE)
    hip = re.search(r"^hip\b.*=\s*(None|'[^']*'|\"[^\"]*\")", text, re.MULTILINE)
    if cuda is None or hip is None or hip.group(1) != "None":
        return None
    return "cpu" if cuda.group(1) == "None" else "cuda"


def _driver_device_count() -> int | None:
    """Devices the CUDA driver shows this process (``CUDA_VISIBLE_DEVICES`` applies); 0 without
    a driver; None when the driver answers with an error (then torch is asked)."""
    import ctypes

    try:
        libcuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    status = libcuda.cuInit(0)
    if status == _CUDA_ERROR_NO_DEVICE:
        return 0
    if status != 0 or libcuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return None
    return count.value


_CUDA_ERROR_NO_DEVICE = 100


# -- several GPUs ------------------------------------------------------------------------
def visible_gpus() -> list[str]:
    """The GPUs this process may use, as entries of ``CUDA_VISIBLE_DEVICES`` (indices or UUIDs):
    the caller's list when it set one, else every device the driver counts."""
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        return [entry.strip() for entry in given.split(",") if entry.strip()]
    return [str(i) for i in range(_driver_device_count() or 0)]


def gpu_for_worker(gpus: list[str], worker_id: str) -> str | None:
    """The one entry of ``gpus`` that xdist worker ``gwN`` is pinned to (workers go round the
    GPUs: one worker group per GPU); None with fewer than two GPUs (nothing to choose)."""
    if len(gpus) < 2 or not worker_id.startswith("gw") or not worker_id[2:].isdigit():
        return None
    return gpus[int(worker_id[2:]) % len(gpus)]


def resolve_device(choice: str) -> str:
    """``auto`` → ``cuda`` when a GPU is usable, else ``cpu``; ``cuda`` without one is a usage error."""
    if choice == "cpu":
        return "cpu"
    available = cuda_available()
    if choice == "cuda" and not available:
        raise UsageError("--flaggems-device=cuda, but torch sees no CUDA device")
    return "cuda" if available else "cpu"


def prepare_process(device: str) -> None:
    """Process-wide switches that must precede any ``@triton.jit`` in candidate code."""
    if device == "cpu":
        if "triton" in sys.modules and os.environ.get("TRITON_INTERPRET") != "1":
            # triton.language's own @jit helpers (tl.sigmoid, ...) were built for compilation and
            # fail inside interpreted kernels ("Cannot call @triton.jit'd outside of ...").
            warnings.warn(
                "triton was imported before CPU mode was set up; set TRITON_INTERPRET=1 in the environment",
                stacklevel=2,
            )
        os.environ["TRITON_INTERPRET"] = "1"
        os.environ.setdefault("FLAGGEMS_STANDIN_DEVICE", "cpu")


def _cpu_device(value: Any) -> Any:
    import torch

    if isinstance(value, torch.device) and value.type == "cuda":
        return torch.device("cpu")
    if isinstance(value, str) and value.split(":")[0] == "cuda":
        return "cpu"
    return value


def _cuda_on_cpu_mode() -> Any:
    import torch
    from torch.overrides import TorchFunctionMode

    getters = {
        torch._C.TensorBase.__dict__["is_cuda"]: lambda t: True,
        torch._C.TensorBase.__dict__["device"]: lambda t: torch.device("cuda", 0),
        torch._C.TensorBase.__dict__["is_cpu"]: lambda t: False,
    }
    identity = {"cuda", "cpu"}  # x.cuda() stays where it is; x.cpu() is already there

    class CudaOnCpu(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            getter = getters.get(getattr(func, "__self__", None))
            if getter is not None:
                return getter(args[0])
            if getattr(func, "__name__", "") in identity and args and isinstance(args[0], torch.Tensor):
                return args[0]
            args = tuple(_cpu_device(a) for a in args)
            if "device" in kwargs:
                device = kwargs["device"]
                # device=0 means cuda:0 in CUDA-written code
                is_index = isinstance(device, int) and not isinstance(device, bool)
                kwargs["device"] = "cpu" if is_index else _cpu_device(device)
            return func(*args, **kwargs)

    return CudaOnCpu()


def _device_properties(index: int = 0) -> types.SimpleNamespace:
    # Shapes of H100 so that code sizing grids from the SM count behaves as it would there.
    return types.SimpleNamespace(
        name="CPU (Triton interpreter)", multi_processor_count=132, total_memory=80 * 2**30,
        major=9, minor=0, max_shared_memory_per_block_optin=227 * 1024, warp_size=32,
    )  # fmt: skip


class _NullDevice(contextlib.nullcontext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()


def _cuda_standins() -> dict[str, Any]:
    return {
        "is_available": lambda: True,
        "device_count": lambda: 1,
        "current_device": lambda: 0,
        "set_device": lambda device: None,
        "synchronize": lambda device=None: None,
        "empty_cache": lambda: None,
        "get_device_name": lambda device=None: "CPU (Triton interpreter)",
        "get_device_capability": lambda device=None: (9, 0),
        "get_device_properties": _device_properties,
        # torch.manual_seed seeds the CPU generator and then calls these: they must not call back.
        "manual_seed": lambda seed: None,
        "manual_seed_all": lambda seed: None,
        "device": _NullDevice,
        "is_bf16_supported": lambda including_emulation=True: True,
    }


@contextlib.contextmanager
def emulate_cuda() -> Iterator[None]:
    """Run CUDA-written code on CPU tensors; everything is restored on exit."""
    import torch

    saved = {name: getattr(torch.cuda, name) for name in _cuda_standins()}
    for name, value in _cuda_standins().items():
        setattr(torch.cuda, name, value)
    try:
        with _cuda_on_cpu_mode():
            yield
    finally:
        for name, value in saved.items():
            setattr(torch.cuda, name, value)


def device_context(device: str) -> contextlib.AbstractContextManager[None]:
    return emulate_cuda() if device == "cpu" else contextlib.nullcontext()


def describe(device: str) -> dict[str, str]:
    """What measured: for reports and provenance."""
    import torch
    import triton

    info = {"device": device, "torch": torch.__version__, "triton": triton.__version__}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
        info["cuda"] = str(torch.version.cuda)
        info["driver"] = driver_version() or "unknown"
    else:
        info["gpu"] = "none: Triton interpreter on CPU"
    return info


def driver_version() -> str | None:
    """The NVIDIA kernel driver's version, as ``nvidia-smi`` prints it (from ``/proc``: no NVML)."""
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
    except OSError:
        return None
    match = re.search(r"Kernel Module(?: for \S+)?\s+([0-9][0-9.]+)", text)
    return match.group(1) if match else None


# Peak memory bandwidth (bytes/s) by GPU name, from the vendors' data sheets.
PEAK_BANDWIDTH = (
    ("H100 PCIe", 2.0e12), ("H100 NVL", 3.9e12), ("H100", 3.35e12), ("H200", 4.8e12), ("H20", 4.0e12),
    ("A100-SXM4-80GB", 2.039e12), ("A100 80GB PCIe", 1.935e12), ("A100", 1.555e12), ("L40S", 0.864e12),
)  # fmt: skip


def peak_bandwidth() -> float | None:
    """This GPU's peak memory bandwidth, or None for a GPU not in the table (then only the 10x
    speedup rule applies)."""
    import torch

    name = torch.cuda.get_device_name()
    return next((peak for key, peak in PEAK_BANDWIDTH if key in name), None)


def synchronize(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()
