"""Will a model fit? Memory for weights + KV cache + compute at a context size, placed on the
GPU layer by layer the way llama.cpp places it, against what the machine has.

An estimate from the GGUF's shapes, made before anything is loaded: llama.cpp itself only
finds out by allocating, and on a unified-memory Mac an oversized load pushes the whole
machine into swap. The figures aim to be within a few percent of what llama.cpp reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..gguf_file import GGUFInfo
from .hardware import Machine

GiB = 2**30
F16 = 2  # bytes per K/V element: llama.cpp's default cache type


class Verdict(str, Enum):
    FITS = "fits"
    TIGHT = "tight"
    WONT_FIT = "won't fit"


# Architectures without a KV cache (their recurrent state is small next to the weights).
_RECURRENT = {"mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"}

# Layers that use a sliding window, as a fraction of all layers (llama.cpp's swa patterns).
_SWA_SHARE = {"gpt-oss": 1 / 2, "gemma2": 1 / 2, "gemma3": 5 / 6, "gemma3n": 4 / 5, "cohere2": 3 / 4}


@dataclass(frozen=True)
class ModelShape:
    """The numbers memory depends on. From a GGUF header, or from published figures for a
    model not downloaded yet (see catalog.py)."""

    n_layers: int
    n_embd: int
    n_head_kv: int | tuple[int, ...]  # per layer for hybrids; 0 for a recurrent layer (no KV)
    key_length: int
    value_length: int
    n_vocab: int
    layer_bytes: tuple[int, ...]  # weights of each repeating block
    other_bytes: int  # embeddings, output head, final norm
    sliding_window: int = 0
    swa_layers: int = 0  # how many layers use the sliding window

    @property
    def weight_bytes(self) -> int:
        return self.other_bytes + sum(self.layer_bytes)

    def kv_heads(self, layer: int) -> int:
        heads = self.n_head_kv
        return heads if isinstance(heads, int) else (heads[layer] if layer < len(heads) else 0)

    @classmethod
    def from_gguf(cls, info: GGUFInfo) -> ModelShape:
        arch, meta = info.architecture, info.metadata

        def number(key: str, default: int = 0) -> int:
            value = meta.get(f"{arch}.{key}", default)
            if isinstance(value, list):
                value = max(value) if value else default
            return int(value or default)

        n_layers = number("block_count") or len(info.layer_bytes)
        n_embd = number("embedding_length")
        n_head = number("attention.head_count")
        head_dim = n_embd // n_head if n_head else 0
        kv = meta.get(f"{arch}.attention.head_count_kv", n_head)
        if isinstance(kv, list):  # per layer (hybrids): 0 marks a recurrent layer
            n_head_kv: int | tuple[int, ...] = tuple(int(h) for h in kv)
        else:
            n_head_kv = int(kv or 0)
        if arch in _RECURRENT or not n_head:  # state-space / RWKV: a small fixed state, no KV
            n_head_kv = 0
        vocab = meta.get("tokenizer.ggml.tokens")
        n_vocab = number("vocab_size") or (len(vocab) if isinstance(vocab, list) else int(vocab or 0))
        window = number("attention.sliding_window")
        return cls(
            n_layers=n_layers,
            n_embd=n_embd,
            n_head_kv=n_head_kv,
            key_length=number("attention.key_length", head_dim),
            value_length=number("attention.value_length", head_dim),
            n_vocab=n_vocab,
            layer_bytes=tuple(info.layer_bytes.get(i, 0) for i in range(n_layers)),
            other_bytes=info.other_bytes,
            sliding_window=window,
            swa_layers=round(n_layers * _SWA_SHARE.get(arch, 0)) if window else 0,
        )


@dataclass(frozen=True)
class Fit:
    weights: int
    kv_cache: int
    compute: int
    gpu_layers: int  # repeating layers on the GPU (the last ones, as llama.cpp offloads)
    all_on_gpu: bool  # every layer and the output head
    gpu_bytes: int
    ram_bytes: int  # what must sit in system RAM (all of it on a unified-memory Mac)
    verdict: Verdict
    reason: str

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.compute

    @property
    def n_gpu_layers(self) -> int:
        """The value for llama.cpp's n_gpu_layers."""
        return -1 if self.all_on_gpu else self.gpu_layers


