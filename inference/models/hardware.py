"""What memory this machine has for a model: RAM, and GPU memory where llama.cpp can use it.

Read fresh on each call (free memory changes as the user opens apps); cheap apart from the
first NVML initialisation, so callers on the GUI thread should still prefer a worker.
"""

from __future__ import annotations

import platform
import subprocess
from dataclasses import dataclass, field

import psutil


@dataclass(frozen=True)
class GPU:
    name: str
    total: int  # bytes
    free: int  # bytes


@dataclass(frozen=True)
class Machine:
    ram_total: int
    ram_available: int  # what can be had without swapping (psutil's "available")
    # "cuda", "metal", "gpu" (offload works, memory unknown: AMD, Intel, Vulkan) or "cpu"
    backend: str
    gpus: tuple[GPU, ...] = field(default_factory=tuple)
    # Apple Silicon: the GPU shares RAM, up to a working-set limit macOS sets.
    unified: bool = False
    gpu_budget: int = 0  # bytes the GPU may hold: free VRAM, or Metal's working-set limit

    @property
    def description(self) -> str:
        ram = f"{self.ram_total / 1e9:.0f} GB RAM"
        if self.unified:
            return f"{ram}, unified (GPU up to {self.gpu_budget / 1e9:.0f} GB)"
        if self.gpus:
            names = ", ".join(f"{g.name} {g.total / 1e9:.0f} GB" for g in self.gpus)
            return f"{ram}; {names}"
        return f"{ram}, CPU only"


def probe(offload_supported: bool | None = None) -> Machine:
    """The machine now. `offload_supported`: whether this llama.cpp build can use a GPU
    (`llama_supports_gpu_offload()`); None asks llama.cpp."""
    vm = psutil.virtual_memory()
    if offload_supported is None:
        offload_supported = _llama_offload_supported()
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        budget = _metal_working_set(vm.total) if offload_supported else 0
        return Machine(vm.total, vm.available, "metal" if budget else "cpu",
                       unified=bool(budget), gpu_budget=budget)
    gpus = _nvidia_gpus() if offload_supported else ()
    if gpus:
        return Machine(vm.total, vm.available, "cuda", gpus, gpu_budget=sum(g.free for g in gpus))
    return Machine(vm.total, vm.available, "gpu" if offload_supported else "cpu")


def _llama_offload_supported() -> bool:
    try:
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:  # noqa: BLE001 - no usable llama.cpp means no offload, not a crash
        return False


def _metal_working_set(total: int) -> int:
    """Metal's recommendedMaxWorkingSetSize, which llama.cpp treats as the GPU's memory.

    macOS grants about two thirds of RAM up to 36 GB machines and three quarters above;
    a user may raise it with `sysctl iogpu.wired_limit_mb`, which then wins.
    """
    try:
        out = subprocess.run(["sysctl", "-n", "iogpu.wired_limit_mb"], capture_output=True,
                             text=True, timeout=2).stdout.strip()
        if out and int(out) > 0:
            return int(out) * 1024 * 1024
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    return int(total * (0.75 if total > 36 * 2**30 else 2 / 3))


def _nvidia_gpus() -> tuple[GPU, ...]:
    """NVIDIA GPUs through NVML (nvidia-ml-py); none when the driver library is absent."""
    try:
        import pynvml
    except ImportError:
        return ()
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return ()
    try:
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
            name = pynvml.nvmlDeviceGetName(handle)
            gpus.append(GPU(name.decode() if isinstance(name, bytes) else name,
                            int(mem.total), int(mem.free)))
        return tuple(gpus)
    except pynvml.NVMLError:
        return ()
    finally:
        pynvml.nvmlShutdown()
