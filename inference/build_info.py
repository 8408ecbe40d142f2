"""Which llama.cpp this process runs and what it can run on, for Help → About and bug reports.

Read from the library itself rather than from how it was installed: a wheel built for the CPU
says CPU even on a machine with a GPU, which is exactly what a person asking "why is it slow?"
needs to see.
"""

from __future__ import annotations

from dataclasses import dataclass

import llama_cpp

# Backends as llama.cpp names them in its system info, and how people call them.
_GPU_NAMES = {"CUDA": "CUDA", "METAL": "Metal", "VULKAN": "Vulkan", "HIP": "ROCm",
              "SYCL": "SYCL", "OPENCL": "OpenCL", "CANN": "CANN", "MUSA": "MUSA"}


@dataclass(frozen=True)
class LlamaBuild:
    binding: str  # llama-cpp-python's version
    library: str  # libllama's own version string
    backends: tuple[str, ...]  # "Metal", "CUDA", …, then "CPU"
    cpu_features: tuple[str, ...]  # AVX2, NEON, … as the CPU backend reports them
    gpu_offload: bool
    system_info: str  # llama.cpp's line, verbatim

    @property
    def backend(self) -> str:
        """"CUDA (and CPU)", "CPU only": what the weights run on."""
        gpus = [b for b in self.backends if b != "CPU"]
        if gpus and self.gpu_offload:
            return f"{', '.join(gpus)} (and CPU)"
        return "CPU only"


def llama_build() -> LlamaBuild:
    info = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace").strip()
    backends, features = [], []
    for part in (p.strip() for p in info.split("|")):
        if " : " in part:  # "CPU : SSE3 = 1" starts a backend's section
            name, part = (s.strip() for s in part.split(" : ", 1))
            backends.append(_GPU_NAMES.get(name.upper(), name))
        if part.endswith("= 1") and backends and backends[-1] == "CPU":
            features.append(part[:-3].strip())
    try:
        library = llama_cpp.llama_version().decode()
    except (AttributeError, OSError):  # an older library without llama_version()
        library = "unknown"
    gpus = [b for b in backends if b != "CPU"]
    ordered = tuple(gpus + [b for b in backends if b == "CPU"])
    return LlamaBuild(llama_cpp.__version__, library, ordered, tuple(features),
                      bool(llama_cpp.llama_supports_gpu_offload()), info)