def kv_bytes_per_layer(shape: ModelShape, layer: int, n_ctx: int, *, swa: bool, swa_full: bool,
                       n_ubatch: int) -> int:
    cells = n_ctx
    if swa and not swa_full:  # llama.cpp keeps window + one batch of cells for those layers
        cells = min(n_ctx, shape.sliding_window + n_ubatch)
    return cells * shape.kv_heads(layer) * (shape.key_length + shape.value_length) * F16


def compute_bytes(shape: ModelShape, n_ubatch: int) -> int:
    """llama.cpp's worst-case graph buffer: one batch of logits over the vocabulary plus the
    activations of a layer (flash attention keeps the n_ctx-wide score matrix out of it)."""
    return n_ubatch * 4 * (shape.n_vocab + 16 * shape.n_embd) + 32 * 2**20


def estimate(shape: ModelShape, n_ctx: int, machine: Machine, *, n_ubatch: int = 512,
             swa_full: bool = True, gpu_layers: int | None = None) -> Fit:
    """Memory needed at `n_ctx` and where it goes. `gpu_layers` None: as many as fit."""
    n_ubatch = min(n_ubatch, n_ctx)
    kv = [kv_bytes_per_layer(shape, i, n_ctx, swa=i < shape.swa_layers, swa_full=swa_full,
                             n_ubatch=n_ubatch) for i in range(shape.n_layers)]
    compute = compute_bytes(shape, n_ubatch)
    weights = shape.weight_bytes
    # The output head goes to the GPU with the last layer; the token embeddings never do.
    head = shape.other_bytes // 2
    per_layer = [w + k for w, k in zip(shape.layer_bytes, kv)]

    if machine.backend == "gpu":
        # Offload works but the GPU's memory is unknown (no NVML: AMD, Intel, Vulkan builds):
        # put every layer there, as llama.cpp does by default, and judge RAM only.
        layers = shape.n_layers if gpu_layers is None else max(0, min(gpu_layers, shape.n_layers))
        all_on_gpu = layers == shape.n_layers
        total = weights + sum(kv) + compute
        gpu = sum(per_layer[shape.n_layers - layers:]) + (compute + head if layers else 0)
        verdict, reason = _judge(total, total - gpu, layers, shape.n_layers, machine)
        return Fit(weights, sum(kv), compute, layers, all_on_gpu, gpu, total - gpu, verdict, reason)
    if machine.backend == "cpu" or machine.gpu_budget <= 0:
        layers = 0
    elif gpu_layers is not None:
        layers = max(0, min(gpu_layers, shape.n_layers))
    else:
        budget = machine.gpu_budget * 0.95 - compute - head  # a margin for the driver's own use
        layers, used = 0, 0
        for size in reversed(per_layer):  # llama.cpp offloads from the last layer down
            if used + size > budget:
                break
            used, layers = used + size, layers + 1
    all_on_gpu = layers == shape.n_layers and machine.backend != "cpu" and machine.gpu_budget > 0
    gpu = sum(per_layer[shape.n_layers - layers:]) + (compute + head if layers else 0)
    total = weights + sum(kv) + compute
    ram = total if machine.unified else total - gpu

    verdict, reason = _judge(total, ram, layers, shape.n_layers, machine)
    return Fit(weights, sum(kv), compute, layers, all_on_gpu, gpu, ram, verdict, reason)


def _judge(total: int, ram: int, layers: int, n_layers: int, machine: Machine) -> tuple[Verdict, str]:
    need = f"needs about {total / 1e9:.1f} GB"
    available = machine.ram_available
    if ram > available:
        where = "memory" if machine.unified else "RAM"
        return Verdict.WONT_FIT, (
            f"This model {need}; {ram / 1e9:.1f} GB of it must sit in {where}, and only "
            f"{available / 1e9:.1f} GB of {machine.ram_total / 1e9:.0f} GB is free. Loading it "
            "would push the machine into swap. Choose a smaller context or model, or close "
            "other apps.")
    placement = ""
    if machine.backend == "gpu":
        placement = " on the GPU (its free memory is unknown to Hearth)"
    elif machine.backend != "cpu" and machine.gpu_budget > 0:
        placement = (" all on the GPU" if layers == n_layers else
                     f" {layers} of {n_layers} layers on the GPU (the rest runs slower on the CPU)")
    verdict = Verdict.TIGHT if ram > 0.85 * available else Verdict.FITS
    tail = " Little memory will be left for other apps." if verdict is Verdict.TIGHT else ""
    return verdict, f"This model {need},{placement or ' in RAM'}.{tail}"
